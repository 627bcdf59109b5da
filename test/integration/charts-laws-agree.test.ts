/**
 * The figures and the Laws page give one limit activation ratio per series. The charts fit a series without a stored
 * fit with main/laws' seriesFitter; the Laws page (renderer/src/views/LawsView.vue) fits the same points
 * (charts.seriesPoints) with its defaults: form by activation, warm-up detected. On the demo lab the charts fitted
 * every point while the page left out relu-64x2's warm-up, so Fig. 4's legend and Fig. 7 said A₀ = 22.12% where the
 * Laws page said 22.27%.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../main/engine/engine';
import { prepareDemoSession } from '../../main/engine/demo';
import type { ResponseOf } from '../../main/api/contract';
import { lawPointsOf } from '../../renderer/src/lawtable';

let dir: string;
let file: string;
let engine: Engine;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-charts-laws-'));
  file = prepareDemoSession(dir).path!;
  engine = new Engine({ paths: { userData: dir, cache: dir }, log: { info() {}, warn() {}, error() {} } });
});
afterAll(async () => {
  await engine?.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("Fig. 4's fitted curves and Fig. 7's limits are the Laws page's default fits, warm-up left out alike", async () => {
  const sp = (await engine.call('charts.seriesPoints', { sessionPath: file })) as ResponseOf<'charts.seriesPoints'>;
  const { fits } = (await engine.call('laws.fit', { points: lawPointsOf(sp.lines), autoWarmup: true, bootstrap: 0, seed: 1 })) as ResponseOf<'laws.fit'>;
  expect(fits.length).toBe(6);
  // the case that differed: the page leaves out relu-64x2's first points as warm-up
  expect(fits.find((f) => f.series === 'relu-64x2')!.droppedTokens.length).toBeGreaterThan(0);
  const fig4 = (await engine.call('charts.config', { sessionPath: file, kind: 'activation-vs-tokens' })) as ResponseOf<'charts.config'>;
  const fig7 = (await engine.call('charts.config', { sessionPath: file, kind: 'limit-vs-params' })) as ResponseOf<'charts.config'>;
  const limits = fig7.plot.series.filter((s) => s.role === 'measured').flatMap((s) => s.points);
  for (const f of fits) {
    const curve = fig4.plot.series.find((s) => s.id === `${f.series}:fit`);
    expect(curve?.label, f.series).toBe(`${f.series} fit (A₀ = ${(100 * f.A0).toFixed(2)}%)`);
    const dropped = fig4.plot.series.find((s) => s.id === `${f.series}:dropped`)?.points.length ?? 0;
    expect(dropped, f.series).toBe(f.droppedTokens.length);
    const lim = limits.find((p) => p.run === `series ${f.series}`);
    expect(lim!.y, f.series).toBeCloseTo(100 * f.A0, 9);
  }
});
