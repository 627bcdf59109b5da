/**
 * The Laws page's request path (renderer/src/views/LawsView.vue): charts.seriesPoints gives each training series the
 * points of ONE measurement, selected as the activation-vs-tokens chart selects its line (main/charts/data.ts), and
 * laws.fit fits exactly those. A session with two measure-series runs of one series (p = 5% and p = 20%) and a later
 * single CETT-PPL run on its last checkpoint, measured on tiny in-memory models by main/metrics and stored through the
 * jobs' session persistence; the engine reads the session file. The page used to send every series point of the
 * session, both series runs mixed into one fit.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../main/engine/engine';
import type { SeriesResult } from '../../main/metrics/types';
import type { ResponseOf } from '../../main/api/contract';
import { lawPointsOf } from '../../renderer/src/lawtable';
import { seriesRunsSession } from './series-runs-fixture';

let dir: string;
let file: string;
let engine: Engine;
let s5: SeriesResult;
let s20: SeriesResult;
let singleRatio: number;
const TOKENS = [1e9, 2e9, 4e9, 8e9, 16e9];
const SERIES = 'toyseries';

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-laws-points-'));
  const made = await seriesRunsSession(dir, SERIES, TOKENS, -1);
  ({ file, s5, s20 } = made);
  singleRatio = made.single.activationRatio;
  engine = new Engine({ paths: { userData: dir, cache: dir }, log: { info() {}, warn() {}, error() {} } });
});
afterAll(async () => {
  await engine?.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** what the Laws page does: the series' points from the engine, then the fit of exactly those (no warm-up dropped) */
async function lawsPage(run?: string) {
  const sp = (await engine.call('charts.seriesPoints', { sessionPath: file, ...(run ? { run } : {}) })) as ResponseOf<'charts.seriesPoints'>;
  const points = lawPointsOf(sp.lines);
  const { fits } = (await engine.call('laws.fit', { points, form: 'relu', bootstrap: 0, seed: 1 })) as ResponseOf<'laws.fit'>;
  return { sp, points, fits };
}

test('the fixture has what the test needs: the series runs and the single run differ on the last checkpoint', () => {
  const last = (s: SeriesResult) => s.checkpoints.at(-1)!.activationRatio;
  expect(new Set([last(s5), last(s20), singleRatio]).size).toBe(3);
  expect(s5.checkpoints.map((c) => c.activationRatio)).not.toEqual(s20.checkpoints.map((c) => c.activationRatio));
});

test("the fit's points are exactly the latest series run's stored results; the other series run and the single run are left out", async () => {
  const { sp, points, fits } = await lawsPage();
  expect(sp.lines.map((l) => l.series)).toEqual([SERIES]);
  expect(sp.lines[0].seriesRun).toBe('se20');
  expect(sp.lines[0].note).toMatch(/^toyseries: measure-series run se20; 6 other run\(s\)/);
  expect(points.map((q) => q.source)).toEqual(TOKENS.map((_, i) => `run se20#${i}`));
  expect(fits).toHaveLength(1);
  const f = fits[0];
  expect(f.points.map((q) => q.tokens)).toEqual(TOKENS);
  // bit for bit against the stored measurement (Object.is per value)
  f.points.forEach((q, i) => expect(Object.is(q.A, s20.checkpoints[i].activationRatio)).toBe(true));
  expect(f.stats.n).toBe(TOKENS.length);
  // the run picker offers both series runs and the single run
  expect(sp.runChoices.map((c) => c.id)).toEqual(expect.arrayContaining(['se5', 'se20', 'one']));
});

test('choosing the other series run (by its id or one of its points) fits its points', async () => {
  for (const run of ['se5', 'se5#1']) {
    const { sp, fits } = await lawsPage(run);
    expect(sp.lines[0].seriesRun).toBe('se5');
    expect(fits[0].points.map((q) => q.tokens)).toEqual(TOKENS);
    fits[0].points.forEach((q, i) => expect(Object.is(q.A, s5.checkpoints[i].activationRatio)).toBe(true));
  }
  await expect(engine.call('charts.seriesPoints', { sessionPath: file, run: 'nope' })).rejects.toThrow(/run nope is not in this session/);
  // the single run alone measured one checkpoint: a line of one point, never mixed with a series run's
  const one = (await engine.call('charts.seriesPoints', { sessionPath: file, run: 'one' })) as ResponseOf<'charts.seriesPoints'>;
  expect(one.lines[0].points.map((q) => [q.run, q.activationRatio])).toEqual([['one', singleRatio]]);
});
