// The execution planner on real model shapes (no weights): what fits where, against hand-computed byte counts.
import { describe, expect, test } from 'vitest';
import type { ModelSpec } from '../checkpoint/types';
import { activationBytesPerToken, CUDA_CONTEXT, CUDA_RESERVE, pagedStepSeconds, planExecution, SEARCH_ARENA_FACTOR, searchBlockBytes, WHOLE_SESSIONS, type PlanInput } from './plan';

const GiB = 1024 ** 3;
/** a LLaMA-shaped spec (d, L, d_f, heads, vocab) */
function llama(d: number, L: number, F: number, H: number, K: number, V: number): ModelSpec {
  return {
    family: 'llama', modelType: 'llama', activation: 'silu', hiddenSize: d, intermediateSize: F, numLayers: L, numHeads: H, numKvHeads: K, headDim: d / H, vocabSize: V,
    maxPositions: 4096, norm: 'rms', normEps: 1e-5, positional: 'rope', ropeTheta: 10000, rotaryDim: d / H, gated: true, parallelResidual: false, qkNorm: false,
    qkvBias: false, attnOutBias: false, mlpBias: false, tieEmbeddings: false, embedScale: 1, residualScale: 1, logitScale: 1, positionOffset: 0,
  } as ModelSpec;
}
/** fp16 bytes of one layer (attention with GQA, gated FFN, two norms), the embedding and the head */
function fp16Input(spec: ModelSpec, free: number, extra: Partial<PlanInput> = {}): PlanInput {
  const { hiddenSize: d, intermediateSize: F, numLayers: L, numKvHeads: K, headDim: hd, vocabSize: V } = spec;
  const layer = 2 * (2 * d * d + 2 * d * K * hd + 3 * d * F + 2 * d);
  return {
    spec, provider: 'cuda', dtype: 'float16', fused: true, seqLen: 1024, batchSeqs: 16,
    layerBytes: new Array(L).fill(layer), embedBytes: 2 * V * d, headBytes: 2 * (V * d + d),
    mem: { free, total: 141 * GiB, source: 'test' }, ...extra,
  };
}
const llama7b = llama(4096, 32, 11008, 32, 32, 32000);
const llama70b = llama(8192, 80, 28672, 64, 8, 128256);

describe('planExecution', () => {
  test('7B fp16 on an empty H200: whole graph, chunks bounded by the batch', () => {
    const p = planExecution(fp16Input(llama7b, 139 * GiB));
    expect(p.mode).toBe('whole');
    expect(p.weightBytes / GiB).toBeCloseTo(12.55, 1); // 6.74e9 parameters × 2 bytes
    expect(p.chunkSeqs).toBe(16);
    expect(p.peakBytes).toBeLessThanOrEqual(p.budgetBytes);
    expect(p.budgetBytes).toBe(139 * GiB - CUDA_RESERVE);
  });
  test('7B under a 16 GiB cap, and on a 24 GB card: streamed, every block and a sequence fit', () => {
    for (const input of [fp16Input(llama7b, 139 * GiB, { capBytes: 16 * GiB }), fp16Input(llama7b, 23.5 * GiB)]) {
      const p = planExecution(input);
      expect(p.mode).toBe('streamed');
      expect(p.blocks[0][0]).toBe(0);
      expect(p.blocks.at(-1)![1]).toBe(32);
      expect(p.peakBytes).toBeLessThanOrEqual(p.budgetBytes);
      expect(p.chunkSeqs).toBeGreaterThanOrEqual(1);
      expect(p.reason).toMatch(/more than/);
    }
    // 24 GB: one copy of the weights (12.6 GiB) and a chunk's arena fit, nothing is paged; 16 GiB: they do not (each
    // resident block session keeps its own CUDA arena, about twice its activations): blocks are paged in
    const card = planExecution(fp16Input(llama7b, 23.5 * GiB));
    expect(card.residentBlocks).toBe(card.blocks.length);
    expect(card.reason).toMatch(/all resident/);
    const capped = planExecution(fp16Input(llama7b, 139 * GiB, { capBytes: 16 * GiB, pagedWeights: 'sessions' }));
    expect(capped.residentBlocks).toBeLessThan(capped.blocks.length);
    expect(capped.reason).toMatch(/paged in/);
    // …or, where paged, fed as inputs to one session per block shape (streamed-forward-inputs.test.ts)
    expect(planExecution(fp16Input(llama7b, 139 * GiB, { capBytes: 16 * GiB })).weightInputs).toBe(true);
  });
  test('the whole path counts two sessions of weights: 7B fp16 with 20 GiB free streams', () => {
    const p = planExecution(fp16Input(llama7b, 20 * GiB + CUDA_RESERVE));
    expect(WHOLE_SESSIONS * p.weightBytes).toBeGreaterThan(20 * GiB);
    expect(p.mode).toBe('streamed');
  });
  test('70B fp16 (131 GiB of weights) on one 80 GB card: streamed with blocks paged in; on a 141 GB card: streamed', () => {
    const small = planExecution(fp16Input(llama70b, 79 * GiB));
    expect(small.weightBytes / GiB).toBeCloseTo(131.5, 0);
    expect(small.mode).toBe('streamed');
    expect(small.residentBlocks).toBeLessThan(small.blocks.length);
    expect(small.peakBytes).toBeLessThanOrEqual(small.budgetBytes);
    const big = planExecution(fp16Input(llama70b, 139 * GiB));
    expect(big.mode).toBe('streamed');
    expect(big.peakBytes).toBeLessThanOrEqual(big.budgetBytes);
  });
  test('a cap below one layer is refused with the sizes and the setting named', () => {
    expect(() => planExecution(fp16Input(llama7b, 139 * GiB, { capBytes: 0.3 * GiB }))).toThrow(/does not hold one decoder layer.*device-memory/);
  });
  test('WebGPU reports no free memory: conservative 8 GiB unless capped', () => {
    const p = planExecution({ ...fp16Input(llama7b, 0), provider: 'webgpu', mem: { free: null, total: null, source: 'WebGPU does not report it' } });
    expect(p.budgetBytes).toBe(8 * GiB);
    expect(p.mode).toBe('streamed');
    expect(p.device).toMatch(/unknown/);
    const capped = planExecution({ ...fp16Input(llama7b, 0), provider: 'webgpu', mem: { free: null, total: null, source: 'WebGPU does not report it' }, capBytes: 40 * GiB });
    expect(capped.budgetBytes).toBe(40 * GiB); // the cap is the budget, above the guess
    expect(capped.mode).toBe('whole');
  });
  test('activation bytes per token follow the formula (capture L·d_f·4 + max(FFN, head, attention) + 8·d·e)', () => {
    const e = 2;
    const per = activationBytesPerToken(llama7b, { dtype: 'float16', fused: true, seqLen: 1024, layers: 32, capture: true, head: true });
    expect(per).toBe(32 * 11008 * 4 + Math.max(11008 * (6 * e + 9), 32000 * (e + 12), 4 * 32 * 128 * e) + 8 * 4096 * e);
  });
});

test('a streamed GPU run whose batch is too large for the block-wise search keeps room for the host curves (one layer of A, N, mask and product)', () => {
  const tokens = 64 * 1024; // one layer's search over 65,536 tokens does not fit 16 GiB (planSearch, streamed-search.test.ts)
  const p = planExecution(fp16Input(llama7b, 139 * GiB, { capBytes: 16 * GiB, batchSeqs: 64, searchTokens: tokens }));
  const room = 13 * tokens * 11008;
  expect(p.mode).toBe('streamed');
  expect(p.search).toBeUndefined();
  expect(p.reason).toMatch(/kept for the threshold search \(one layer at a time\)/);
  expect(p.curvesOnDevice).toBe(false);
  expect(p.peakBytes).toBeLessThanOrEqual(p.budgetBytes);
  const without = planExecution(fp16Input(llama7b, 139 * GiB, { capBytes: 16 * GiB }));
  expect(p.peakBytes - room).toBeLessThanOrEqual(without.budgetBytes - room);
});

test('streamed with room to spare: the block-wise search in one block of every layer, all tokens at once; under a cap smaller blocks', () => {
  const tokens = 16 * 1024;
  const roomy = planExecution(fp16Input(llama7b, 139 * GiB, { execution: 'streamed', searchTokens: tokens }));
  expect(roomy.search?.blocks).toEqual([[0, 32]]);
  expect(roomy.search?.chunkTokens).toBe(0);
  expect(roomy.curvesOnDevice).toBeUndefined();
  expect(roomy.reason).toMatch(/threshold search runs block by block \(1 block/);
  const capped = planExecution(fp16Input(llama7b, 139 * GiB, { capBytes: 16 * GiB, searchTokens: tokens }));
  expect(capped.search!.blocks.length).toBeGreaterThan(1);
  expect(capped.search!.peakBytes).toBeLessThanOrEqual(capped.budgetBytes);
  expect(capped.peakBytes).toBeLessThanOrEqual(capped.budgetBytes);
});

describe('the 7B streamed under a 16 GiB cap (H200 measurements, BENCHMARKS.md 2026-12-04 16:25)', () => {
  const MiB = 1024 ** 2;
  const tokens = 16 * 1024;
  const base = fp16Input(llama7b, 139 * GiB, { capBytes: 16 * GiB, searchTokens: tokens });
  const layer = base.layerBytes[0];
  /** the plan's bytes for one search block call of k layers (the first: with the embedding) and chunk c, as planSearch counts them */
  const call = (k: number, c: number) =>
    searchBlockBytes(llama7b, { dtype: 'float16', fused: true, seqLen: 1024, tokens, layers: k, group: 1, chunk: c, weights: k * layer + base.embedBytes, arena: SEARCH_ARENA_FACTOR });
  test('the search-peak formula covers the two peaks measured, by less than 1.4x (context included)', () => {
    // 6 blocks of 6 layers, 2,048-token chunks, one session at a time: 13,351 MiB measured
    const six = call(6, 2048) + CUDA_CONTEXT;
    expect(six).toBeGreaterThan(13351 * MiB);
    expect(six).toBeLessThan(1.4 * 13351 * MiB);
    // 16 blocks of 2 layers, 8,192-token chunks, the next block's weights beside the running one: 7,989 MiB measured
    const two = call(2, 8192) + 2 * layer + CUDA_CONTEXT;
    expect(two).toBeGreaterThan(7989 * MiB);
    expect(two).toBeLessThan(1.4 * 7989 * MiB);
    // the whole graph's search (one session of every layer, all tokens at once; m7bw, 2026-12-04 15:08): 50,777 MiB
    const all = searchBlockBytes(llama7b, { dtype: 'float16', fused: true, seqLen: 1024, tokens, layers: 32, group: 1, chunk: tokens, weights: planExecution(base).weightBytes, arena: SEARCH_ARENA_FACTOR, head: true }) + CUDA_CONTEXT;
    expect(all).toBeGreaterThan(50777 * MiB);
    expect(all).toBeLessThan(1.4 * 50777 * MiB);
    // the plan made with it (8 blocks of 4 layers, all tokens at once, the next block's weights beside: 2026-12-04 19:27)
    // peaked at 11,571 MiB: the plan's figure covers it
    expect(planExecution({ ...base, overlap: true }).search!.peakBytes + CUDA_CONTEXT).toBeGreaterThan(11571 * MiB);
  });
  test('overlap with blocks of 4 layers and every token at once, instead of 6 blocks of 6 one after another; both within the cap', () => {
    // a session per paged block (the default there is weights as inputs: streamed-inputs.test.ts)
    const seq = planExecution({ ...base, overlap: false, pagedWeights: 'sessions' });
    const ov = planExecution({ ...base, overlap: true, pagedWeights: 'sessions' });
    expect(seq.search!.blocks.length).toBe(6);
    expect(seq.search!.overlap).toBeUndefined();
    expect(ov.search!.overlap).toBe(true);
    expect(ov.search!.blocks).toEqual(Array.from({ length: 8 }, (_, i) => [4 * i, 4 * i + 4]));
    expect(ov.search!.chunkTokens).toBe(0);
    expect(ov.search!.chunkTokens || tokens).toBeGreaterThanOrEqual(seq.search!.chunkTokens || tokens);
    for (const p of [seq, ov]) expect(p.search!.peakBytes).toBeLessThanOrEqual(p.budgetBytes);
    // the overlap plan's peak: the largest block call (the last: the head's weights) and the largest block's weights beside it
    const last = searchBlockBytes(llama7b, { dtype: 'float16', fused: true, seqLen: 1024, tokens, layers: 4, group: 1, chunk: tokens, weights: 4 * layer + base.headBytes, arena: SEARCH_ARENA_FACTOR, head: true });
    expect(ov.search!.peakBytes).toBe(last + 4 * layer + base.headBytes);
    expect(ov.reason).toMatch(/8 block\(s\) of 4 layer\(s\), 1 resident, the next created while one computes, all tokens at once/);
    // why: the estimate of what paging adds per step (the 16:25 run's 72 sessions of 6-layer blocks took 45.5 s to create)
    const mean = (p: typeof seq) => p.search!.blocks.reduce((a, [x, y]) => a + (y - x) * layer, base.embedBytes + base.headBytes) / p.search!.blocks.length;
    expect(pagedStepSeconds(8, mean(ov), true)).toBeLessThan(pagedStepSeconds(6, mean(seq), false));
    // …and 16 blocks of 2 layers with overlap (16:25: 175.6 s against 118.8 s) is estimated slower than 6 of 6 without
    expect(pagedStepSeconds(16, 2 * layer, true)).toBeGreaterThan(pagedStepSeconds(6, mean(seq), false));
  });
  test('a forced search block size (benchmarks) is kept', () => {
    const p = planExecution({ ...base, overlap: true, searchBlockLayers: 6 });
    expect(p.search!.blocks.every(([a, b]) => b - a === 6 || b === 32)).toBe(true);
    expect(p.search!.blocks.length).toBe(6);
  });
});
