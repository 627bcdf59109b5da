// The streamed search with its blocks' weights fed as inputs (issue 15: one session per block shape, paging = feeding
// the next block's tensors), against the whole graph on the CPU:
// - the graphs: every block of k layers builds the same bytes (one session serves them all); embedding end → blocks fed
//   their tensors read from the checkpoint (block-weights.ts) → head end gives the whole search graph's ε, grid, every
//   evaluated (mid, CETT, t) bit for bit and its NLL within 1e-5, for blocks of 1, 2 and 3 layers (3: a shorter last block);
// - the runner: CETT-PPL-1% with search blocks of 1, 2 and 3 layers fed as inputs gives the whole runner's CETT,
//   thresholds, activation ratio and PPL; each block shape's session (and each end's) is created once;
// - the planner: the 7B under a 16 GiB cap chooses it (auto), counts it within the budget and says so; 'sessions' forces
//   the session per paged block; a checkpoint file cut short is a clear error.
import { afterAll, describe, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { writeTinyCheckpoint } from '../checkpoint/testing/tiny';
import { loadCheckpoint } from '../checkpoint/index';
import { createRunner } from './index';
import { buildSearchEndGraph, buildSearchGraph } from '../graph/search-graph';
import { BlockWeights } from './block-weights';
import { planExecution, type PlanInput } from './plan';
import type { StreamStats } from './streamed';
import { batchStream } from '../metrics/data';
import { measureOnRunner } from '../metrics/testing/measure';
import { mulberry32 } from '../base/rng';
import { LLAMA7B_LAYER_BYTES, maxAbs, plan7bInput, runOnce, searchFeeds } from './testing';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-streamed-inputs-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const L = 4;
const S = 16;
const r = mulberry32(41);
const GiB = 1024 ** 3;

describe('search blocks fed their weights as inputs = the whole search graph', () => {
  test.each([
    ['the plain decoder', false],
    ['the contrib-op decoder and W_out read as stored (FusedMatMul transB), as on CUDA', true],
  ])('%s: blocks of 1, 2 and 3 layers, one graph per block shape, the same ε, grid, CETT path and NLL', async (_what, gpuForm) => {
    const dir = writeTinyCheckpoint(path.join(tmp, 'graph'), 'llama', { layers: L, activation: 'silu', std: 0.3 });
    const ckpt = await loadCheckpoint(dir);
    const runner = await createRunner(ckpt, { provider: 'cpu', maxSeq: S });
    const B = 2;
    const ids = new ort.Tensor('int64', BigInt64Array.from({ length: B * S }, () => BigInt(Math.floor(r() * 256))), [B, S]);
    const base = (Lb: number) => searchFeeds(ids, [0.2, 0.05], Lb);
    const weights = new BlockWeights(ckpt, { dtype: 'float32', halfWeights: false });
    try {
      const o = { dtype: 'float32' as const, maxSeq: S, colNorms: runner.colNorms, layerGroup: 1, ...(gpuForm ? { fused: true, productTransB: true } : {}) };
      const want = await runOnce(buildSearchGraph(ckpt, o), base(L));
      const embed = await runOnce(buildSearchEndGraph(ckpt, { ...o, end: 'embed' }), { input_ids: ids });
      for (const k of [1, 2, 3]) {
        const graphOf = (from: number, to: number) => buildSearchGraph(ckpt, { ...o, layers: [from, to], weightInputs: true });
        // no weight in the graph: blocks of the same layer count are the same bytes
        expect(Buffer.from(graphOf(0, k)).equals(Buffer.from(graphOf(k, Math.min(L, 2 * k)))) || 2 * k > L, `k=${k}`).toBe(true);
        let dense = embed.hidden_out;
        let sparse = embed.hidden_out;
        const got: Record<string, ort.Tensor>[] = [];
        for (let from = 0; from < L; from += k) {
          const to = Math.min(L, from + k);
          const norms = new Float32Array((to - from) * ckpt.spec.intermediateSize);
          for (let l = from; l < to; l++) norms.set(runner.colNorms[l], (l - from) * ckpt.spec.intermediateSize);
          const feeds = { ...base(to - from), hidden_in: dense, sparse_in: sparse, col_norms: new ort.Tensor('float32', norms, [to - from, ckpt.spec.intermediateSize]), ...(await weights.get(from, to)) };
          const out = await runOnce(graphOf(from, to), feeds);
          expect(out.nll).toBeUndefined();
          [dense, sparse] = [out.hidden_out, out.sparse_out];
          got.push(out);
        }
        const head = await runOnce(buildSearchEndGraph(ckpt, { ...o, end: 'head' }), { input_ids: ids, hidden_in: sparse });
        const cat = (name: string) => got.flatMap((x) => Array.from(x[name].data as ArrayLike<number | bigint | boolean>, Number));
        for (const name of ['eps', 'clamped_low', 'grid_start', 'grid_end', 'neuron_counts', 'active_counts']) expect(cat(name), `${name} k=${k}`).toEqual(Array.from(want[name].data as ArrayLike<number | boolean>, Number));
        for (const name of ['eval_mid', 'eval_cett', 'eval_t', 'lo_final']) {
          const w = Array.from(want[name].data as ArrayLike<number | bigint>, Number);
          let from = 0;
          for (const out of got) {
            const Lb = out.eps.dims[0];
            const g = Array.from(out[name].data as ArrayLike<number | bigint>, Number);
            for (let i = 0; i < g.length; i++) expect(g[i], `${name} k=${k} layer ${from + (i % Lb)}`).toBe(w[Math.floor(i / Lb) * L + from + (i % Lb)]);
            from += Lb;
          }
        }
        expect(maxAbs(head.nll.data as Float32Array, want.nll.data as Float32Array), `k=${k}`).toBeLessThanOrEqual(1e-5);
      }
      expect((want.eval_cett.data as Float32Array).some((x) => x > 0 && x < 1)).toBe(true);
    } finally {
      await weights.close();
      await runner.dispose();
    }
  });
});

test('fp16 graph over an fp32 checkpoint (the tensors converted as the build converts them): the same bits as the blocks with initializers', async () => {
  const dir = writeTinyCheckpoint(path.join(tmp, 'f16'), 'llama', { layers: L, activation: 'silu', std: 0.3 });
  const ckpt = await loadCheckpoint(dir);
  const runner = await createRunner(ckpt, { provider: 'cpu', maxSeq: S });
  const weights = new BlockWeights(ckpt, { dtype: 'float16', halfWeights: false });
  try {
    const B = 2;
    const k = 2;
    const ids = new ort.Tensor('int64', BigInt64Array.from({ length: B * S }, (_, i) => BigInt((i * 37) % 256)), [B, S]);
    const base = searchFeeds(ids, [0.1], k);
    const o = { dtype: 'float16' as const, maxSeq: S, colNorms: runner.colNorms, layerGroup: 1 };
    // blocks with their weights as initializers (a session per block)
    const a = await runOnce(buildSearchGraph(ckpt, { ...o, layers: [0, k] }), base);
    const b = await runOnce(buildSearchGraph(ckpt, { ...o, layers: [k, L] }), { ...base, hidden_in: a.hidden_out, sparse_in: a.sparse_out });
    // the same blocks fed as inputs, between the two ends
    const e = await runOnce(buildSearchEndGraph(ckpt, { ...o, end: 'embed' }), { input_ids: ids });
    expect(e.hidden_out.type).toBe('float16');
    const graph = buildSearchGraph(ckpt, { ...o, layers: [0, k], weightInputs: true });
    const norms = (from: number) => new ort.Tensor('float32', Float32Array.from(runner.colNorms.slice(from, from + k).flatMap((n) => Array.from(n))), [k, ckpt.spec.intermediateSize]);
    const x = await runOnce(graph, { ...base, hidden_in: e.hidden_out, sparse_in: e.hidden_out, col_norms: norms(0), ...(await weights.get(0, k)) });
    const w1 = await weights.get(k, L);
    expect(Object.values(w1).every((t) => t.type === 'float16')).toBe(true);
    const y = await runOnce(graph, { ...base, hidden_in: x.hidden_out, sparse_in: x.sparse_out, col_norms: norms(k), ...w1 });
    const h = await runOnce(buildSearchEndGraph(ckpt, { ...o, end: 'head' }), { input_ids: ids, hidden_in: y.sparse_out });
    for (const [p, q] of [[a, x], [b, y]]) for (const name of ['eps', 'eval_cett', 'lo_final', 'active_counts']) expect(Array.from(q[name].data as ArrayLike<number | bigint>, Number)).toEqual(Array.from(p[name].data as ArrayLike<number | bigint>, Number));
    // the head's NLL: within fp16 rounding of the residual stream. The CPU has no fp16 Add: onnxruntime runs it in
    // fp32 and, inside one graph, hands the unrounded sum to the final norm; across graphs the stream is fp16 (as
    // between any two blocks). On CUDA the Add is fp16 in both. Every per-layer output above is the same bits.
    const rel = maxAbs(h.nll.data as Float32Array, b.nll.data as Float32Array) / Math.max(...Array.from(b.nll.data as Float32Array, Math.abs));
    expect(rel).toBeLessThan(1e-3);
  } finally {
    await weights.close();
    await runner.dispose();
  }
});

describe.each([
  ['llama', 'silu', 0.3],
  ['opt', 'relu', 0.15],
] as const)('%s %s: streamed CETT-PPL-1%% with search blocks fed as inputs = whole graph', (family, activation, std) => {
  test('search blocks of 1, 2 and 3 layers; one session per block shape', async () => {
    const dir = writeTinyCheckpoint(path.join(tmp, `${family}-${activation}`), family, { layers: L, activation, std });
    const ckpt = await loadCheckpoint(dir);
    const batch = 4;
    const rd = mulberry32(5); // its own stream: data whose CETT-PPL-1% lies inside (0.01, 0.9) for both families
    const data = batchStream(Int32Array.from({ length: 8 * S }, () => Math.floor(rd() * 256)), { seqLen: S, batch }, 'random ids');
    const o = { p: 1, tol: 1e-3, thresholdMode: 'authors' as const, curveEngine: 'fused' as const };
    const base = { provider: 'cpu' as const, maxSeq: S, batchSeqs: batch };
    const want = await measureOnRunner(ckpt, data, o, { ...base, execution: 'whole' });
    expect(want.cett).toBeGreaterThan(0.01);
    expect(want.cett).toBeLessThan(0.9);
    for (const k of [1, 2, 3]) {
      let stats: StreamStats | undefined;
      const got = await measureOnRunner(ckpt, data, o, { ...base, execution: 'streamed', blockLayers: 2, searchBlockLayers: k, pagedWeights: 'inputs', deviceMemoryBytes: GiB }, (runner) => {
        const sp = runner.plan!.search!;
        expect(sp.weightInputs, `k=${k}`).toBe(true);
        expect(sp.blocks[0], `k=${k}`).toEqual([0, k]);
        expect(runner.plan!.reason).toMatch(/one session per block shape fed each block's weights as inputs, as asked/);
        stats = (runner as unknown as { streamStats: StreamStats }).streamStats;
      });
      const what = `${k} layer(s) per search block`;
      expect(got.cett, what).toBe(want.cett);
      expect(got.thresholds, what).toEqual(want.thresholds);
      expect(got.activationRatio, what).toBe(want.activationRatio);
      expect(Math.abs(Math.log(got.pplRatio) - Math.log(want.pplRatio)), what).toBeLessThanOrEqual(1e-5);
      expect(got.search?.engine, what).toBe('fused');
      // the search's sessions: one per block shape and the two ends, each created once (the forward blocks and the
      // search fit side by side under this cap: neither releases the other), whatever the number of calls
      const creates = stats!.timeline.filter((e) => e.what === 'create' && e.label.startsWith('search'));
      const runs = stats!.timeline.filter((e) => e.what === 'run' && e.label.includes('weights as inputs'));
      expect(creates.length, what).toBe((L % k ? 2 : 1) + 2);
      expect(runs.length, what).toBeGreaterThanOrEqual(2 * Math.ceil(L / k));
      expect(stats!.weights!.loads, what).toBeGreaterThanOrEqual(runs.length);
    }
  });
});

test('a checkpoint file cut short while open: the search step fails naming the file', async () => {
  const dir = writeTinyCheckpoint(path.join(tmp, 'cut'), 'llama', { layers: L, activation: 'silu', std: 0.3 });
  const ckpt = await loadCheckpoint(dir);
  const runner = await createRunner(ckpt, { provider: 'cpu', maxSeq: S, batchSeqs: 1, execution: 'streamed', blockLayers: 2, searchBlockLayers: 2, pagedWeights: 'inputs', deviceMemoryBytes: GiB });
  try {
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.safetensors'))!;
    const t = { c: 0.1, lo: new Array(L).fill(0), hi: new Array(L).fill(65535) };
    const step = () => runner.searchStep!({ ids: new Int32Array(S), batch: 1, seqLen: S, targets: [t], iters: 2 });
    await step(); // the sessions are open; the blocks' weights are read per call
    fs.truncateSync(path.join(dir, file), 4096);
    await expect(step()).rejects.toThrow(new RegExp(`${file}: the file ends before byte \\d+ \\(tensor layers\\.`));
  } finally {
    await runner.dispose();
  }
});


test('planning: the 7B under 16 GiB feeds its search blocks as inputs (auto), within the budget; sessions when asked', () => {
  const layer = LLAMA7B_LAYER_BYTES;
  const input = (extra: Partial<PlanInput>): PlanInput => plan7bInput({ overlap: true, capBytes: 16 * GiB, ...extra });
  const auto = planExecution(input({}));
  const sp = auto.search!;
  expect(sp.weightInputs).toBe(true);
  expect(sp.blocks.length).toBeGreaterThan(1);
  expect(new Set(sp.blocks.map(([a, b]) => b - a)).size).toBe(sp.residentBlocks); // one session per block shape
  expect(sp.peakBytes).toBeLessThanOrEqual(auto.budgetBytes);
  // the block's weights and the ends' are counted: more than the activations alone
  expect(sp.peakBytes).toBeGreaterThan(4 * layer + 2 * 32000 * 4096 * 2);
  expect(auto.reason).toMatch(/one session per block shape fed each block's weights as inputs, /);
  const ses = planExecution(input({ pagedWeights: 'sessions' })).search!;
  expect(ses.weightInputs).toBeUndefined();
  expect(ses.residentBlocks).toBeLessThan(ses.blocks.length);
  // everything resident as sessions (no paging): sessions stay the choice
  expect(planExecution(input({ capBytes: undefined, execution: 'streamed' })).search!.weightInputs).toBeUndefined();
});
