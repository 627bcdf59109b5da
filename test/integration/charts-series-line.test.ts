/**
 * The activation-vs-tokens chart (paper Fig. 4, "Sparsing Law", arXiv 2411.02335): a training series' line is made of
 * ONE measurement's points, the measure-series run's (one CETT searched on the last k checkpoints, applied to every
 * checkpoint). A later single CETT-PPL-p% run on one of its checkpoints (its own CETT) never replaces that point.
 * Measured on tiny in-memory models by main/metrics, stored through the jobs' session persistence (the path the app
 * writes runs by), read back through the session file's chart source.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import '../../main/store/chart-source';
import type { MeasureResult, SeriesResult } from '../../main/metrics/types';
import { SessionStore } from '../../main/store';
import { openChartSource } from '../../main/charts/open';
import { plotData } from '../../main/charts/data';
import { seriesRunsSession } from './series-runs-fixture';

let dir: string;
let file: string;
let s5: SeriesResult;
let s20: SeriesResult;
let single: MeasureResult;
const TOKENS = [1e9, 2e9, 4e9, 8e9];
const SERIES = 'toyseries';

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-series-line-'));
  ({ file, s5, s20, single } = await seriesRunsSession(dir, SERIES, TOKENS));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const line = (opts = {}) => {
  const src = openChartSource(file);
  try {
    const d = plotData('activation-vs-tokens', src, opts);
    const measured = d.series.filter((x) => x.id === SERIES || x.id === `${SERIES}:dropped`).flatMap((x) => x.points);
    return { d, measured: measured.sort((a, b) => a.x - b.x) };
  } finally {
    src.close?.();
  }
};

test('the fixture is what the test needs: the single run has another CETT and another ratio than the series runs', () => {
  expect(single.cett).not.toBe(s20.cett);
  expect(single.cett).not.toBe(s5.cett);
  expect(single.activationRatio).not.toBe(s20.checkpoints.at(-1)!.activationRatio);
  expect(s5.cett).not.toBe(s20.cett);
});

test("a series line is the latest series run's own results, bit for bit; the later single run is not in it", () => {
  const { d, measured } = line();
  expect(measured.map((q) => q.x)).toEqual(TOKENS.map((t) => t / 1e9));
  expect(measured.map((q) => q.y)).toEqual(s20.checkpoints.map((c) => c.activationRatio * 100));
  expect(measured.every((q) => q.run?.endsWith(`run se20#${measured.indexOf(q)}`))).toBe(true);
  const ids = d.provenance!.runs.map((r) => r.id);
  expect(ids).toContain('se20');
  expect(ids.some((id) => id === 'one' || id.startsWith('se5'))).toBe(false);
  expect(d.provenance!.runs.find((r) => r.id === 'se20')!.label).toMatch(/^series toyseries · measure-series/);
  expect(d.notes.find((n) => n.startsWith(`${SERIES}: `))).toMatch(/measure-series run se20; 5 other run\(s\)/);
});

test('an explicit run picks its series run (by its id or one of its points), never mixed with the others', () => {
  for (const run of ['se5', 'se5#2']) {
    const { d, measured } = line({ run });
    expect(measured.map((q) => q.y)).toEqual(s5.checkpoints.map((c) => c.activationRatio * 100));
    expect(d.provenance!.runs.map((r) => r.id).filter((id) => !id.startsWith('se5'))).toEqual([]);
  }
  expect(line().d.runChoices?.map((c) => c.id)).toEqual(expect.arrayContaining(['se5', 'se20', 'one']));
  expect(() => line({ run: 'nope' })).toThrow(/run nope is not in this session/);
  // the single run alone measured one checkpoint: no line of ≥ 3 points, said rather than mixed with a series run
  expect(() => line({ run: 'one' })).toThrow(/≥ 3 measured checkpoints/);
});

test("the demo lab's relu-64x2 line ends at its series run's stored result, not a later single run's", () => {
  const copy = path.join(dir, 'demo.sparsitylab');
  fs.copyFileSync(path.resolve(__dirname, '../../resources/demo-lab/demo.sparsitylab'), copy);
  const s = SessionStore.open(copy, { readOnly: true });
  const parents = s.listRuns({ series: 'relu-64x2' }).filter((r) => r.kind === 'measure-series' && r.series === 'relu-64x2');
  const latest = parents.sort((a, b) => a.createdAt.localeCompare(b.createdAt)).at(-1)!;
  const kids = s.listRuns({ parentId: latest.id });
  const lastCk = s.listCheckpoints().filter((c) => c.series === 'relu-64x2').sort((a, b) => (a.tokensTrained ?? 0) - (b.tokensTrained ?? 0)).at(-1)!;
  const kid = kids.find((k) => k.checkpointId === lastCk.id)!;
  const stored = (s.getResult(kid.id) as { activationRatio: number }).activationRatio;
  const others = s.listRuns({ checkpointId: lastCk.id }).filter((r) => r.parentId === null && r.kind === 'measure' && r.activationRatio !== null);
  s.close();
  const src = openChartSource(copy);
  const d = plotData('activation-vs-tokens', src);
  src.close?.();
  const pts = d.series.filter((x) => x.id === 'relu-64x2' || x.id === 'relu-64x2:dropped').flatMap((x) => x.points).sort((a, b) => a.x - b.x);
  expect(pts.at(-1)!.y).toBe(stored * 100);
  expect(pts.at(-1)!.y!.toFixed(2)).toBe('22.41');
  // the demo holds a later single CETT-PPL run on that checkpoint with another ratio: the case this guards
  for (const r of others) expect(pts.some((q) => q.run?.includes(r.id))).toBe(false);
});
