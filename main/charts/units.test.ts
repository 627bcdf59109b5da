// Axes of counts (tokens, parameters) pick K/M/B from the data (issue 18: a tiny model's axis read "0.01 B tokens").
// Checked on the demo lab's real chart data (its checkpoints saw millions of tokens) and on a billions-scale series,
// through the same runtime (common/chart-runtime.ts) the UI and the Node export use.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import '../store/chart-source';
import { openChartSource } from './open';
import { plotData } from './data';
import { buildChartConfig } from './spec';
import { axisLabelWithUnit, axisUnit, hydrate } from '../../common/chart-runtime';
import type { PlotData } from '../api/domains/charts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-units-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The x axis of a hydrated config: its title and the text of a tick at plotted value v. */
function xAxis(plot: PlotData) {
  const c = hydrate(buildChartConfig(plot).config);
  const x = c.options.scales.x;
  return { title: x.title.text as string, tick: (v: number, i?: number, ticks?: unknown[]) => (x.ticks.callback ? x.ticks.callback(v, i, ticks) : String(v)) as string };
}

describe('axisUnit', () => {
  it('picks the largest unit that keeps the largest value at 1 or more', () => {
    expect(axisUnit(0.01, 1e9)).toEqual({ suffix: 'M', factor: 1000 });
    expect(axisUnit(2.5, 1e9)).toEqual({ suffix: 'B', factor: 1 });
    expect(axisUnit(0.999, 1e9)).toEqual({ suffix: 'M', factor: 1000 });
    expect(axisUnit(1500, 1e9)).toEqual({ suffix: 'T', factor: 1e-3 });
    expect(axisUnit(2e-6, 1e9)).toEqual({ suffix: 'K', factor: 1e6 });
    expect(axisUnit(5e-7, 1e9)).toEqual({ suffix: '', factor: 1e9 });
    expect(axisUnit(0, 1e9)).toEqual({ suffix: 'B', factor: 1 });
    expect(axisLabelWithUnit('Tokens trained (B)', 'M')).toBe('Tokens trained (M)');
    expect(axisLabelWithUnit('Tokens trained (B)', '')).toBe('Tokens trained');
  });
});

describe('count axes in the chart runtime', () => {
  it("the demo lab's activation-vs-tokens axis is in millions of tokens", () => {
    const file = path.join(tmp, 'demo.sparsitylab');
    fs.copyFileSync(path.resolve(__dirname, '../../resources/demo-lab/demo.sparsitylab'), file);
    const plot = plotData('activation-vs-tokens', openChartSource(file));
    const xs = plot.series.flatMap((s) => s.points.map((p) => p.x));
    const max = Math.max(...xs);
    // independent of the runtime: the demo's checkpoints saw between 1 M and 1000 M tokens
    expect(max * 1e9).toBeGreaterThanOrEqual(1e6);
    expect(max * 1e9).toBeLessThan(1e9);
    const ax = xAxis(plot);
    expect(ax.title).toBe('Tokens trained (M)');
    expect(ax.tick(0.002)).toBe('2');
    expect(ax.tick(0.0125)).toBe('12.5');
    // the data (and so its CSV, which `fit` reads) stays in billions
    expect(plot.xLabel).toBe('Tokens trained (B)');
  });

  it('a billions-scale series keeps B; parameters in millions read M', () => {
    const series = (xs: number[]): PlotData['series'] => [{ id: 's', label: 's', role: 'measured', group: 0, points: xs.map((x, i) => ({ x, y: 50 - i })) }];
    const tokens: PlotData = { kind: 'activation-vs-tokens', title: 't', xLabel: 'Tokens trained (B)', yLabel: 'Activation ratio (%)', xScale: 'linear', yScale: 'linear', xMagnitude: 1e9, series: series([0.5, 5, 20, 150]), notes: [] };
    const t = xAxis(tokens);
    expect(t.title).toBe('Tokens trained (B)');
    expect(t.tick(50)).toBe('50');
    expect(xAxis({ ...tokens, series: series([1200, 4000]) }).title).toBe('Tokens trained (T)');
    const params: PlotData = { ...tokens, kind: 'limit-vs-params', xLabel: 'Non-embedding parameters (B)', series: series([0.001, 0.004]) }; // 1 M and 4 M
    const p = xAxis(params);
    expect(p.title).toBe('Non-embedding parameters (M)');
    expect(p.tick(0.0025)).toBe('2.5');
    // log axes: a few ticks are all labelled; of many, the 1-2-5 ones and both ends
    const log = xAxis({ ...tokens, xScale: 'log', series: series([0.001, 0.02]) });
    const many = new Array(20).fill(0);
    expect(log.tick(0.003, 3, [0, 0, 0, 0, 0])).toBe('3');
    expect(log.tick(0.002, 5, many)).toBe('2');
    expect(log.tick(0.003, 6, many)).toBe('');
    expect(log.tick(0.003, 0, many)).toBe('3');
    // charts without counts on x are untouched
    const ppl = xAxis({ ...tokens, kind: 'pareto', xLabel: 'Activation ratio (%)', xMagnitude: undefined });
    expect(ppl.title).toBe('Activation ratio (%)');
  });
});
