/**
 * The fused CETT search (one graph call per batch and outer step: dense stream, the authors' bisection inside an
 * ONNX Loop, sparse stream; main/graph/search-graph.ts) against the plain authors' algorithm
 * (metrics-plain.ts: dense pass + per-layer bisection with direct matrix products, redone every outer step) and
 * against the host-curve engine, on real tiny checkpoints through onnxruntime (CPU, fp32).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../main/checkpoint/index';
import { writeTinyCheckpoint, type TinyFamily } from '../../main/checkpoint/testing/tiny';
import { createRunner } from '../../main/inference/index';
import { batchStream } from '../../main/metrics/data';
import { measureCettPpl } from '../../main/metrics/cett-ppl';
import { readDownWeights, PreparedTarget } from '../../main/metrics/target';
import { Meter } from '../../main/metrics/control';
import { plainCettPpl } from './metrics-plain';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-fused-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const CASES: { name: string; family: TinyFamily; activation: 'relu' | 'silu' | 'gelu_tanh'; kvHeads?: number; p: number }[] = [
  { name: 'llama relu', family: 'llama', activation: 'relu', p: 1 },
  { name: 'llama silu, GQA', family: 'llama', activation: 'silu', kvHeads: 2, p: 5 },
  { name: 'gpt2 (non-gated, biases)', family: 'gpt2', activation: 'gelu_tanh', p: 3 },
];

async function open(c: (typeof CASES)[number]) {
  const dir = path.join(tmp, c.name.replace(/\W+/g, '-'));
  writeTinyCheckpoint(dir, c.family, { activation: c.activation, hidden: 32, layers: 3, heads: 4, kvHeads: c.kvHeads, intermediate: 48, vocab: 300, seed: 11, std: 0.2, maxPositions: 64 });
  const ckpt = await loadCheckpoint(dir);
  const runner = await createRunner(ckpt, { provider: 'cpu', maxSeq: 32 });
  let s = 99;
  const ids = Int32Array.from({ length: 7 * 20 }, () => (s = (s * 1103515245 + 12345) >>> 0) % 300);
  // 7 sequences in batches of 3: the last batch is smaller
  const data = batchStream(ids, { seqLen: 20, batch: 3 }, 'test');
  return { ckpt, runner, data, target: { id: dir, runner, downWeights: await readDownWeights(ckpt) } };
}

describe('fused CETT search = the authors algorithm', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const { runner, data, target } = await open(c);
      try {
        const tol = 1e-3;
        const plain = await plainCettPpl({ runner, down: target.downWeights }, data, c.p, tol);
        const fused = await measureCettPpl(target, data, { p: c.p, tol, thresholdMode: 'authors', curveEngine: 'fused' });
        expect(fused.curveEngine).toBe('fused');
        // same outer path, same c
        expect(fused.cett).toBe(plain.c);
        // thresholds: the same grid point, bit for bit (both grids are torch's fp32 linspace)
        expect(fused.thresholdsPerBatch).toEqual(plain.epsPerBatch);
        expect(Math.abs(fused.activationRatio - plain.act)).toBeLessThanOrEqual(1e-4);
        expect(fused.pplRatio).toBeCloseTo(plain.ratio, 5);
        // searching the next step's two possible targets in the same call changes the cost, not the answer
        const spec = await measureCettPpl(target, data, { p: c.p, tol, thresholdMode: 'authors', curveEngine: 'fused', speculate: true });
        expect(spec.cett).toBe(fused.cett);
        expect(spec.thresholds).toEqual(fused.thresholds);
        expect(spec.activationRatio).toBe(fused.activationRatio);
        expect(spec.pplRatio).toBe(fused.pplRatio);
        expect(spec.searchStats!.calls).toBeLessThan(fused.searchStats!.calls);
        expect(spec.forwardPasses).toBeLessThan(fused.forwardPasses);
        // and the host-curve engine agrees
        const js = await measureCettPpl(target, data, { p: c.p, tol, thresholdMode: 'authors', curveEngine: 'js' });
        expect(fused.cett).toBe(js.cett);
        expect(fused.activationRatio).toBeCloseTo(js.activationRatio, 4);
      } finally {
        await runner.dispose();
      }
    }, 120_000);
  }

  it('falls back to the host curves when the device runs out of memory, with the same answer and a reason', async () => {
    const { runner, data, target } = await open(CASES[0]);
    try {
      const oom = { ...runner, searchStep: async () => Promise.reject(new Error('CUDA failure 2: out of memory; Failed to allocate memory for requested buffer')) };
      const res = await measureCettPpl({ ...target, runner: oom }, data, { p: 1, tol: 1e-2, thresholdMode: 'authors', curveEngine: 'fused' });
      const js = await measureCettPpl(target, data, { p: 1, tol: 1e-2, thresholdMode: 'authors', curveEngine: 'js' });
      expect(res.curveEngine).toBe('ort');
      expect(res.fallbackReasons.join(' ')).toMatch(/out of device memory/);
      expect(res.cett).toBe(js.cett);
      // other errors are not swallowed
      const bad = { ...runner, searchStep: async () => Promise.reject(new Error('invalid graph')) };
      await expect(measureCettPpl({ ...target, runner: bad }, data, { p: 1, tol: 1e-2, thresholdMode: 'authors', curveEngine: 'fused' })).rejects.toThrow(/invalid graph/);
    } finally {
      await runner.dispose();
    }
  }, 120_000);

  it('evaluates each grid point once per batch and layer (memo across outer steps) and resumes the exact path', async () => {
    const { runner, data, target } = await open(CASES[1]);
    try {
      const meter = new Meter({});
      meter.enter('dense', data.batches.length);
      const pt = new PreparedTarget(target, data.batches, 'authors', meter, 1e9, 'fused');
      await pt.prepare();
      const cs = [0.5, 0.25, 0.375, 0.3125, 0.34375];
      const first: number[][] = [];
      for (const c of cs) first.push((await pt.step(0, c)).th.eps);
      const calls = pt.fusedStats.calls;
      const evals = pt.fusedStats.evaluations;
      // the authors' bisection of 65,536 candidates takes 16 evaluations per layer and c: the memo saves some
      expect(evals).toBeLessThan(16 * cs.length * runner.spec.numLayers);
      expect(evals).toBeGreaterThanOrEqual(16 * runner.spec.numLayers);
      // asking again costs no evaluation (the paths are in the memo) and gives the same thresholds
      for (let i = 0; i < cs.length; i++) expect((await pt.step(0, cs[i])).th.eps).toEqual(first[i]);
      expect(pt.fusedStats.evaluations).toBe(evals);
      expect(pt.fusedStats.calls).toBe(calls);
      // a fresh target (no memo) gives the same thresholds from a full 16-level search
      const fresh = new PreparedTarget(target, data.batches, 'authors', meter, 1e9, 'fused');
      await fresh.prepare();
      expect((await fresh.step(0, cs[3])).th.eps).toEqual(first[3]);
      await pt.dispose();
      await fresh.dispose();
    } finally {
      await runner.dispose();
    }
  }, 120_000);
});

describe('search graph in the fused decoder form (what CUDA runs)', () => {
  it('gives the same thresholds, evaluations and sparse NLL as the plain form', async () => {
    const ort = await import('onnxruntime-node');
    const { buildSearchGraph } = await import('../../main/graph/search-graph');
    const { runner, ckpt } = await open(CASES[1]);
    try {
      const L = runner.spec.numLayers;
      const B = 2;
      const S = 19;
      const ids = BigInt64Array.from({ length: B * S }, (_, i) => BigInt((i * 37 + 11) % 300));
      const run = async (fused: boolean) => {
        const model = buildSearchGraph(ckpt, { dtype: 'float32', maxSeq: 32, colNorms: runner.colNorms, fused });
        expect(Buffer.from(model).includes('MultiHeadAttention')).toBe(fused);
        const sess = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], logSeverityLevel: 3 });
        const out = await sess.run({
          input_ids: new ort.Tensor('int64', ids, [B, S]),
          c: new ort.Tensor('float32', new Float32Array([0.3, 0.15, 0.45]), [3]),
          lo: new ort.Tensor('int64', new BigInt64Array(3 * L), [3, L]),
          hi: new ort.Tensor('int64', new BigInt64Array(3 * L).fill(65535n), [3, L]),
          iters: new ort.Tensor('int64', new BigInt64Array([16n]), []),
        });
        await sess.release();
        return { eps: Array.from(out.eps.data as Float32Array), nll: Array.from(out.nll.data as Float32Array), mids: Array.from(out.eval_mid.data as BigInt64Array, Number) };
      };
      const plain = await run(false);
      const fused = await run(true);
      fused.eps.forEach((e, l) => expect(Math.abs(e - plain.eps[l])).toBeLessThanOrEqual(1e-5 * plain.eps[l]));
      expect(fused.mids).toEqual(plain.mids); // the same bisection paths, for all three targets
      fused.nll.forEach((x, i) => expect(Math.abs(x - plain.nll[i])).toBeLessThan(1e-4));
    } finally {
      await runner.dispose();
    }
  }, 120_000);
});
