/**
 * Issue 17: charts of run-level data plot the run they are asked for and say so. Two runs on one checkpoint (a
 * CETT-PPL-1% run and a ReLU baseline, with different numbers everywhere): for each, the chart data and every export
 * (CSV, JSON, pgfplots, SVG, PDF, PNG) carry that run's numbers and id, never the other's; titles and legends name
 * method, p and checkpoint; the CLI's `--run` does the same; an unknown or unsuitable run is an error, not another run.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../main/engine/engine';
import type { ChartConfigResult, ChartKind } from '../../main/api/domains/charts';
import type { ChartSnapshot } from '../../main/charts/source';
import { exportCommand } from '../../main/cli/export';

const L = 4;
const F = 8;
const CETT = {
  id: 'run-cett-1',
  checkpointId: 'ck',
  method: 'cett-ppl',
  status: 'done',
  p: 1,
  cett: 0.21,
  activationRatio: 0.1888,
  ppl: 10.1,
  densePpl: 10,
  pplRatio: 1.01,
  perLayer: [0.11, 0.17, 0.1888, 0.15],
  neuronFrequency: [0.01, 0.02, 0.5, 0.07, 0.09, 0.11, 0.13, 0.3, 0.05, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.32, 0.34, 0.36, 0.38, 0.4, 0.42, 0.44],
  layerToken: { layers: L, tokens: 3, values: [0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.22, 0.24, 0.26, 0.28, 0.3, 0.32] },
};
const RELU = {
  id: 'run-relu-2',
  checkpointId: 'ck',
  method: 'relu',
  status: 'done',
  activationRatio: 0.445,
  ppl: 10,
  densePpl: 10,
  pplRatio: 1,
  perLayer: [0.445, 0.4, 0.35, 0.3],
  neuronFrequency: Array.from({ length: L * F }, (_, i) => 0.2 + i / 100),
  layerToken: { layers: L, tokens: 3, values: [0.61, 0.62, 0.63, 0.64, 0.65, 0.66, 0.67, 0.68, 0.69, 0.7, 0.71, 0.72] },
};
// a second CETT-PPL run so Pareto has a sweep on the checkpoint
const CETT5 = { ...CETT, id: 'run-cett-5', p: 5, cett: 0.3, activationRatio: 0.12, ppl: 10.5, pplRatio: 1.05, perLayer: [0.1, 0.1, 0.12, 0.13] };
const snapshot: ChartSnapshot = {
  name: 'two-runs',
  checkpoints: [{ id: 'ck', name: 'relu-0.1b-tokens-20B', series: 'relu-0.1b', activation: 'relu', tokensTrained: 2e10 }],
  runs: [CETT, CETT5, RELU],
};

let dir: string;
let session: string;
let engine: Engine;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-chart-run-'));
  session = path.join(dir, 'two-runs.json');
  fs.writeFileSync(session, JSON.stringify(snapshot));
  engine = new Engine({ paths: { userData: dir, cache: dir }, log: { info() {}, warn() {}, error() {} } });
});
afterAll(async () => {
  await engine.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

const config = (kind: ChartKind, run?: string) => engine.call('charts.config', { sessionPath: session, kind, options: run ? { run } : {} }) as Promise<ChartConfigResult>;
const exportTo = async (kind: ChartKind, run: string, format: string) => {
  const out = path.join(dir, `${kind}-${run}.${format}`);
  await engine.call('charts.export', { sessionPath: session, kind, format, out, options: { run } });
  return out;
};

/** the numbers each run-level chart should show for a run, computed here from the snapshot */
function expected(kind: ChartKind, r: typeof CETT | typeof RELU): number[] {
  if (kind === 'per-layer-activation') return r.perLayer.map((v) => v * 100);
  if (kind === 'layer-token-heatmap') return r.layerToken.values.map((v) => v * 100);
  return [...r.neuronFrequency].sort((a, b) => b - a).map((v) => v * 100);
}

describe.each(['per-layer-activation', 'layer-token-heatmap', 'neuron-frequency'] as ChartKind[])('%s', (kind) => {
  test.each([
    [CETT, RELU, 'CETT-PPL-1%'],
    [RELU, CETT, 'ReLU'],
  ])('run %#: data and every export carry that run, not the other', async (run, other, method) => {
    const { plot } = await config(kind, run.id);
    const shown = plot.series.flatMap((s) => s.points.map((p) => p.v ?? p.y));
    // heatmap points are in layer-major order; the others in x order
    expect(shown).toEqual(expected(kind, run));
    expect(plot.title).toContain(`relu-0.1b-tokens-20B · ${method}`);
    expect(plot.title).toContain(run.id);
    if (kind !== 'layer-token-heatmap') expect(plot.series[0].label).toBe(`relu-0.1b-tokens-20B · ${method}`);
    expect(plot.provenance!.runs.map((r) => r.id)).toEqual([run.id]);
    expect(plot.provenance!.sessionFile).toBe(session);
    expect(plot.runChoices!.map((c) => c.id)).toEqual(expect.arrayContaining([CETT.id, RELU.id]));
    // the picker's first entry says what the figure shows with no run picked: the heatmap is one run, not one per series
    expect(plot.runDefault).toBe(kind === 'layer-token-heatmap' ? 'latest run' : 'latest run per series');
    expect(plot.subject).toBe(`relu-0.1b-tokens-20B · ${method} · run ${run.id}`);

    const csv = fs.readFileSync(await exportTo(kind, run.id, 'csv'), 'utf8');
    expect(csv).toContain(`# run ${run.id}: `);
    expect(csv).not.toContain(other.id);
    const rows = csv.split('\n').filter((l) => l && !l.startsWith('#')).slice(1);
    const col = kind === 'layer-token-heatmap' ? 6 : 5;
    expect(rows.map((l) => Number(l.split(',')[col]))).toEqual(expected(kind, run));

    const json = JSON.parse(fs.readFileSync(await exportTo(kind, run.id, 'json'), 'utf8'));
    expect(json.provenance.runs.map((r: { id: string }) => r.id)).toEqual([run.id]);
    expect(json.provenance.session).toBe('two-runs');
    expect(json.series.flatMap((s: { points: { y: number; v?: number }[] }) => s.points.map((p) => p.v ?? p.y))).toEqual(expected(kind, run));

    const tex = fs.readFileSync(await exportTo(kind, run.id, 'tex'), 'utf8');
    expect(tex).toContain(`% run ${run.id}: `);
    expect(tex).not.toContain(other.id);

    const svg = fs.readFileSync(await exportTo(kind, run.id, 'svg'), 'utf8');
    const meta = /<metadata id="sparsity-lab">([^<]*)<\/metadata>/.exec(svg);
    const unxml = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
    expect(JSON.parse(unxml(meta![1])).runs.map((r: { id: string }) => r.id)).toEqual([run.id]);
    expect(svg).not.toContain(other.id);

    const pdf = await exportTo(kind, run.id, 'pdf');
    const info = execFileSync('pdfinfo', [pdf], { encoding: 'utf8' });
    expect(info).toMatch(new RegExp(`Keywords:\\s+chart:${kind} run:${run.id}\\s`));
    expect(info).toMatch(/Subject:.*session: two-runs/);
    expect(info).not.toContain(other.id);
    // the drawn legend names the run (the heatmap's colour bar has none: its PDF info and title do)
    if (kind !== 'layer-token-heatmap') {
      const drawn = execFileSync('pdftotext', [pdf, '-'], { encoding: 'utf8' }).replace(/\s+/g, ' ');
      expect(drawn).toContain(method);
      expect(drawn).not.toContain(other === CETT ? 'CETT' : 'ReLU');
    }
  });
});

test('Pareto with a run: the sweeps on its checkpoint, titled with it', async () => {
  const { plot } = await config('pareto', RELU.id);
  expect(plot.title).toContain('relu-0.1b-tokens-20B');
  const ids = plot.provenance!.runs.map((r) => r.id).sort();
  expect(ids).toEqual([CETT.id, CETT5.id, RELU.id].sort());
  const cett = plot.series.find((s) => s.label.startsWith('CETT'))!;
  expect(cett.points.map((p) => [p.x, p.y])).toEqual([
    [CETT5.activationRatio * 100, CETT5.ppl],
    [CETT.activationRatio * 100, CETT.ppl],
  ]);
});

test("Pareto without a run: one model per figure (the paper's Fig. 2 panels), the checkpoint with the most methods; the others named and pickable", async () => {
  // a ReLU checkpoint with CETT and FAT-ε sweeps, a SiLU checkpoint with a CETT sweep (another model's perplexities)
  const sw = (id: string, ck: string, method: string, a: number, ppl: number) => ({ id, checkpointId: ck, method, status: 'done', activationRatio: a, ppl, densePpl: 10, pplRatio: ppl / 10, ...(method === 'cett' ? { cett: a } : { param: a }) });
  const file = path.join(dir, 'two-models.json');
  fs.writeFileSync(file, JSON.stringify({
    name: 'two-models',
    checkpoints: [{ id: 'r', name: 'relu-0.1b', activation: 'relu' }, { id: 's', name: 'silu-0.1b', activation: 'silu' }],
    runs: [sw('r1', 'r', 'cett', 0.1, 12), sw('r2', 'r', 'cett', 0.2, 10.5), sw('r3', 'r', 'fat', 0.15, 13), sw('r4', 'r', 'fat', 0.3, 10.2), sw('s1', 's', 'cett', 0.4, 30), sw('s2', 's', 'cett', 0.6, 25)],
  }));
  const cfg = async (options: Record<string, unknown> = {}) => ((await engine.call('charts.config', { sessionPath: file, kind: 'pareto', options })) as ChartConfigResult).plot;
  const plot = await cfg();
  expect(plot.series.map((s) => s.label).sort()).toEqual(['CETT', 'FAT-ε']); // the ReLU model's lines only
  expect(plot.title).toBe('Perplexity vs activation ratio — relu-0.1b');
  expect(plot.subject).toBe('relu-0.1b'); // the window's caption: the model, not the kind's title again
  expect((await cfg({ title: 'Fig. 2a' })).subject).toBe('relu-0.1b'); // a title of the user's own keeps the subject
  expect(plot.notes.join('\n')).toMatch(/one model per figure.*relu-0\.1b, the checkpoint with the most methods; also measured: silu-0\.1b/);
  // the other model is one pick away (its line is among the choices), and a picked series is shown as asked
  expect(plot.choices).toEqual(expect.arrayContaining(['silu-0.1b · CETT']));
  const silu = await cfg({ series: ['silu-0.1b · CETT'] });
  expect(silu.series.map((s) => s.points.map((p) => p.y))).toEqual([[30, 25]]);
  expect(silu.title).toBe('Perplexity vs activation ratio — silu-0.1b');
});

test('the CLI --run exports that run (it used to export the latest run)', async () => {
  for (const run of [CETT, RELU]) {
    const out = path.join(dir, `cli-${run.id}.csv`);
    const log = console.log;
    console.log = () => {};
    try {
      expect(await exportCommand.run([session, '--chart', 'per-layer-activation', '--run', run.id, '--out', out], engine)).toBe(0);
    } finally {
      console.log = log;
    }
    const rows = fs.readFileSync(out, 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).slice(1);
    expect(rows.map((l) => Number(l.split(',')[5]))).toEqual(run.perLayer.map((v) => v * 100));
  }
});

test('an unknown or unsuitable run is an error that says so, never another run', async () => {
  await expect(config('per-layer-activation', 'nope')).rejects.toThrow(/run nope is not in this session/);
  fs.writeFileSync(session + '.2.json', JSON.stringify({ ...snapshot, runs: [CETT, { ...RELU, perLayer: undefined }] }));
  await expect(engine.call('charts.config', { sessionPath: session + '.2.json', kind: 'per-layer-activation', options: { run: RELU.id } })).rejects.toThrow(/run run-relu-2 \(relu-0.1b-tokens-20B · ReLU\) has no per-layer activation ratios/);
  // without a run, a chart of several runs names each in its legend
  const { plot } = await config('per-layer-activation');
  for (const s of plot.series) expect(s.label).toMatch(/relu-0\.1b-tokens-20B · (CETT-PPL-\d%|ReLU)/);
});

test("runs are named as the runs table names them: CETT-PPL-1%, a fixed CETT by its value (it said 'CETT p=1%' and 'CETT CETT=0.07373')", async () => {
  // a series checkpoint measured with its series' CETT (method 'cett', no p), beside a CETT-PPL-1% run
  const fixed = { ...CETT, id: 'run-fixed-3', method: 'cett', p: undefined, cett: 0.0737304688 };
  const file = path.join(dir, 'fixed-cett.json');
  fs.writeFileSync(file, JSON.stringify({ ...snapshot, runs: [CETT, fixed] }));
  const { plot } = (await engine.call('charts.config', { sessionPath: file, kind: 'per-layer-activation', options: { run: fixed.id } })) as ChartConfigResult;
  expect(plot.series.map((s) => s.label)).toEqual(['relu-0.1b-tokens-20B · CETT 0.07373']);
  expect(plot.runChoices!.map((c) => c.label).sort()).toEqual([`relu-0.1b-tokens-20B · CETT 0.07373 · run ${fixed.id}`, `relu-0.1b-tokens-20B · CETT-PPL-1% · run ${CETT.id}`]);
});

test('a measured checkpoint whose tokens trained are unknown is named in the notes, not dropped silently', async () => {
  const ck = (i: number, tokens?: number) => ({ id: `c${i}`, name: tokens ? `relu-7b-step-${i}-tokens-${tokens / 1e9}B` : `relu-7b-step-${i}`, series: 'relu-7b', activation: 'relu', tokensTrained: tokens });
  const run = (i: number, a: number) => ({ id: `r${i}`, checkpointId: `c${i}`, method: 'cett-ppl', status: 'done', p: 1, activationRatio: a });
  const file = path.join(dir, 'unknown-tokens.json');
  fs.writeFileSync(file, JSON.stringify({ name: 'u', checkpoints: [ck(1, 1e9), ck(2, 2e9), ck(3, 4e9), ck(4)], runs: [run(1, 0.3), run(2, 0.28), run(3, 0.27), run(4, 0.26)] }));
  const { plot } = (await engine.call('charts.config', { sessionPath: file, kind: 'activation-vs-tokens' })) as ChartConfigResult;
  expect(plot.series.find((s) => s.id === 'relu-7b')!.points).toHaveLength(3);
  expect(plot.notes).toContain('tokens trained unknown, not plotted: relu-7b-step-4 (give them when loading the checkpoint)');
});
