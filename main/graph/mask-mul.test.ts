// The CPU's CETT mask by Mul (GraphOptions.maskMul, masks.ts maskActivations: a · Cast(keep) instead of
// Where(keep, a, 0); onnxruntime's CPU Where runs on one thread) gives the Where form's NLL and counts bit for bit: tiny
// checkpoints of gated (ReLU, SiLU: negative a, so −0 where a skipped a_i < 0), non-gated (OPT: biases) and partial-rotary
// families and an fp16-stored one, at thresholds that skip 0%, about half and all of the neurons, with ties (τ_i = |a_i|
// of some token: not skipped, the authors skip iff N < t) and τ = ∞ (a zero column). Layer 0's counts are checked against
// the dense pass's captured a counted here (|a| < τ skips; ties and NaN-free). The graph has the Mul and no mask Where;
// other modes and fp16 graphs keep Where; the CPU runner uses the Mul form by default and maskMul false gives Where's.
import { expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { writeTinyCheckpoint, type TinyFamily, type TinyOptions } from '../checkpoint/testing/tiny';
import { loadCheckpoint } from '../checkpoint/index';
import type { LoadedCheckpoint } from '../checkpoint/types';
import { buildLlamaGraph, HALF_WEIGHTS_SESSION_EXTRA, storesHalfWeights, type GraphOptions } from './llama-graph';
import { checkpointColumnNorms, createRunner } from '../inference/index';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-mask-mul-'));
const B = 2;
const S = 12;

async function session(ckpt: LoadedCheckpoint, o: GraphOptions): Promise<ort.InferenceSession> {
  const extra = storesHalfWeights(ckpt, o) ? { extra: HALF_WEIGHTS_SESSION_EXTRA } : {};
  return ort.InferenceSession.create(buildLlamaGraph(ckpt, o), { executionProviders: ['cpu'], logSeverityLevel: 3, ...extra });
}

function ids(ckpt: LoadedCheckpoint, seed: number): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from({ length: B * S }, (_, i) => BigInt((i * 37 + seed * 11 + 5) % ckpt.spec.vocabSize)), [B, S]);
}

/** every element the same bits (NaN payloads aside, none expected) */
function sameBits(x: Float32Array, y: Float32Array): boolean {
  return x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
}

const cases: [string, TinyFamily, TinyOptions][] = [
  ['llama relu', 'llama', { activation: 'relu', seed: 21, std: 0.3 }],
  ['llama silu', 'llama', { activation: 'silu', seed: 22, std: 0.3 }],
  ['qwen3 silu (qk-norm)', 'qwen3', { activation: 'silu', seed: 23, std: 0.3 }],
  ['opt relu (non-gated, biases)', 'opt', { activation: 'relu', seed: 24, std: 0.3 }],
  ['gpt_neox gelu (partial rotary)', 'gpt_neox', { activation: 'gelu', seed: 25, std: 0.3 }],
  ['llama silu fp16-stored (weights behind Casts)', 'llama', { activation: 'silu', seed: 26, std: 0.3, dtype: 'float16' }],
];

test.each(cases)('%s: the Mul form gives the Where form\'s NLL and counts bit for bit', async (name, family, o) => {
  const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, name.replace(/\W+/g, '-')), family, { ...o, maxPositions: 32 }));
  const { numLayers: L, intermediateSize: F } = ckpt.spec;
  const half = o.dtype === 'float16';
  const base: GraphOptions = { dtype: 'float32', mode: 'cett', capture: false, maxSeq: 16, attnChunks: 3, ...(half ? { halfWeights: true } : {}) };
  const where = await session(ckpt, base);
  const mul = await session(ckpt, { ...base, maskMul: true });
  const capture = await session(ckpt, { ...base, mode: 'dense', capture: true });
  const colNorms = checkpointColumnNorms(ckpt);
  const input_ids = ids(ckpt, 1);
  const a0 = (await capture.run({ input_ids }))['act.0'].data as Float32Array; // layer 0's a: the same in every mask form
  const N = Float32Array.from(a0, (x, j) => Math.abs(x) * colNorms[0][j % F]);
  const sorted = Float32Array.from(N).sort();
  // ε per layer: nothing, a quarter, half, 3/4 of the dense N (layer 0's scale), and beyond every N
  const tauSets: [string, Float32Array][] = [];
  for (const q of [0, 0.25, 0.5, 0.75, 1.01]) {
    const eps = q > 1 ? sorted[sorted.length - 1] * 2 : sorted[Math.floor(q * (sorted.length - 1))];
    tauSets.push([`eps at quantile ${q}`, Float32Array.from({ length: L * F }, (_, j) => (colNorms[j % F] ? eps / colNorms[Math.floor(j / F)][j % F] : 0))]);
  }
  // ties: layer 0's τ_i = |a_i| of token 3 (kept: |a| < τ is false), τ = ∞ for every 5th neuron (all of its tokens skipped),
  // the other neurons at the median
  const med = sorted[sorted.length >> 1];
  tauSets.push([
    'ties and infinities',
    Float32Array.from({ length: L * F }, (_, j) => {
      const l = Math.floor(j / F);
      const i = j % F;
      if (i % 5 === 0) return Infinity;
      return l === 0 && i % 2 === 0 ? Math.abs(a0[3 * F + i]) : med / colNorms[l][i];
    }),
  ]);
  let skippedSome = false;
  for (const [what, tau] of tauSets) {
    const feeds = { input_ids, tau: new ort.Tensor('float32', tau, [L, F]) };
    const w = await where.run(feeds);
    const m = await mul.run(feeds);
    expect(sameBits(m.nll.data as Float32Array, w.nll.data as Float32Array), `${name}, ${what}: NLL`).toBe(true);
    expect(sameBits(m.active_counts.data as Float32Array, w.active_counts.data as Float32Array), `${name}, ${what}: active_counts`).toBe(true);
    expect(sameBits(m.neuron_counts.data as Float32Array, w.neuron_counts.data as Float32Array), `${name}, ${what}: neuron_counts`).toBe(true);
    // layer 0 from the definition: token t keeps neuron i iff not |a_i| < τ_i
    const counts = m.active_counts.data as Float32Array;
    for (let t = 0; t < B * S; t++) {
      let kept = 0;
      for (let i = 0; i < F; i++) if (!(Math.abs(a0[t * F + i]) < tau[i])) kept++;
      expect(counts[t], `${name}, ${what}: layer 0 token ${t}`).toBe(kept);
    }
    const total = counts.reduce((s, x) => s + x, 0);
    if (total > 0 && total < L * B * S * F) skippedSome = true;
  }
  expect(skippedSome).toBe(true);
  // the NLL moves with the mask (the comparison above is not of two unmasked passes)
  const none = (await where.run({ input_ids, tau: new ort.Tensor('float32', tauSets[0][1], [L, F]) })).nll.data as Float32Array;
  const all = (await where.run({ input_ids, tau: new ort.Tensor('float32', tauSets[4][1], [L, F]) })).nll.data as Float32Array;
  expect(sameBits(none, all)).toBe(false);
  for (const s of [where, mul, capture]) await s.release();
}, 60_000);

test('the Mul form replaces the mask Where by a Mul in every layer; other modes, fp16 graphs and the default keep Where', async () => {
  const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'count'), 'llama', { activation: 'relu', seed: 27, layers: 3 }));
  const count = (o: Partial<GraphOptions>, op: string) =>
    fromBinary(ModelProtoSchema, buildLlamaGraph(ckpt, { dtype: 'float32', mode: 'cett', capture: false, maxSeq: 16, attnChunks: 4, ...o })).graph!.node.filter((n) => n.opType === op).length;
  expect(count({ maskMul: true }, 'Where')).toBe(count({}, 'Where') - 3);
  expect(count({ maskMul: true }, 'Mul')).toBe(count({}, 'Mul') + 3);
  const same = (o: Pick<GraphOptions, 'dtype' | 'mode'>) => Buffer.from(buildLlamaGraph(ckpt, { ...o, capture: false, maxSeq: 16, maskMul: true })).equals(buildLlamaGraph(ckpt, { ...o, capture: false, maxSeq: 16 }));
  for (const mode of ['fat', 'relu', 'topk-token', 'topk-batch', 'dense'] as const) expect(same({ dtype: 'float32', mode }), mode).toBe(true);
  expect(same({ dtype: 'float16', mode: 'cett' })).toBe(true);
  expect(same({ dtype: 'float32', mode: 'cett' })).toBe(false);
});

test('the CPU runner masks by Mul by default and measures what maskMul false (Where) measures, bit for bit', async () => {
  const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'runner'), 'llama', { activation: 'silu', seed: 28, std: 0.3, maxPositions: 64 }));
  const cache = path.join(tmp, 'cache');
  const mul = await createRunner(ckpt, { provider: 'cpu', maxSeq: 32, cacheDir: cache });
  const where = await createRunner(ckpt, { provider: 'cpu', maxSeq: 32, cacheDir: cache, maskMul: false });
  const req = { ids: Int32Array.from({ length: B * S }, (_, i) => (i * 29 + 5) % ckpt.spec.vocabSize), batch: B, seqLen: S };
  const tau = mul.colNorms.map((c) => Float32Array.from(c, (n) => 0.05 / n));
  const a = await mul.forward({ ...req, mode: { kind: 'cett', tau } });
  const b = await where.forward({ ...req, mode: { kind: 'cett', tau } });
  expect(sameBits(a.nll, b.nll)).toBe(true);
  expect(sameBits(a.activeCounts, b.activeCounts)).toBe(true);
  expect(sameBits(a.neuronActiveCounts, b.neuronActiveCounts)).toBe(true);
  const kept = a.activeCounts.reduce((s, x) => s + x, 0) / a.activeCounts.length / ckpt.spec.intermediateSize;
  expect(kept).toBeGreaterThan(0.05);
  expect(kept).toBeLessThan(0.95);
  // the two runners cached two graphs (the option is part of the cache key): the cache holds both forms
  const graphs = fs.readdirSync(cache, { recursive: true }).filter((f) => String(f).endsWith('.onnx'));
  expect(graphs.length).toBeGreaterThanOrEqual(2);
  await mul.dispose();
  await where.dispose();
});
