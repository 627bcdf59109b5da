/**
 * The chart runtime: turns the `lab` hints of a JSON chart config (main/charts/spec.ts) into the functions chart.js
 * needs. One implementation for both sides: main/charts/render.ts (Node export) and renderer/src/charts (the UI)
 * import it from here, so the UI and an exported figure cannot drift apart.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = Record<string, any>;

interface Colorbar {
  min: number;
  max: number;
  label: string;
  width: number;
  gap: number;
  fontFamily: string;
  fontSize: number;
  stops: string[];
}

/** Draws the heatmap's colour bar right of the chart area: vector rectangles, tick text, a rotated label. */
export const labColorbarPlugin = {
  id: 'labColorbar',
  afterDraw(chart: any, _args: unknown, opts: Colorbar) {
    if (!opts || !Array.isArray(opts.stops) || !chart.chartArea) return;
    const { ctx, chartArea: a } = chart;
    const x = a.right + opts.gap;
    const h = a.bottom - a.top;
    const n = opts.stops.length;
    ctx.save();
    for (let i = 0; i < n; i++) {
      // stop 0 (min) at the bottom; slight overlap so no hairline gaps show between cells
      const y0 = a.bottom - ((i + 1) * h) / n;
      ctx.fillStyle = opts.stops[i];
      ctx.fillRect(x, y0, opts.width, h / n + 0.5);
    }
    ctx.strokeStyle = '#000000';
    ctx.lineWidth = 0.5;
    ctx.strokeRect(x, a.top, opts.width, h);
    ctx.fillStyle = '#000000';
    ctx.font = `${opts.fontSize}px ${opts.fontFamily}`;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    // one number format for all three ticks, with enough digits to tell them apart
    const span = Math.abs(opts.max - opts.min);
    const digits = span >= 20 ? 0 : span >= 2 ? 1 : span >= 0.2 ? 2 : 3;
    const fmt = (v: number) => v.toFixed(digits);
    const ticks = [[opts.max, a.top], [(opts.min + opts.max) / 2, (a.top + a.bottom) / 2], [opts.min, a.bottom]] as const;
    for (const [v, y] of ticks) ctx.fillText(fmt(v), x + opts.width + 2, y);
    // the rotated label clear of the widest tick ("11.5" touched it at a fixed offset), half its height plus a gap
    const widest = Math.max(...ticks.map(([v]) => ctx.measureText(fmt(v)).width as number));
    ctx.translate(x + opts.width + 2 + Math.max(opts.fontSize * 2.6, widest + opts.fontSize * 0.9), (a.top + a.bottom) / 2);
    ctx.rotate(Math.PI / 2);
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillText(opts.label, 0, 0);
    ctx.restore();
  },
};

const UNITS = [{ suffix: 'T', size: 1e12 }, { suffix: 'B', size: 1e9 }, { suffix: 'M', size: 1e6 }, { suffix: 'K', size: 1e3 }];

/**
 * The unit an axis of counts (tokens, parameters) is labelled in, from its range: the largest of K/M/B/T that keeps the
 * largest |value| at 1 or more (0.01 B tokens → 10 M). `magnitude`: raw units per plotted 1 (1e9 for data in billions).
 * `factor` turns a plotted value into the displayed one; suffix '' means plain counts.
 */
export function axisUnit(maxAbs: number, magnitude: number): { suffix: string; factor: number } {
  const raw = Math.abs(maxAbs) * magnitude;
  if (!Number.isFinite(raw) || raw === 0) return { suffix: UNITS.find((u) => u.size === magnitude)?.suffix ?? '', factor: 1 };
  const u = UNITS.find((x) => raw >= x.size);
  return u ? { suffix: u.suffix, factor: magnitude / u.size } : { suffix: '', factor: magnitude };
}

/** "Tokens trained (B)" → "Tokens trained (M)": the label's trailing unit replaced by the chosen one. */
export function axisLabelWithUnit(label: string, suffix: string): string {
  const bare = label.replace(/\s*\((?:[KMBT])\)\s*$/, '');
  return suffix ? `${bare} (${suffix})` : bare;
}

/** A tick value shown in the chosen unit: no float noise (0.002 B → "2"), thousands separated; log axes label the
 * 1-2-5 ticks and both ends when there are many, as chart.js's own log formatter does (all of them when few). */
function unitTick(factor: number, log: boolean) {
  return (value: number, index = -1, ticks: unknown[] = []) => {
    const v = value * factor;
    if (log && v > 0 && ticks.length > 16 && index !== 0 && index !== ticks.length - 1) {
      const m = +(v / 10 ** Math.floor(Math.log10(v) + 1e-9)).toPrecision(6);
      if (m !== 1 && m !== 2 && m !== 5) return '';
    }
    return (+v.toPrecision(10)).toLocaleString('en-US', { maximumFractionDigits: 6 });
  };
}

/** A copy of `config` with the hints turned into functions, and the runtime plugins attached. */
export function hydrate(config: Json): Json {
  const c: Json = structuredClone(config);
  const datasets: Json[] = c.data?.datasets ?? [];
  for (const ds of datasets) {
    const cells = ds.lab?.cells;
    if (cells) {
      // cells overlap by a hair so anti-aliasing leaves no light seams between them (PDF viewers show seams)
      ds.width = (ctx: any) => { const a = ctx.chart.chartArea; return a ? (a.right - a.left) / cells.cols + 0.3 : 1; };
      ds.height = (ctx: any) => { const a = ctx.chart.chartArea; return a ? (a.bottom - a.top) / cells.rows + 0.3 : 1; };
    }
  }
  c.options ??= {};
  for (const sc of Object.values((c.options.scales ?? {}) as Record<string, Json>)) {
    const factor = sc?.lab?.unitFactor;
    if (typeof factor === 'number' && factor !== 1) {
      sc.ticks ??= {};
      sc.ticks.callback = unitTick(factor, sc.type === 'logarithmic');
    }
  }
  c.options.plugins ??= {};
  const legend = (c.options.plugins.legend ??= {});
  legend.labels ??= {};
  legend.labels.filter = (item: any, data: any) => data.datasets[item.datasetIndex]?.lab?.legend !== false;
  c.plugins = [...(c.plugins ?? []), labColorbarPlugin];
  return c;
}
