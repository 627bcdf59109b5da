import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { SessionStore } from '../store/index';
import { inspectCheckpoint } from '../checkpoint/index';
import { writeTinyCheckpoint, rng } from '../checkpoint/testing/tiny';
import { main } from '../cli/index';
import { Engine } from './engine';
import { dataLines, expectThresholdFiles } from '../../test/reference/threshold-files';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'thr-export-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const L = 2;
const F = 24;
const H = 16;
const TOKENS = 640;

async function cli(args: string[]): Promise<{ rc: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const lo = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const le = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  try {
    return { rc: await main(args), out: out.join('\n'), err: err.join('\n') };
  } finally {
    lo.mockRestore();
    le.mockRestore();
  }
}

describe('export-thresholds', () => {
  const lab = path.join(root, 'lab');
  fs.mkdirSync(lab);
  const model = writeTinyCheckpoint(path.join(lab, 'model'), 'llama', { hidden: H, layers: L, intermediate: F, dtype: 'F32', seed: 7 });
  const session = path.join(lab, 's.sparsitylab');
  // a stored CETT-PPL result with its own numbers (generated here): per-batch ε, their mean, neuron counts / tokens
  const r = rng(3);
  const perBatch = [0, 1, 2].map(() => Array.from({ length: L }, () => 0.01 + r() * 0.05));
  const mean = perBatch[0].map((_, l) => perBatch.reduce((a, b) => a + b[l], 0) / perBatch.length);
  const counts = Array.from({ length: L }, () => Array.from({ length: F }, () => Math.floor(r() * (TOKENS + 1))));
  const out = path.join(root, 'out');
  fs.mkdirSync(out);

  test('setup: a session with a measured run', async () => {
    const s = SessionStore.create(session);
    const ck = s.upsertCheckpoint(await inspectCheckpoint(model));
    s.createRun({ id: 'run-1', kind: 'measure', method: 'cett-ppl', checkpointId: ck, p: 1, config: {} });
    s.createRun({ id: 'relu-1', kind: 'measure', method: 'relu', checkpointId: ck, config: {} });
    const freq = counts.map((row) => row.map((c) => c / TOKENS));
    s.saveResult('run-1', { method: 'cett-ppl', p: 1, cett: 0.2, tokens: TOKENS, thresholds: mean, thresholdsPerBatch: perBatch, neuronFrequency: freq, activationRatio: 0.3 });
    s.saveResult('relu-1', { method: 'relu', tokens: TOKENS, thresholds: [], neuronFrequency: freq, activationRatio: 0.5 });
    s.updateRun('run-1', { status: 'completed' });
    s.close();
  });

  test('all three formats parse back to the stored ε, τ = ε / ‖W_out[:, i]‖ and counts / tokens', async () => {
    const res = await cli(['export-thresholds', session, '--run', 'run-1', '--out', out, '--json']);
    expect(res.err).toBe('');
    expect(res.rc).toBe(0);
    expect(JSON.parse(res.out).files.map((f: { path: string }) => path.basename(f.path))).toEqual(['run-1.thresholds.env', 'run-1.tau.csv', 'run-1.frequency.csv']);

    // stored as float32: the frequencies are counts / tokens within float32 rounding
    expectThresholdFiles(out, 'run-1', { model, eps: mean, frequency: counts.map((row) => row.map((c) => c / TOKENS)), counts, freqTol: 1e-7 });
  });

  test('--batch i writes that batch’s own thresholds; a batch out of range is refused', async () => {
    const file = path.join(out, 'b1.env');
    expect((await cli(['export-thresholds', session, '--run', 'run-1', '--format', 'authors', '--batch', '1', '--out', file])).rc).toBe(0);
    expect(dataLines(file)[0]).toBe(`thresholds=${perBatch[1].join(',')}`);
    expect(fs.readFileSync(file, 'utf8')).toMatch(/# epsilon: batch 1 of 3/);
    const bad = await cli(['export-thresholds', session, '--run', 'run-1', '--format', 'authors', '--batch', '3', '--out', path.join(out, 'b3.env')]);
    expect(bad.rc).toBe(2);
    expect(bad.err).toMatch(/--batch must be 0…2/);
  });

  test('existing files: refused without --overwrite, replaced with it; a run without thresholds is refused', async () => {
    const again = await cli(['export-thresholds', session, '--run', 'run-1', '--out', out]);
    expect(again.rc).toBe(2);
    expect(again.err).toMatch(/exists already/);
    expect((await cli(['export-thresholds', session, '--run', 'run-1', '--out', out, '--overwrite'])).rc).toBe(0);
    const relu = await cli(['export-thresholds', session, '--run', 'relu-1', '--format', 'tau', '--out', out]);
    expect(relu.err).toMatch(/no per-layer thresholds/);
    expect((await cli(['export-thresholds', session, '--run', 'relu-1', '--format', 'powerinfer', '--out', out])).rc).toBe(0);
    expect((await cli(['export-thresholds', session, '--run', 'run-1', '--format', 'all', '--out', path.join(out, 'x.csv')])).err).toMatch(/not an existing folder/);
  });

  test('the contract command (the run page button) writes the same files', async () => {
    const engine = new Engine({ paths: { userData: root, cache: root }, log: { info() {}, warn() {}, error() {} } });
    const dir = path.join(root, 'via-contract');
    fs.mkdirSync(dir);
    try {
      await engine.call('sessions.open', { path: session, readOnly: true });
      const r = (await engine.call('sessions.exportThresholds', { id: 'run-1', format: 'all', out: dir })) as { thresholds: string; files: { path: string }[] };
      expect(r.thresholds).toBe('batch-mean');
      for (const f of r.files) expect(fs.readFileSync(f.path, 'utf8')).toBe(fs.readFileSync(path.join(out, path.basename(f.path)), 'utf8'));
      await expect(engine.call('sessions.exportThresholds', { id: 'run-1', format: 'all', out: dir })).rejects.toThrow(/exists already/);
    } finally {
      await engine.dispose();
    }
  });

  test('a moved lab still finds its checkpoint; a missing one is refused by name', async () => {
    const moved = path.join(root, 'moved');
    fs.renameSync(lab, moved);
    const s2 = path.join(moved, 's.sparsitylab');
    const file = path.join(out, 'moved.tau.csv');
    expect((await cli(['export-thresholds', s2, '--run', 'run-1', '--format', 'tau', '--out', file])).rc).toBe(0);
    expect(dataLines(file)).toHaveLength(1 + L * F);
    fs.renameSync(path.join(moved, 'model'), path.join(moved, 'elsewhere'));
    const gone = await cli(['export-thresholds', s2, '--run', 'run-1', '--format', 'tau', '--out', path.join(out, 'gone.csv')]);
    expect(gone.rc).toBe(1);
    expect(gone.err).toMatch(/checkpoint 'lab\/model' of run run-1 is neither at model .*relink/); // a folder named 'model' is named with its parent's (common/naming.ts)
    expect(fs.existsSync(path.join(out, 'gone.csv'))).toBe(false);
  });
});
