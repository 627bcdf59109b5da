/**
 * CETT-PPL-p% on tiny Hugging Face checkpoints of several families (written by the checkpoint module's
 * test helper), run by the plain float64 reference forward (test/reference/forward.ts): the fast path
 * (dense pass and CETT curves once) against the plain authors' algorithm of metrics.test.ts, which
 * redoes the dense pass and the threshold bisection in every outer step.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../main/checkpoint/index';
import { writeTinyCheckpoint, type TinyFamily } from '../../main/checkpoint/testing/tiny';
import type { ActivationName } from '../../main/checkpoint/types';
import { measureAtCetts, measureCettPpl } from '../../main/metrics/cett-ppl';
import { loadEvalData } from '../../main/metrics/data';
import { readDownWeights } from '../../main/metrics/target';
import { createReferenceRunner } from '../reference/forward';
import { createRunner } from '../../main/inference/index';
import { plainCettPpl, plainInspect } from './metrics-plain';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metrics-ref-'));
const text = path.join(dir, 'eval.txt');
fs.writeFileSync(text, 'Sparse activations: most neurons of a ReLU network are zero for a given token. '.repeat(12));

const CASES: [TinyFamily, ActivationName][] = [
  ['llama', 'silu'],
  ['minicpm', 'relu'],
  ['qwen2', 'silu'],
];

describe('fast path = plain authors algorithm on tiny checkpoints (reference runner)', () => {
  for (const [family, activation] of CASES) {
    it(`${family}/${activation}`, async () => {
      const p = writeTinyCheckpoint(path.join(dir, `${family}-${activation}`), family, { activation, seed: 5, std: 0.15, hidden: 16, heads: 2, layers: 2 });
      const ck = await loadCheckpoint(p);
      const runner = createReferenceRunner(ck);
      const data = loadEvalData(text, ck.tokenizer!, { tokens: 96, seqLen: 16, batch: 3 });
      const downWeights = await readDownWeights(ck);
      const tol = 1e-3;
      const ref = await plainCettPpl({ runner, down: downWeights }, data, 5, tol);
      const fast = await measureCettPpl({ id: p, runner, downWeights }, data, { p: 5, tol, thresholdMode: 'authors' });
      expect(Math.abs(fast.cett! - ref.c)).toBeLessThanOrEqual(tol);
      fast.thresholds.forEach((e, l) => expect(Math.abs(e - ref.eps[l])).toBeLessThanOrEqual(1e-3 * Math.abs(ref.eps[l]) + 1e-12));
      expect(Math.abs(fast.activationRatio - ref.act)).toBeLessThanOrEqual(0.001);
      expect(fast.activationRatio).toBeLessThan(1);
      // the production path: the ONNX runner (fp32, CPU) through the same fast measurement
      const onnx = await createRunner(ck, { provider: 'cpu', maxSeq: 16 });
      try {
        const prod = await measureCettPpl({ id: p, runner: onnx, downWeights }, data, { p: 5, tol, thresholdMode: 'authors' });
        expect(Math.abs(prod.cett! - ref.c)).toBeLessThanOrEqual(tol);
        prod.thresholds.forEach((e, l) => expect(Math.abs(e - ref.eps[l])).toBeLessThanOrEqual(1e-3 * Math.abs(ref.eps[l]) + 1e-9));
        expect(Math.abs(prod.activationRatio - ref.act)).toBeLessThanOrEqual(0.001);
        expect(prod.provider).toBe('cpu');
      } finally {
        await onnx.dispose();
      }
    });
  }
});

describe('the measurement at fixed CETT values (bench measure --at-cett, the fixed-c comparison with the reference)', () => {
  it('gives the plain authors inspect(c) at each c, without an outer search', async () => {
    const p = writeTinyCheckpoint(path.join(dir, 'at-cett'), 'llama', { activation: 'relu', seed: 9, std: 0.15, hidden: 16, heads: 2, layers: 2 });
    const ck = await loadCheckpoint(p);
    const runner = createReferenceRunner(ck);
    const data = loadEvalData(text, ck.tokenizer!, { tokens: 96, seqLen: 16, batch: 3 });
    const downWeights = await readDownWeights(ck);
    const cs = [0.05, 0.2, 0.6];
    const at = await measureAtCetts({ id: p, runner, downWeights }, data, { p: 1, tol: 1e-3, thresholdMode: 'authors' }, cs);
    expect(at.map((r) => r.cett)).toEqual(cs);
    for (const [i, c] of cs.entries()) {
      const ref = await plainInspect({ runner, down: downWeights }, data, c);
      expect(at[i].pplRatio).toBeCloseTo(ref.ratio, 10);
      expect(at[i].activationRatio).toBeCloseTo(ref.act, 10);
      at[i].thresholds.forEach((e, l) => expect(Math.abs(e - ref.eps[l])).toBeLessThanOrEqual(1e-6 * Math.abs(ref.eps[l]) + 1e-12));
    }
    // a larger c cuts more: the activation ratio falls as c grows (the three points are not the same measurement)
    expect(at[0].activationRatio).toBeGreaterThan(at[2].activationRatio);
    await expect(measureAtCetts({ id: p, runner, downWeights }, data, { p: 1, tol: 1e-3, thresholdMode: 'authors' }, [1.5])).rejects.toThrow(/outside \[0, 1\]/);
  });
});
