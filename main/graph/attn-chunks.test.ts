// Causal query chunks of the plain-form attention (GraphOptions.attnChunks, the CPU's default: RunnerOptions.attnChunks):
// the same logits and NLL as the whole S×S attention up to fp32 summation order, for sequence lengths that the chunk
// count divides and does not (S = 1 … 13, chunks past the sequence's end empty), GQA and qk-norm families, a learned-
// position family, and an fp16-stored checkpoint (16-bit weights behind Casts); the graph really has one softmax per
// chunk and layer; the CPU runner uses the chunked form by default and gives the whole form's NLL; its halfWeights
// option (bench --half-weights 0) gives the 16-bit-behind-Casts graph's NLL.
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
import { createRunner, CPU_ATTN_CHUNKS } from '../inference/index';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-attn-chunks-'));
const MAX_SEQ = 16;
const B = 2;

async function run(ckpt: LoadedCheckpoint, o: GraphOptions, S: number, out: 'logits' | 'nll'): Promise<Float32Array> {
  const extra = storesHalfWeights(ckpt, o) ? { extra: HALF_WEIGHTS_SESSION_EXTRA } : {};
  const sess = await ort.InferenceSession.create(buildLlamaGraph(ckpt, o), { executionProviders: ['cpu'], logSeverityLevel: 3, ...extra });
  const ids = BigInt64Array.from({ length: B * S }, (_, i) => BigInt((i * 37 + 11) % ckpt.spec.vocabSize));
  const res = await sess.run({ input_ids: new ort.Tensor('int64', ids, [B, S]) });
  await sess.release();
  return res[out].data as Float32Array;
}

/** largest |x − y| relative to the largest |y| (logits of a few units: fp32 rounding is ~1e-7 of them) */
function relDiff(x: Float32Array, y: Float32Array): number {
  expect(x.length).toBe(y.length);
  let d = 0;
  let m = 1e-6;
  for (let i = 0; i < x.length; i++) {
    d = Math.max(d, Math.abs(x[i] - y[i]));
    m = Math.max(m, Math.abs(y[i]));
  }
  return d / m;
}

const cases: [string, TinyFamily, TinyOptions][] = [
  ['llama relu', 'llama', { activation: 'relu', seed: 5, std: 0.2 }],
  ['mistral GQA (4 query heads over 2 kv heads)', 'mistral', { activation: 'silu', seed: 6, std: 0.2 }],
  ['qwen3 qk-norm', 'qwen3', { activation: 'silu', seed: 7, std: 0.2 }],
  ['gpt_neox partial rotary', 'gpt_neox', { activation: 'gelu', seed: 8, std: 0.2 }],
  ['opt learned positions', 'opt', { activation: 'relu', seed: 9, std: 0.2 }],
  ['llama fp16-stored (weights behind Casts)', 'llama', { activation: 'relu', seed: 10, std: 0.2, dtype: 'float16' }],
];

test.each(cases)('%s: chunked attention gives the whole attention\'s logits for S up to 13 and 2, 3, 4, 8 chunks', async (name, family, o) => {
  const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, name.replace(/\W+/g, '-')), family, { ...o, maxPositions: 64 }));
  // plain graphs (logits out: S = 1 too); the 16-bit-stored checkpoint as the CPU runs it: instrumented, weights
  // behind Casts, NLL out (S ≥ 2)
  const half = o.dtype === 'float16';
  const base: GraphOptions = { dtype: 'float32', mode: 'dense', capture: false, maxSeq: MAX_SEQ, ...(half ? { halfWeights: true } : { plain: true }) };
  const out = half ? 'nll' : 'logits';
  for (const S of half ? [2, 3, 5, 8, 13] : [1, 2, 3, 5, 8, 13]) {
    const whole = await run(ckpt, base, S, out);
    let spread = 0;
    for (const k of [2, 3, 4, 8]) {
      const chunked = await run(ckpt, { ...base, attnChunks: k }, S, out);
      expect(relDiff(chunked, whole), `${name} S=${S} k=${k}`).toBeLessThan(1e-5);
      spread = Math.max(spread, relDiff(chunked, whole));
    }
    // the outputs differ between positions: not a constant the chunks could match by luck
    if (whole.length > 1) expect(Math.abs(whole[0] - whole[whole.length - 1])).toBeGreaterThan(1e-4);
    expect(spread).toBeLessThan(1e-5);
  }
});

test('a position\'s logits depend on earlier tokens only, with the causal mask cut per chunk', async () => {
  const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'causal'), 'llama', { activation: 'relu', seed: 11, std: 0.2, maxPositions: 64 }));
  const o: GraphOptions = { dtype: 'float32', mode: 'dense', capture: false, maxSeq: MAX_SEQ, plain: true, attnChunks: 4 };
  const S = 11;
  const V = ckpt.spec.vocabSize;
  const logitsOf = async (ids: bigint[]) => {
    const sess = await ort.InferenceSession.create(buildLlamaGraph(ckpt, o), { executionProviders: ['cpu'], logSeverityLevel: 3 });
    const r = (await sess.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids), [1, S]) })).logits.data as Float32Array;
    await sess.release();
    return r;
  };
  const a = Array.from({ length: S }, (_, i) => BigInt((i * 53 + 3) % V));
  const b = [...a];
  b[7] = (b[7] + 1n) % BigInt(V); // change token 7: positions 0…6 (chunks 0 and 1 and the first of chunk 2) must not move
  const la = await logitsOf(a);
  const lb = await logitsOf(b);
  for (let p = 0; p < S; p++) {
    let d = 0;
    for (let v = 0; v < V; v++) d = Math.max(d, Math.abs(la[p * V + v] - lb[p * V + v]));
    if (p < 7) expect(d, `position ${p}`).toBe(0);
    else expect(d, `position ${p}`).toBeGreaterThan(1e-6);
  }
});

test('the chunked graph has one Softmax per chunk and layer, no S×S causal slice; the fused form ignores the option', async () => {
  const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'count'), 'llama', { activation: 'relu', seed: 12, layers: 3 }));
  const count = (o: Partial<GraphOptions>, op: string) =>
    fromBinary(ModelProtoSchema, buildLlamaGraph(ckpt, { dtype: 'float32', mode: 'cett', capture: false, maxSeq: MAX_SEQ, ...o })).graph!.node.filter((n) => n.opType === op).length;
  expect(count({}, 'Softmax')).toBe(3);
  expect(count({ attnChunks: 4 }, 'Softmax')).toBe(12);
  expect(count({ attnChunks: 4, fused: true }, 'Softmax')).toBe(0);
  expect(count({ attnChunks: 4, fused: true }, 'MultiHeadAttention')).toBe(3);
});

test('the CPU runner chunks its attention by default and measures the whole form\'s NLL and counts', async () => {
  expect(CPU_ATTN_CHUNKS).toBeGreaterThan(1);
  const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'runner'), 'llama', { activation: 'relu', seed: 13, std: 0.2, maxPositions: 64 }));
  const S = 13;
  const ids = Int32Array.from({ length: B * S }, (_, i) => (i * 29 + 5) % ckpt.spec.vocabSize);
  const chunked = await createRunner(ckpt, { provider: 'cpu', maxSeq: 32 });
  const whole = await createRunner(ckpt, { provider: 'cpu', maxSeq: 32, attnChunks: 1 });
  const tau = chunked.colNorms.map((c) => new Float32Array(c.length).fill(0.05));
  for (const mode of [{ kind: 'dense' as const }, { kind: 'cett' as const, tau }]) {
    const a = await chunked.forward({ ids, batch: B, seqLen: S, mode, captureActivations: mode.kind === 'dense' });
    const b = await whole.forward({ ids, batch: B, seqLen: S, mode, captureActivations: mode.kind === 'dense' });
    expect(relDiff(a.nll, b.nll), mode.kind).toBeLessThan(1e-5);
    if (a.activations) for (let l = 0; l < a.activations.length; l++) expect(relDiff(a.activations[l], b.activations![l])).toBeLessThan(1e-5);
    // counts: equal but where a value sits on a threshold within float error
    let diff = 0;
    for (let i = 0; i < a.activeCounts.length; i++) diff += Math.abs(a.activeCounts[i] - b.activeCounts[i]);
    expect(diff).toBeLessThanOrEqual(2);
  }
  await chunked.dispose();
  await whole.dispose();
});

test('the CPU runner with halfWeights false (fp16-stored weights as fp32 initializers) measures the same NLL', async () => {
  const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'half'), 'llama', { activation: 'relu', seed: 14, std: 0.2, maxPositions: 64, dtype: 'float16' }));
  const S = 9;
  const ids = Int32Array.from({ length: B * S }, (_, i) => (i * 31 + 2) % ckpt.spec.vocabSize);
  const half = await createRunner(ckpt, { provider: 'cpu', maxSeq: 32, cacheDir: path.join(tmp, 'cache') });
  const full = await createRunner(ckpt, { provider: 'cpu', maxSeq: 32, cacheDir: path.join(tmp, 'cache'), halfWeights: false });
  const a = await half.forward({ ids, batch: B, seqLen: S, mode: { kind: 'dense' } });
  const b = await full.forward({ ids, batch: B, seqLen: S, mode: { kind: 'dense' } });
  expect(relDiff(a.nll, b.nll)).toBeLessThan(1e-5);
  await half.dispose();
  await full.dispose();
});
