// Every axis title of every figure the shipped demo lab draws fits beside its plot, in both paper presets: the
// single-column width-depth figure's 'Activation ratio of the final checkpoint (%)' was longer than the plot was high
// and ran past its top into the legend. Laid out by chart.js on @napi-rs/canvas as the export draws it (render.ts).
import { afterAll, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCanvas } from '@napi-rs/canvas';
import { Chart } from 'chart.js';
import { toFont } from 'chart.js/helpers';
import { Engine } from '../../main/engine/engine';
import { renderPng } from '../../main/charts/render';
import { hydrate } from '../../common/chart-runtime';
import type { ChartConfigResult, ChartKind } from '../../main/api/domains/charts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-axis-titles-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const session = path.join(dir, 'demo.sparsitylab');
fs.copyFileSync(path.resolve(__dirname, '../../resources/demo-lab/demo.sparsitylab'), session);
const engine = new Engine({ paths: { userData: path.join(dir, 'ud'), cache: path.join(dir, 'cache') }, log: { info() {}, warn() {}, error() {} } });

const KINDS: ChartKind[] = ['activation-vs-tokens', 'limit-vs-params', 'limit-vs-width-depth', 'convergence', 'per-layer-activation', 'layer-token-heatmap', 'neuron-frequency', 'pareto', 'cett-sweep'];

test.each(['single', 'double'] as const)('%s column: each axis title is no longer than its side of the plot', async (preset) => {
  const over: string[] = [];
  for (const kind of KINDS) {
    const r = (await engine.call('charts.config', { sessionPath: session, kind, options: { preset } })) as ChartConfigResult;
    await renderPng(r.config, r.widthPt, r.heightPt, 72); // registers chart.js' parts and the font, as an export does
    const canvas = createCanvas(Math.round(r.widthPt), Math.round(r.heightPt));
    const c = hydrate(r.config) as { options: Record<string, unknown> };
    c.options = { ...c.options, animation: false, responsive: false, events: [], devicePixelRatio: 1 };
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const chart = new Chart(canvas as any, c as any);
    try {
      const area = chart.chartArea;
      for (const scale of Object.values(chart.scales)) {
        const t = (scale.options as unknown as { title: unknown }).title as { display: boolean; text: string | string[]; font: Parameters<typeof toFont>[0] };
        if (!t.display) continue;
        const font = toFont(t.font);
        chart.ctx.font = font.string;
        const width = Math.max(...[t.text].flat().map((s) => chart.ctx.measureText(String(s)).width));
        const room = scale.isHorizontal() ? area.right - area.left : area.bottom - area.top;
        if (width > room) over.push(`${kind} ${scale.id}: '${t.text}' is ${width.toFixed(0)} pt beside a ${room.toFixed(0)} pt plot`);
      }
    } finally {
      chart.destroy();
    }
  }
  expect(over).toEqual([]);
});
