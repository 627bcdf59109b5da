/**
 * Helpers the runner and graph tests share (one copy each): the largest elementwise difference of two arrays, and
 * the mask modes a runner is compared in, one run of a graph's bytes in a session of its own.
 */
import * as ort from 'onnxruntime-node';
import type { ModelSpec } from '../checkpoint/types';
import type { PlanInput } from './plan';
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

const GiB = 1024 ** 3;

/** The LLaMA-2-7B shape (issue 15's benchmark model: d 4096, 32 layers, d_f 11008, 32 heads, vocab 32000, SiLU, untied). */
export function llama7bSpec(): ModelSpec {
  return {
    family: 'llama', modelType: 'llama', activation: 'silu', hiddenSize: 4096, intermediateSize: 11008, numLayers: 32, numHeads: 32, numKvHeads: 32, headDim: 128, vocabSize: 32000,
    maxPositions: 4096, norm: 'rms', normEps: 1e-5, positional: 'rope', ropeTheta: 10000, rotaryDim: 128, gated: true, parallelResidual: false, qkNorm: false,
    qkvBias: false, attnOutBias: false, mlpBias: false, tieEmbeddings: false, embedScale: 1, residualScale: 1, logitScale: 1, positionOffset: 0,
  } as ModelSpec;
}

/** one fp16 layer of llama7bSpec: q, k, v, o, gate, up, down and the two norms, in bytes */
export const LLAMA7B_LAYER_BYTES = 2 * (4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096);

/** The plan input of the 7B in fp16 with the fused search on CUDA, 16 × 1024 tokens a batch and a search, on an H200
 * with 139 of 141 GiB free and no cap: the planning tests vary it by `extra`. */
export function plan7bInput(extra: Partial<PlanInput> = {}): PlanInput {
  return {
    spec: llama7bSpec(), provider: 'cuda', dtype: 'float16', fused: true, seqLen: 1024, batchSeqs: 16, searchTokens: 16 * 1024,
    layerBytes: new Array(32).fill(LLAMA7B_LAYER_BYTES), embedBytes: 2 * 32000 * 4096, headBytes: 2 * (32000 * 4096 + 4096),
    mem: { free: 139 * GiB, total: 141 * GiB, source: 'test' }, ...extra,
  };
}
