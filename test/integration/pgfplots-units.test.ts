// The pgfplots (.tex) export labels a count axis (tokens, parameters) in the same K/M/B unit as the SVG/PDF figures
// and writes its x values in that unit (issue 18: "0.01 B tokens" on a tiny model). Parsed with the LaTeX check the
// chart tests use (test/integration/pgfplots-check.ts); the expected numbers are the raw counts divided by the unit.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import '../../main/store/chart-source';
import { openChartSource } from '../../main/charts/open';
import { plotData } from '../../main/charts/data';
import { toPgfplots } from '../../main/charts/tabular';
import type { PlotData } from '../../main/api/domains/charts';
import { checkPgfplots } from './pgfplots-check';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-tex-units-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const xlabel = (tex: string) => /xlabel=\{([^}]*)\}/.exec(tex)?.[1];
/** every drawn series' table x column equals its points' raw counts / unit (relative 1e-12), y untouched */
function expectTablesIn(tex: string, plot: PlotData, unit: number): void {
  const tables = checkPgfplots(tex);
  const drawn = plot.series.filter((s) => s.role !== 'band-low' && s.role !== 'band-high' && s.points.length);
  expect(drawn.length).toBeGreaterThan(0);
  for (const s of drawn) {
    const want = s.points.map((p) => [(p.x * plot.xMagnitude!) / unit, p.y ?? NaN]);
    const hit = tables.find((t) => t.rows.length === want.length && t.rows.every((r, i) => Math.abs(r[0] - want[i][0]) <= 1e-12 * Math.abs(want[i][0]) && Object.is(r[1], want[i][1])));
    expect(hit, `table of ${s.id}`).toBeDefined();
  }
}
const series = (xs: number[]): PlotData['series'] => [{ id: 's', label: 's', role: 'measured', group: 0, points: xs.map((x, i) => ({ x, y: 50 - i })) }];
const tokens: PlotData = { kind: 'activation-vs-tokens', title: 't', xLabel: 'Tokens trained (B)', yLabel: 'Activation ratio (%)', xScale: 'linear', yScale: 'linear', xMagnitude: 1e9, series: series([0.5, 5, 20, 150]), notes: [] };

describe('pgfplots export: count axes in K/M/B', () => {
  it("the demo lab's tokens axis reads millions, its tables in millions", () => {
    const file = path.join(tmp, 'demo.sparsitylab');
    fs.copyFileSync(path.resolve(__dirname, '../../resources/demo-lab/demo.sparsitylab'), file);
    const plot = plotData('activation-vs-tokens', openChartSource(file));
    const max = Math.max(...plot.series.flatMap((s) => s.points.map((p) => p.x))) * 1e9;
    expect(max).toBeGreaterThanOrEqual(1e6); // independent of the code: millions of tokens
    expect(max).toBeLessThan(1e9);
    const tex = toPgfplots(plot);
    expect(xlabel(tex)).toBe('Tokens trained (M)');
    expect(tex).not.toMatch(/\(B\)\}/);
    expectTablesIn(tex, plot, 1e6);
    expect(tex).toMatch(/^% x values in the axis unit \(M\); the CSV\/JSON exports keep B$/m);
  });

  it('billions stay B (data as plotted), trillions read T, parameters in millions read M, log axes too', () => {
    const b = toPgfplots(tokens);
    expect(xlabel(b)).toBe('Tokens trained (B)');
    expectTablesIn(b, tokens, 1e9);
    expect(b).toContain('150 47\\\\'); // the plotted value itself
    expect(b).not.toMatch(/x values in the axis unit/);
    const t = { ...tokens, series: series([1200, 4000]) };
    expect(xlabel(toPgfplots(t))).toBe('Tokens trained (T)');
    expectTablesIn(toPgfplots(t), t, 1e12);
    const params: PlotData = { ...tokens, kind: 'limit-vs-params', xLabel: 'Non-embedding parameters (B)', series: series([0.001, 0.0025, 0.004]) };
    const p = toPgfplots(params);
    expect(xlabel(p)).toBe('Non-embedding parameters (M)');
    expect(p).toContain('2.5 49\\\\'); // 0.0025 B = 2.5 M, no float noise
    expectTablesIn(p, params, 1e6);
    const log = { ...tokens, xScale: 'log' as const, series: series([0.00002, 0.0003]) };
    const l = toPgfplots(log);
    expect(xlabel(l)).toBe('Tokens trained (K)');
    expect(l).toContain('xmode=log');
    expectTablesIn(l, log, 1e3);
    // a chart without counts on x is untouched
    const pareto: PlotData = { ...tokens, kind: 'pareto', xLabel: 'Activation ratio (%)', xMagnitude: undefined, series: series([0.001, 0.004]) };
    const q = toPgfplots(pareto);
    expect(xlabel(q)).toBe('Activation ratio (\\%)');
    expect(q).toContain('0.001 50\\\\');
  });
});
