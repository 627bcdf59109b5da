/**
 * Charts of REAL measurements: the measurement code (main/metrics: training series with one CETT from the
 * last checkpoints, CETT sweep, FAT-ε and Top-k sweeps) runs on tiny in-memory models
 * (metrics-toy-model.ts; the ONNX runners and the session store were not there yet), its results become a
 * chart session through main/charts/measurements.ts, and every chart kind that needs no fitted law is
 * exported and checked against the engine's own numbers. (The fitted-law kinds are covered with a
 * synthetic session in charts.test.ts: main/laws was not there yet.)
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { batchStream } from '../../main/metrics/data';
import { measureSeries } from '../../main/metrics/cett-ppl';
import { sweepBaseline, sweepCett } from '../../main/metrics/baselines';
import type { SeriesResult, SweepPoint } from '../../main/metrics/types';
import type { MeasureTarget } from '../../main/metrics/target';
import { runFromResult, runsFromSweep } from '../../main/charts/measurements';
import { fromSnapshot, type ChartSnapshot } from '../../main/charts/source';
import { plotData } from '../../main/charts/data';
import { exportChart } from '../../main/charts/export';
import type { ChartKind } from '../../main/api/domains/charts';
import { makeToyModel, type ToyConfig } from './metrics-toy-model';

const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts/charts');
let dir: string;
let snap: ChartSnapshot;
const series: Record<string, SeriesResult> = {};
const sweeps: Record<string, SweepPoint[]> = {};
const TOKENS = [1e9, 2e9, 4e9, 8e9];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-charts-engine-'));
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  snap = { name: 'toy engine session', checkpoints: [], runs: [], fits: [] };
  const fams: (ToyConfig & { name: string })[] = [
    { name: 'toy-relu', seed: 21, vocab: 24, d: 8, f: 24, layers: 3, gated: true, activation: 'relu' },
    { name: 'toy-silu', seed: 31, vocab: 24, d: 8, f: 24, layers: 3, gated: true, activation: 'silu' },
  ];
  for (const fam of fams) {
    // four "checkpoints" of one architecture stand for the stages of a training run
    const models = TOKENS.map((_, i) => makeToyModel({ ...fam, seed: fam.seed + i }));
    const data = batchStream(models.at(-1)!.sample(6, 16, fam.seed), { seqLen: 16, batch: 3 }, 'toy');
    const entries = models.map((m, i) => ({ id: `${fam.name}@${i}`, tokensSeen: TOKENS[i], open: async (): Promise<MeasureTarget> => ({ id: `${fam.name}@${i}`, runner: m, downWeights: m.down }) }));
    const res = await measureSeries(entries, data, { p: 5, tol: 1e-2, thresholdMode: 'authors', lastK: 2 });
    series[fam.name] = res;
    res.checkpoints.forEach((c, i) => {
      snap.checkpoints.push({ id: c.checkpoint, name: `${fam.name} ${TOKENS[i] / 1e9}B`, series: fam.name, activation: fam.activation, tokensTrained: TOKENS[i], hiddenSize: fam.d, numLayers: fam.layers });
      snap.runs.push(runFromResult(`${c.checkpoint}:series`, c.checkpoint, c));
    });
    const last = entries.at(-1)!;
    const target = await last.open();
    sweeps[`${fam.name}:cett`] = await sweepCett(target, data, [0.02, 0.05, 0.1, 0.2, 0.4]);
    sweeps[`${fam.name}:fat`] = await sweepBaseline(target, data, 'fat', [0.01, 0.05, 0.1, 0.2]);
    sweeps[`${fam.name}:topk`] = await sweepBaseline(target, data, 'topk-batch', [0.2, 0.4, 0.6, 0.8]);
    snap.runs.push(...runsFromSweep(`${fam.name}:cett`, last.id, 'cett', sweeps[`${fam.name}:cett`]));
    snap.runs.push(...runsFromSweep(`${fam.name}:fat`, last.id, 'fat', sweeps[`${fam.name}:fat`]));
    snap.runs.push(...runsFromSweep(`${fam.name}:topk`, last.id, 'topk-batch', sweeps[`${fam.name}:topk`]));
  }
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const KINDS: ChartKind[] = ['activation-vs-tokens', 'per-layer-activation', 'layer-token-heatmap', 'neuron-frequency', 'pareto', 'cett-sweep'];

test.each(KINDS)('%s of a measured session exports as SVG, PDF and CSV', async (kind) => {
  const src = fromSnapshot(snap);
  for (const format of ['svg', 'pdf', 'csv'] as const) {
    const r = await exportChart(src, { kind, format, out: path.join(dir, `${kind}.${format}`), preset: 'single' });
    expect(r.bytes).toBeGreaterThan(500);
  }
  fs.copyFileSync(path.join(dir, `${kind}.pdf`), path.join(ARTIFACTS, `engine-${kind}.pdf`));
  execFileSync('pdftoppm', ['-png', '-r', '150', '-singlefile', path.join(dir, `${kind}.pdf`), path.join(ARTIFACTS, `engine-${kind}`)]);
  const svg = fs.readFileSync(path.join(dir, `${kind}.svg`), 'utf8');
  expect(svg).toMatch(/<path /);
  expect(svg).toMatch(/<text /);
});

test('plotted numbers are the engine results', () => {
  const src = fromSnapshot(snap);
  // activation vs tokens: one point per checkpoint, the series' activation ratio at the series' CETT
  const avt = plotData('activation-vs-tokens', src);
  for (const [name, res] of Object.entries(series)) {
    const s = avt.series.find((x) => x.id === name)!;
    expect(s.points.map((p) => [p.x, p.y])).toEqual(res.checkpoints.map((c, i) => [TOKENS[i] / 1e9, c.activationRatio * 100]));
    expect(res.checkpoints.every((c) => c.cett === res.cett)).toBe(true);
  }
  // per layer: the most-trained checkpoint of each series
  const pl = plotData('per-layer-activation', src);
  for (const [name, res] of Object.entries(series)) {
    const last = res.checkpoints.at(-1)!;
    const s = pl.series.find((x) => x.label.startsWith(name))!;
    expect(s.points.map((p) => p.y)).toEqual(last.perLayerActivation.map((v) => v * 100));
  }
  // cett sweep: PPL and activation at each CETT, as the sweep returned them
  const cs = plotData('cett-sweep', src);
  const relu = sweeps['toy-relu:cett'];
  const ppl = cs.series.find((s) => s.id.startsWith('toy-relu') && s.axis === 'y')!;
  const act = cs.series.find((s) => s.id.startsWith('toy-relu') && s.axis === 'y2')!;
  expect(ppl.points.map((p) => [p.x, p.y])).toEqual(relu.map((p) => [p.param, p.pplSparse]));
  expect(act.points.map((p) => p.y)).toEqual(relu.map((p) => p.activationRatio * 100));
  // pareto: each method's sweep sorted by activation ratio
  const pa = plotData('pareto', src);
  const fat = pa.series.find((s) => s.id.includes('toy-relu') && s.id.includes('FAT'))!;
  const want = [...sweeps['toy-relu:fat']].sort((a, b) => a.activationRatio - b.activationRatio);
  expect(fat.points.map((p) => [p.x, p.y])).toEqual(want.map((p) => [p.activationRatio * 100, p.pplSparse]));
  // heatmap: the engine's [L][S] sample matrix, layer-major
  const hm = plotData('layer-token-heatmap', src);
  const runWithMatrix = snap.runs.filter((r) => r.layerToken).at(-1)!;
  expect(hm.series[0].points.map((p) => p.v)).toEqual(runWithMatrix.layerToken!.values.map((v) => v * 100));
});
