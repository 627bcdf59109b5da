// The fused CETT search of a streamed run, block by block (issue 15), against the whole-graph search on the CPU:
// - the graph: per-block search graphs (search-graph.ts `layers`), chained through both residual streams, give the
//   whole graph's ε, clamps, grid, every evaluated (mid, CETT, t) bit for bit and its NLL within 1e-5;
// - the runner: under device-memory caps that make the planner choose search blocks of 1, 2 and all 4 layers and a
//   token chunk, CETT-PPL-1% on the fused engine gives the whole runner's CETT, thresholds, activation ratio and PPL;
// - the planner: blocks and chunks shrink with the budget, every call's planned bytes stay within it, and a budget
//   below one layer's search leaves the search to the host curves.
import { afterAll, describe, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { writeTinyCheckpoint } from '../checkpoint/testing/tiny';
import { loadCheckpoint } from '../checkpoint/index';
import type { LoadedCheckpoint } from '../checkpoint/types';
import { createRunner, type RunnerOptions } from './index';
import type { ModelRunner } from './runner-types';
import { planExecution, planSearch, SEARCH_ARENA_FACTOR, searchBlockBytes, weightBytesByLayer, type PlanInput } from './plan';
import { buildSearchGraph, searchLayerGroup, type SearchTuning } from '../graph/search-graph';
import { batchStream } from '../metrics/data';
import { measureOnRunner } from '../metrics/testing/measure';
import { mulberry32 } from '../base/rng';
import { llama7bSpec, LLAMA7B_LAYER_BYTES, maxAbs, plan7bInput, runOnce, searchFeeds } from './testing';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-streamed-search-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const L = 4;
const S = 16;
const r = mulberry32(29);

describe('search graph over blocks of layers = the whole search graph', () => {
  test.each([1, 2, 3])('blocks of %i layer(s), fp32, two targets, 1 and 2 levels, plain and contrib-op decoder', async (k) => {
    const dir = writeTinyCheckpoint(path.join(tmp, `graph-${k}`), 'llama', { layers: L, activation: 'silu', std: 0.3 });
    const ckpt = await loadCheckpoint(dir);
    const runner = await createRunner(ckpt, { provider: 'cpu', maxSeq: S });
    const B = 2;
    const ids = BigInt64Array.from({ length: B * S }, () => BigInt(Math.floor(r() * 256)));
    const base = (Lb: number) => searchFeeds(new ort.Tensor('int64', ids, [B, S]), [0.2, 0.05], Lb);
    try {
      // the plain decoder form with two tunings, and the contrib-op form the GPU uses (MultiHeadAttention, RotaryEmbedding, …)
      const variants: [SearchTuning | undefined, boolean][] = [[undefined, false], [{ levels: 2, chunkTokens: 5, nInLoop: false, mask16: true }, false], [undefined, true]];
      for (const [tuning, fused] of variants) {
        // one layer per group on both sides: bit for bit. (The group size itself can move a CETT value by an ulp on the
        // CPU — a batched product of another shape — which the runner test below covers: same thresholds.)
        const o = { dtype: 'float32' as const, maxSeq: S, colNorms: runner.colNorms, fused, layerGroup: 1, ...(tuning ? { tuning } : {}) };
        const want = await runOnce(buildSearchGraph(ckpt, o), base(L));
        const got: Record<string, ort.Tensor>[] = [];
        let dense: ort.Tensor | undefined;
        let sparse: ort.Tensor | undefined;
        for (let from = 0; from < L; from += k) {
          const to = Math.min(L, from + k);
          const feeds: Record<string, ort.Tensor> = base(to - from);
          if (from > 0) Object.assign(feeds, { hidden_in: dense!, sparse_in: sparse! });
          const out = await runOnce(buildSearchGraph(ckpt, { ...o, layers: [from, to] }), feeds);
          if (to < L) {
            expect(out.nll).toBeUndefined();
            [dense, sparse] = [out.hidden_out, out.sparse_out];
          }
          got.push(out);
        }
        const cat = (name: string) => got.flatMap((x) => Array.from(x[name].data as ArrayLike<number | bigint | boolean>, Number));
        for (const name of ['eps', 'clamped_low', 'grid_start', 'grid_end', 'neuron_counts']) expect(cat(name), `${name} k=${k}`).toEqual(Array.from(want[name].data as ArrayLike<number | boolean>, Number));
        // per-layer outputs with the layer innermost ([R, P, J, Lb] and [J, Lb]): compare layer by layer
        for (const name of ['eval_mid', 'eval_cett', 'eval_t', 'eval_active', 'lo_final']) {
          const w = Array.from(want[name].data as ArrayLike<number | bigint | boolean>, Number);
          let from = 0;
          for (const out of got) {
            const Lb = out.eps.dims[0];
            const g = Array.from(out[name].data as ArrayLike<number | bigint | boolean>, Number);
            expect(g.length * L).toBe(w.length * Lb);
            for (let i = 0; i < g.length; i++) expect(g[i], `${name} k=${k} layer ${from + (i % Lb)}`).toBe(w[Math.floor(i / Lb) * L + from + (i % Lb)]);
            from += Lb;
          }
        }
        // active counts [Lb, B, S] per block, in layer order
        expect(cat('active_counts')).toEqual(Array.from(want.active_counts.data as Float32Array));
        expect(maxAbs(got.at(-1)!.nll.data as Float32Array, want.nll.data as Float32Array)).toBeLessThanOrEqual(1e-5);
        // the CETT values decide the path: they are there and in (0, 1]
        expect((want.eval_cett.data as Float32Array).some((x) => x > 0 && x < 1)).toBe(true);
      }
    } finally {
      await runner.dispose();
    }
  });

  test('a layer range outside the model is refused', async () => {
    const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'bad'), 'llama', { layers: L }));
    const o = { dtype: 'float32' as const, maxSeq: S, colNorms: Array.from({ length: L }, () => new Float32Array(ckpt.spec.intermediateSize).fill(1)) };
    expect(() => buildSearchGraph(ckpt, { ...o, layers: [2, 2] })).toThrow(/non-empty range/);
    expect(() => buildSearchGraph(ckpt, { ...o, layers: [0, L + 1] })).toThrow(/non-empty range/);
  });
});

/** the CPU plan's input for a checkpoint (what createRunner plans with), at a given cap */
function cpuInput(ckpt: LoadedCheckpoint, batchSeqs: number, cap: number): PlanInput {
  return {
    spec: ckpt.spec, provider: 'cpu', dtype: 'float32', fused: false, seqLen: S, batchSeqs, searchTokens: batchSeqs * S,
    ...weightBytesByLayer(ckpt, { dtype: 'float32', halfWeights: true }),
    mem: { free: os.freemem(), total: os.totalmem(), source: 'test' }, capBytes: cap,
  };
}

/** the smallest cap (bytes, to 1 KB) at which the planned search blocks have `k` layers */
function capFor(ckpt: LoadedCheckpoint, batchSeqs: number, want: (p: NonNullable<ReturnType<typeof planSearch>>) => boolean): number {
  for (let cap = 16_000; cap < 64e6; cap = Math.ceil(cap * 1.05)) {
    const sp = planSearch(cpuInput(ckpt, batchSeqs, cap), cap);
    if (sp && want(sp)) return cap;
  }
  throw new Error('no cap gives that search plan');
}

describe.each([
  ['llama', 'silu', 0.3],
  ['opt', 'relu', 0.15],
] as const)('%s %s: streamed CETT-PPL-1%% with the block-wise fused search = whole graph', (family, activation, std) => {
  test('search blocks of 1, 2 and 4 layers, with and without token chunks', async () => {
    const dir = writeTinyCheckpoint(path.join(tmp, `${family}-${activation}`), family, { layers: L, activation, std });
    const ckpt = await loadCheckpoint(dir);
    const batch = 4;
    const stream = Int32Array.from({ length: 8 * S }, () => Math.floor(r() * 256));
    const data = batchStream(stream, { seqLen: S, batch }, 'random ids');
    const o = { p: 1, tol: 1e-3, thresholdMode: 'authors' as const, curveEngine: 'fused' as const };
    const measure = (ro: RunnerOptions, check?: (r: ModelRunner) => void) => measureOnRunner(ckpt, data, o, { provider: 'cpu', maxSeq: S, batchSeqs: batch, ...ro }, check);
    const want = await measure({ execution: 'whole' });
    expect(want.cett).toBeGreaterThan(0.01);
    expect(want.cett).toBeLessThan(0.9);
    // (a batch of 64 tokens is below the planner's smallest chunk: the chunked case asks for 5-token chunks)
    const cases: [string, (p: NonNullable<ReturnType<typeof planSearch>>) => boolean, RunnerOptions][] = [
      ['1 layer per block, 5-token chunks', (p) => p.blocks[0][1] === 1, { searchTuning: { levels: 1, chunkTokens: 5, nInLoop: false, mask16: true } }],
      ['2 layers per block', (p) => p.blocks[0][1] === 2, {}],
      ['all 4 layers, all tokens at once', (p) => p.blocks.length === 1 && p.chunkTokens === 0, {}],
    ];
    for (const [what, pick, extra] of cases) {
      const cap = capFor(ckpt, batch, pick);
      const got = await measure({ execution: 'streamed', blockLayers: 2, deviceMemoryBytes: cap, ...extra }, (runner) => {
        const sp = runner.plan?.search;
        expect(sp, what).toBeDefined();
        expect(pick(sp!), what).toBe(true);
        expect(sp!.peakBytes).toBeLessThanOrEqual(runner.plan!.budgetBytes);
        expect(runner.searchStep).toBeDefined();
      });
      expect(got.cett, what).toBe(want.cett);
      expect(got.thresholds, what).toEqual(want.thresholds);
      expect(got.activationRatio, what).toBe(want.activationRatio);
      expect(Math.abs(Math.log(got.pplRatio) - Math.log(want.pplRatio)), what).toBeLessThanOrEqual(1e-5);
      expect(got.search?.engine, what).toBe('fused');
    }
  });
});

const GiB = 1024 ** 3;

describe('planning the streamed search', () => {
  const spec = llama7bSpec();
  const layer = LLAMA7B_LAYER_BYTES;
  const input = (cap: number | undefined, extra: Partial<PlanInput> = {}): PlanInput => plan7bInput({ ...(cap ? { capBytes: cap } : {}), ...extra });
  test('7B at 16,384 tokens under 24 and 16 GiB: block-wise search within the cap, fewer layers per block under less', () => {
    const p24 = planExecution(input(24 * GiB));
    const p16 = planExecution(input(16 * GiB));
    for (const p of [p24, p16]) {
      expect(p.mode).toBe('streamed');
      expect(p.search).toBeDefined();
      expect(p.search!.peakBytes).toBeLessThanOrEqual(p.budgetBytes);
      expect(p.search!.tokens).toBe(16384);
      expect(p.peakBytes).toBeLessThanOrEqual(p.budgetBytes);
      expect(p.reason).toMatch(/threshold search runs block by block/);
      expect(p.curvesOnDevice).toBeUndefined(); // no host curves
      const blocks = p.search!.blocks;
      expect(blocks[0][0]).toBe(0);
      expect(blocks.at(-1)![1]).toBe(32);
      // a group's [G, 16384, d_f] stays within 2^29 elements (search-graph.ts GROUP_ELEMENTS)
      expect(p.search!.layerGroup * 16384 * 11008).toBeLessThanOrEqual(Math.max(2 ** 29, 16384 * 11008));
    }
    expect(p16.search!.blocks[0][1]).toBeLessThanOrEqual(p24.search!.blocks[0][1]);
    // each block call's formula, recomputed here term by term for a middle block of the 16 GiB plan
    const sp = p16.search!;
    const k = sp.blocks[1][1] - sp.blocks[1][0];
    const T = 16384;
    const e = 2;
    const stream = Math.max(11008 * (6 * e + 9), 4 * 32 * 128 * e) + 8 * 4096 * e; // the dense stream, no head
    // (a, its concatenation and |a| counted for every layer of the block: SEARCH_ARENA_FACTOR's calibration)
    const perToken = stream + 3 * 4096 * e + k * 11008 * 3 * e + sp.layerGroup * 4096 * (e + 4);
    const c = sp.chunkTokens || T;
    const want = k * layer + SEARCH_ARENA_FACTOR * (T * perToken + sp.layerGroup * c * (11008 * (1 + e) + 4096 * (e + 4)));
    expect(searchBlockBytes(spec, { dtype: 'float16', fused: true, seqLen: 1024, tokens: T, layers: k, group: sp.layerGroup, chunk: c, weights: k * layer, arena: SEARCH_ARENA_FACTOR })).toBe(want);
    expect(want).toBeLessThanOrEqual(p16.budgetBytes);
  });
  test('a budget below one layer of search at this batch: no search plan (the host curves then search)', () => {
    const tiny = planSearch(input(2 * GiB), 2 * GiB);
    expect(tiny).toBeUndefined();
    expect(planSearch(input(undefined, { searchTokens: undefined }), 100 * GiB)).toBeUndefined(); // no batch named
  });
  test('room for every layer: one block of 32, all tokens at once, the group from the batch (item: GROUP_TOKENS)', () => {
    const sp = planSearch(input(undefined, { mem: { free: 139 * GiB, total: 141 * GiB, source: 'test' } }), 400 * GiB)!;
    expect(sp.blocks).toEqual([[0, 32]]);
    expect(sp.chunkTokens).toBe(0);
    // CUDA reads W_out as stored (FusedMatMul transB): one layer per group at 7B (d_h·d_f ≥ 2^24), as the whole graph
    expect(sp.layerGroup).toBe(1);
    expect(planSearch(input(undefined, { provider: 'webgpu' }), 400 * GiB)!.layerGroup).toBe(2); // 2^29 / (16384 · 11008)
    const small = planSearch(input(undefined, { provider: 'webgpu', batchSeqs: 2, searchTokens: 2048 }), 400 * GiB)!;
    expect(small.layerGroup).toBe(23); // 2^29 / (2048 · 11008): fewer tokens per call, more layers per group
    // the whole runner sizes its search graph's group the same way from its batch (index.ts): 16 × 1024 by default
    expect(searchLayerGroup(spec)).toBe(2);
    expect(searchLayerGroup(spec, 2048)).toBe(23);
    expect(searchLayerGroup(spec, 64 * 1024)).toBe(1);
  });
});
