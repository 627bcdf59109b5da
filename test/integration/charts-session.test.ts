/**
 * Charts of a real session FILE: measurements made by main/metrics on tiny in-memory models are saved
 * through the session store (main/store) into a `.sparsitylab` file; the charts read it back through the
 * contract (`charts.config` / `charts.export` / `charts.settings.*` with the file's path), as the CLI does.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SessionStore } from '../../main/store';
import { Engine } from '../../main/engine/engine';
import { batchStream } from '../../main/metrics/data';
import { measureSeries } from '../../main/metrics/cett-ppl';
import { sweepBaseline, sweepCett } from '../../main/metrics/baselines';
import type { MeasureTarget } from '../../main/metrics/target';
import type { SeriesResult, SweepPoint } from '../../main/metrics/types';
import type { ChartConfigResult, ChartExportResult, ChartKind } from '../../main/api/domains/charts';
import { makeToyModel } from './metrics-toy-model';

let dir: string;
let file: string;
let engine: Engine;
let series: SeriesResult;
let cettSweep: SweepPoint[];
let fatSweep: SweepPoint[];
const TOKENS = [1e9, 3e9, 9e9];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-charts-session-'));
  file = path.join(dir, 'lab.sparsitylab');
  const cfg = { seed: 41, vocab: 24, d: 8, f: 24, layers: 3, gated: true, activation: 'relu' as const };
  const models = TOKENS.map((_, i) => makeToyModel({ ...cfg, seed: cfg.seed + i }));
  const data = batchStream(models.at(-1)!.sample(6, 16, 7), { seqLen: 16, batch: 3 }, 'toy');
  const entries = models.map((m, i) => ({ id: `ck${i}`, tokensSeen: TOKENS[i], open: async (): Promise<MeasureTarget> => ({ id: `ck${i}`, runner: m, downWeights: m.down }) }));
  series = await measureSeries(entries, data, { p: 5, tol: 1e-2, thresholdMode: 'authors', lastK: 2 });
  const last = await entries.at(-1)!.open();
  cettSweep = await sweepCett(last, data, [0.02, 0.1, 0.3]);
  fatSweep = await sweepBaseline(last, data, 'fat', [0.01, 0.05, 0.2]);

  const s = SessionStore.create(file);
  const ids = TOKENS.map((t, i) => s.upsertCheckpoint({ path: `/toy/ck${i}`, activation: 'relu', hiddenSize: cfg.d, layers: cfg.layers, intermediateSize: cfg.f }, { series: 'toy-relu', tokensTrained: t, name: `toy ${t / 1e9}B` }));
  series.checkpoints.forEach((c, i) => {
    s.createRun({ id: `m${i}`, kind: 'series', method: 'cett-ppl', checkpointId: ids[i], p: 5, config: {} });
    s.saveResult(`m${i}`, c as unknown as Record<string, unknown>);
    s.updateRun(`m${i}`, { status: 'completed' });
  });
  for (const [id, method, pts] of [['sw-cett', 'cett-ppl', cettSweep], ['sw-fat', 'fat', fatSweep]] as const) {
    s.createRun({ id, kind: 'sweep', method, checkpointId: ids[2], config: {} });
    s.saveResult(id, { points: pts });
    s.updateRun(id, { status: 'completed' });
  }
  s.close();
  engine = new Engine({ paths: { userData: dir, cache: dir }, log: { info() {}, warn() {}, error() {} } });
});
afterAll(async () => {
  await engine?.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

const config = (kind: ChartKind) => engine.call('charts.config', { sessionPath: file, kind }) as Promise<ChartConfigResult>;

test('the session file charts what the engine measured', async () => {
  const avt = await config('activation-vs-tokens');
  expect(avt.plot.series[0].points.map((p) => [p.x, p.y])).toEqual(series.checkpoints.map((c, i) => [TOKENS[i] / 1e9, expect.closeTo(c.activationRatio * 100, 9)]));
  const pl = await config('per-layer-activation');
  // per-layer arrays go through float32 BLOBs in the file
  pl.plot.series[0].points.forEach((p, l) => expect(p.y!).toBeCloseTo(series.checkpoints[2].perLayerActivation[l] * 100, 4));
  const cs = await config('cett-sweep');
  expect(cs.plot.series.find((x) => x.axis === 'y')!.points.map((p) => [p.x, p.y])).toEqual(cettSweep.map((p) => [p.param, p.pplSparse]));
  const pa = await config('pareto');
  const fat = pa.plot.series.find((x) => x.id.includes('FAT'))!;
  expect(fat.points.map((p) => p.y).sort()).toEqual(fatSweep.map((p) => p.pplSparse).sort());
  const hm = await config('layer-token-heatmap');
  expect(hm.plot.heatmap!.rows).toBe(3);
  expect(hm.plot.heatmap!.cols).toBe(16);
});

test('export from the session file, and chart settings stored in it', async () => {
  for (const format of ['pdf', 'svg', 'png'] as const) {
    const r = (await engine.call('charts.export', { sessionPath: file, kind: 'activation-vs-tokens', format, out: path.join(dir, `avt.${format}`) })) as ChartExportResult;
    expect(r.bytes).toBeGreaterThan(1000);
  }
  await engine.call('charts.settings.save', { sessionPath: file, kind: 'pareto', options: { preset: 'double', xScale: 'log' } });
  const s = SessionStore.open(file);
  expect(s.getChart('pareto')).toEqual({ preset: 'double', xScale: 'log' });
  s.close();
  expect(await engine.call('charts.settings.get', { sessionPath: file, kind: 'pareto' })).toEqual({ options: { preset: 'double', xScale: 'log' } });
  // fitted-law charts say what they need: no stored fit, and 3 points are too few for the ReLU law's 4 parameters
  await expect(engine.call('charts.config', { sessionPath: file, kind: 'limit-vs-params' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
});

test('without a path, charts read the session open in the engine', async () => {
  await expect(engine.call('charts.config', { kind: 'pareto' })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/no session is open/) });
  await engine.call('sessions.open', { path: file });
  const viaOpen = (await engine.call('charts.config', { kind: 'cett-sweep' })) as ChartConfigResult;
  const viaPath = await config('cett-sweep');
  expect(viaOpen.plot).toEqual(viaPath.plot);
  const r = (await engine.call('charts.export', { kind: 'pareto', format: 'csv', out: path.join(dir, 'open.csv') })) as ChartExportResult;
  expect(fs.readFileSync(r.path!, 'utf8')).toContain('FAT');
});
