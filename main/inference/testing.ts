/**
 * Helpers the runner and graph tests share (one copy each): the largest elementwise difference of two arrays, and
 * the mask modes a runner is compared in, one run of a graph's bytes in a session of its own.
 */
import * as ort from 'onnxruntime-node';
import type { MaskMode } from './runner-types';

/** max |a_i − b_i|; arrays of different lengths are an error (a comparison of nothing must not pass) */
export function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbs: lengths differ (${a.length} vs ${b.length})`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Every mask mode a runner implements, for FFN width F: dense, ReLU, FAT-ε 0.02, top-k per token (F/4) and per batch
 * (30%), and CETT thresholds τ = tauScale / ‖W_out[:, i]‖ from the runner's column norms. */
export function everyMaskMode(F: number, colNorms: Float32Array[], tauScale: number): MaskMode[] {
  return [
    { kind: 'dense' },
    { kind: 'relu' },
    { kind: 'fat', eps: 0.02 },
    { kind: 'topk-token', k: Math.floor(F / 4) },
    { kind: 'topk-batch', fraction: 0.3 },
    { kind: 'cett', tau: colNorms.map((c) => c.map((x) => tauScale / x)) },
  ];
}

/** runs a graph's bytes once in a session of its own (CPU), releasing it after */
export async function runOnce(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> {
  const sess = await ort.InferenceSession.create(bytes);
  try {
    return await sess.run(feeds);
  } finally {
    await sess.release();
  }
}

/**
 * The feeds of a search graph over Lb layers (search-graph.ts): ids [B,S], J targets at `cs`, every layer's bisection
 * interval [0, 65535] (the whole grid), `iters` levels
 */
export function searchFeeds(ids: ort.Tensor, cs: number[], Lb: number, iters = 16): Record<string, ort.Tensor> {
  const J = cs.length;
  return {
    input_ids: ids,
    c: new ort.Tensor('float32', Float32Array.from(cs), [J]),
    lo: new ort.Tensor('int64', new BigInt64Array(J * Lb), [J, Lb]),
    hi: new ort.Tensor('int64', new BigInt64Array(J * Lb).fill(65535n), [J, Lb]),
    iters: new ort.Tensor('int64', new BigInt64Array([BigInt(iters)]), []),
  };
}
