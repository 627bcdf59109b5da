// The heatmap's colour bar (common/chart-runtime.ts labColorbarPlugin, drawn alike in the UI and the exports): its
// rotated label stays clear of the widest tick number. At a fixed offset the middle tick "11.5" touched "Activation
// ratio (%)" (a QA pass, layer × token heatmap of a tiny model).
import { expect, test } from 'vitest';
import { createCanvas } from '@napi-rs/canvas';
import { labColorbarPlugin } from '../../common/chart-runtime';

function draw(min: number, max: number, fontSize: number) {
  const canvas = createCanvas(600, 400);
  const real = canvas.getContext('2d');
  const texts: { text: string; x: number; width: number }[] = [];
  let labelCenter = NaN;
  const ctx = new Proxy(real, {
    get(t, k) {
      if (k === 'fillText') return (text: string, x: number, y: number) => (texts.push({ text, x, width: t.measureText(text).width }), t.fillText(text, x, y));
      if (k === 'translate') return (x: number, y: number) => ((labelCenter = x), t.translate(x, y));
      const v = Reflect.get(t, k);
      return typeof v === 'function' ? v.bind(t) : v;
    },
    set: (t, k, v) => Reflect.set(t, k, v),
  });
  const opts = { min, max, label: 'Activation ratio (%)', width: 15, gap: 13, fontFamily: 'sans-serif', fontSize, stops: ['#440154', '#21918c', '#fde725'] };
  labColorbarPlugin.afterDraw({ ctx, chartArea: { left: 40, right: 460, top: 20, bottom: 360 } }, undefined, opts);
  const ticks = texts.filter((t) => t.text !== opts.label);
  return { ticks, labelCenter };
}

test.each([
  [4.7, 18.4, 17.6],
  [0.001, 0.123, 17.6],
  [0, 100, 12],
])('ticks %s…%s at %spx: the label starts right of every tick number', (min, max, fontSize) => {
  const { ticks, labelCenter } = draw(min, max, fontSize);
  expect(ticks.map((t) => t.text)).toHaveLength(3);
  const rightmost = Math.max(...ticks.map((t) => t.x + t.width));
  // the rotated label's horizontal extent is its line height around the centre: about one font size
  expect(labelCenter - fontSize / 2).toBeGreaterThan(rightmost + fontSize * 0.2);
});
