// The streamed forward blocks fed their weights as inputs (issue 15: one session per block shape and mask kind, the
// embedding and the head in two end sessions, paging = feeding the next block's tensors), on the CPU:
// - forward in every mask mode, blocks of 1, 2 and 3 layers (3: a shorter last block), two families: the whole graph's
//   NLL (≤ 1e-5), counts (exact) and captured activations (≤ 1e-5), and the session form's (a session per block, at 2);
// - one fed block = the same block with initializers that onnxruntime does not pre-pack, bit for bit;
//   sessions created: one per block shape (+ the two ends) per mask kind, none more on a second call;
// - CETT-PPL-1% with forward and search blocks fed as inputs: the whole graph's CETT, thresholds, activation ratio;
// - the planner: where the session plan pages, 'auto' feeds the forward blocks on a GPU (the estimate) and on the CPU
//   (wherever they fit), says so in the plan line, counts the blocks' weights within the budget; 'sessions' keeps a
//   session per paged block;
// - tensors the checkpoint stores in another dtype: read from the graph cache's converted copy (none converted per page);
// - a checkpoint file cut short while open: the forward fails naming the file.
import { afterAll, describe, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeTinyCheckpoint } from '../checkpoint/testing/tiny';
import { loadCheckpoint } from '../checkpoint/index';
import type { LoadedCheckpoint } from '../checkpoint/types';
import { createRunner, type RunnerOptions } from './index';
import type { ForwardResult, ModelRunner } from './runner-types';
import { planExecution, weightBytesByLayer, type PlanInput } from './plan';
import type { StreamStats } from './streamed';
import { batchStream } from '../metrics/data';
import { measureOnRunner } from '../metrics/testing/measure';
import { mulberry32 } from '../base/rng';
import { everyMaskMode, LLAMA7B_LAYER_BYTES, maxAbs, plan7bInput, runOnce } from './testing';
import { buildLlamaGraph } from '../graph/llama-graph';
import { BlockWeights } from './block-weights';
import * as ort from 'onnxruntime-node';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-streamed-fw-inputs-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const L = 4;
const S = 16;
const B = 3;
const GiB = 1024 ** 3;
const r = mulberry32(11);
const ids = Int32Array.from({ length: B * S }, () => Math.floor(r() * 256));

function same(a: ForwardResult, b: ForwardResult, what: string) {
  expect(maxAbs(a.nll, b.nll), `${what} nll`).toBeLessThanOrEqual(1e-5);
  expect(maxAbs(a.activeCounts, b.activeCounts), `${what} active counts`).toBe(0);
  expect(maxAbs(a.neuronActiveCounts, b.neuronActiveCounts), `${what} neuron counts`).toBe(0);
  expect(!!a.activations, what).toBe(!!b.activations);
  a.activations?.forEach((x, l) => expect(maxAbs(x, b.activations![l]), `${what} act.${l}`).toBeLessThanOrEqual(1e-5));
}

const open = (ckpt: LoadedCheckpoint, o: RunnerOptions) => createRunner(ckpt, { provider: 'cpu', maxSeq: S, ...o }) as Promise<ModelRunner & { streamStats?: StreamStats }>;

describe.each([
  ['llama', 'silu', 0.3],
  ['opt', 'relu', 0.15],
] as const)('%s %s: forward blocks fed their weights as inputs', (family, activation, std) => {
  const dir = writeTinyCheckpoint(path.join(tmp, `${family}-${activation}`), family, { layers: L, activation, std });
  const ckptP = loadCheckpoint(dir);

  test('every mask mode, blocks of 1, 2 and 3 layers: the whole graph and the session form; one session per block shape', async () => {
    const ckpt = await ckptP;
    const whole = await open(ckpt, { execution: 'whole' });
    const modes = everyMaskMode(ckpt.spec.intermediateSize, whole.colNorms, 0.01);
    const req = (i: number) => ({ ids, batch: B, seqLen: S, mode: modes[i], captureActivations: modes[i].kind === 'dense' });
    const want = await Promise.all(modes.map((_, i) => whole.forward(req(i))));
    await whole.dispose();
    for (const k of [1, 2, 3]) {
      const o: RunnerOptions = { execution: 'streamed', blockLayers: k, deviceMemoryBytes: GiB };
      const inp = await open(ckpt, { ...o, pagedWeights: 'inputs' });
      // the session form once (blocks of 2 layers): a session per block costs more here than the fed form
      const ses = k === 2 ? await open(ckpt, { ...o, pagedWeights: 'sessions' }) : undefined;
      try {
        expect(inp.plan!.weightInputs, `k=${k}`).toBe(true);
        expect(inp.plan!.blocks.length).toBe(Math.ceil(L / k));
        expect(inp.plan!.reason).toMatch(/one session per block shape fed each block's weights as inputs \(as asked\)/);
        if (ses) expect(ses.plan!.weightInputs).toBeUndefined();
        const shapes = L % k ? 2 : 1;
        for (let i = 0; i < modes.length; i++) {
          const what = `${modes[i].kind} k=${k}`;
          const before = inp.streamStats!.timeline.filter((e) => e.what === 'create').length;
          const got = await inp.forward(req(i));
          same(got, want[i], `${what} vs whole`);
          if (ses) same(got, await ses.forward(req(i)), `${what} vs sessions`);
          // another mask kind than the call before opens its block shapes' sessions (releasing the other kind's; dense
          // and CETT share one graph), the ends only once
          const created = inp.streamStats!.timeline.filter((e) => e.what === 'create').length - before;
          const kinds = modes.map((m) => (m.kind === 'dense' || m.kind === 'cett' ? 'cett' : m.kind));
          const fresh = i === 0 || kinds[i] !== kinds[i - 1];
          expect(created, what).toBe((fresh ? shapes : 0) + (i === 0 ? 2 : 0));
        }
        // a second call of a kind: no session created, every block's weights read again (block 0's may have been read
        // at the end of the call before, beside its last block: the next call's first block)
        const loads = inp.streamStats!.sessionLoads;
        const reads = inp.streamStats!.weights!.loads;
        same(await inp.forward(req(modes.length - 1)), want[modes.length - 1], `again k=${k}`);
        expect(inp.streamStats!.sessionLoads).toBe(loads);
        expect(inp.streamStats!.weights!.loads - reads).toBeGreaterThanOrEqual(Math.ceil(L / k) - 1);
      } finally {
        await inp.dispose();
        await ses?.dispose();
      }
    }
  });

  // the fed block computes what the block with initializers computes when onnxruntime does not pre-pack them: the only
  // difference between the forms on the CPU is the pre-packed GEMM's summation order (rounding-level; bench pagedab on a
  // 1024-wide model: 2.7e-5 on hidden states of magnitude 43 between the forms, 0 with pre-packing off)
  test('a block fed its weights = the block with initializers un-pre-packed, bit for bit (CETT mask, captured activations)', async () => {
    const ckpt = await ckptP;
    const F = ckpt.spec.intermediateSize;
    const ids64 = new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [B, S]);
    const o = { dtype: 'float32' as const, mode: 'cett' as const, capture: true, maxSeq: S, halfWeights: true };
    const first = await runOnce(buildLlamaGraph(ckpt, { ...o, layers: [0, 1] }), { input_ids: ids64, tau: new ort.Tensor('float32', new Float32Array(L * F), [L, F]) });
    const runner = await open(ckpt, { execution: 'whole' });
    const tau = new Float32Array(L * F);
    runner.colNorms.forEach((c, l) => c.forEach((x, i) => (tau[l * F + i] = 0.01 / x)));
    await runner.dispose();
    const w = new BlockWeights(ckpt, { dtype: 'float32', halfWeights: true });
    try {
      const init = await ort.InferenceSession.create(buildLlamaGraph(ckpt, { ...o, layers: [1, 3] }), { extra: { session: { disable_prepacking: '1' } } } as never);
      const want = await init.run({ input_ids: ids64, hidden_in: first.hidden_out, tau: new ort.Tensor('float32', tau, [L, F]) });
      await init.release();
      const got = await runOnce(buildLlamaGraph(ckpt, { ...o, layers: [0, 2], weightInputs: true }), {
        input_ids: ids64, hidden_in: first.hidden_out, tau: new ort.Tensor('float32', tau.subarray(F, 3 * F), [2, F]), ...(await w.get(1, 3)),
      });
      for (const [g, x] of [['hidden_out', 'hidden_out'], ['active_counts', 'active_counts'], ['act.0', 'act.1'], ['act.1', 'act.2']]) expect(Array.from(got[g].data as Float32Array), g).toEqual(Array.from(want[x].data as Float32Array));
      expect((got.active_counts.data as Float32Array).some((c) => c > 0 && c < F), 'some neurons masked').toBe(true);
    } finally {
      await w.close();
    }
  });

  test('CETT-PPL-1%: forward and search blocks fed as inputs give the whole graph\'s answer', async () => {
    const ckpt = await ckptP;
    const rd = mulberry32(5);
    const data = batchStream(Int32Array.from({ length: 8 * S }, () => Math.floor(rd() * 256)), { seqLen: S, batch: 4 }, 'random ids');
    const o = { p: 1, tol: 1e-3, thresholdMode: 'authors' as const, curveEngine: 'fused' as const };
    const base = { provider: 'cpu' as const, maxSeq: S, batchSeqs: 4 };
    const want = await measureOnRunner(ckpt, data, o, { ...base, execution: 'whole' });
    expect(want.cett).toBeGreaterThan(0.01);
    expect(want.cett).toBeLessThan(0.9);
    for (const k of [1, 3]) {
      const got = await measureOnRunner(ckpt, data, o, { ...base, execution: 'streamed', blockLayers: k, searchBlockLayers: 2, pagedWeights: 'inputs', deviceMemoryBytes: GiB }, (runner) => {
        expect(runner.plan!.weightInputs).toBe(true);
        expect(runner.plan!.search!.weightInputs).toBe(true);
      });
      expect(got.cett, `k=${k}`).toBe(want.cett);
      expect(got.thresholds, `k=${k}`).toEqual(want.thresholds);
      expect(got.activationRatio, `k=${k}`).toBe(want.activationRatio);
      expect(Math.abs(Math.log(got.pplRatio) - Math.log(want.pplRatio)), `k=${k}`).toBeLessThanOrEqual(1e-5);
    }
  });
});

// a bf16 checkpoint in an fp16 graph: its tensors are converted once into the graph cache (the copy the initializers
// point at); the fed blocks read that copy instead of converting every block on every page (7B: 13 GB per pass)
test('tensors stored in another dtype: read from the graph cache\'s converted copy, the same bits as converting them per page', async () => {
  const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'bf16'), 'llama', { layers: L, std: 0.3, dtype: 'BF16' }));
  const o: RunnerOptions = { execution: 'streamed', blockLayers: 2, pagedWeights: 'inputs', deviceMemoryBytes: GiB, dtype: 'float16' };
  const req = { ids, batch: B, seqLen: S, mode: { kind: 'dense' as const }, captureActivations: true };
  const cached = await open(ckpt, { ...o, cacheDir: path.join(tmp, 'bf16-cache') });
  const plain = await open(ckpt, o);
  try {
    const a = await cached.forward(req);
    const b = await plain.forward(req);
    expect(cached.streamStats!.weights!.loads).toBeGreaterThanOrEqual(2);
    expect(cached.streamStats!.weights!.convertedBytes).toBe(0); // every layer tensor read from the cache's copy
    expect(plain.streamStats!.weights!.convertedBytes).toBeGreaterThan(0); // no cache: converted here, per page
    for (const [x, y] of [[a.nll, b.nll], [a.activeCounts, b.activeCounts], ...a.activations!.map((v, l) => [v, b.activations![l]])]) expect(Array.from(x)).toEqual(Array.from(y));
  } finally {
    await cached.dispose();
    await plain.dispose();
  }
});

test('a checkpoint file cut short while open: the forward fails naming the file', async () => {
  const dir = writeTinyCheckpoint(path.join(tmp, 'cut'), 'llama', { layers: L, activation: 'silu', std: 0.3 });
  const ckpt = await loadCheckpoint(dir);
  const runner = await open(ckpt, { execution: 'streamed', blockLayers: 2, pagedWeights: 'inputs', deviceMemoryBytes: GiB });
  try {
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.safetensors'))!;
    // token 0 only: the embedding end's session reads its table in place (onnxruntime maps the checkpoint's bytes), and
    // a row past the cut would be a bus error inside onnxruntime; the layer tensors are read by block-weights.ts
    const call = () => runner.forward({ ids: new Int32Array(B * S), batch: B, seqLen: S, mode: { kind: 'dense' } });
    await call(); // the sessions are open; the blocks' weights are read per call
    fs.truncateSync(path.join(dir, file), 4096);
    await expect(call()).rejects.toThrow(new RegExp(`${file}: the file ends before byte \\d+ \\(tensor layers\\.`));
  } finally {
    await runner.dispose();
  }
});

// the CPU choice: onnxruntime pre-packs constant weights on the CPU and fed inputs cannot be, but a paged session's
// creation (packing included) comes back every pass: the A/B on the 2-core dev machine found the fed blocks no slower
// (BENCHMARKS.md 2026-12-05, bench pagedab), so on the CPU 'auto' feeds wherever the session plan pages and it fits
test('planning on the CPU: wherever a session per block would be paged and the fed blocks fit, auto feeds them', async () => {
  const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'cpu-plan'), 'llama', { layers: L, std: 0.3 }));
  const input = (cap: number, pagedWeights?: 'inputs' | 'sessions'): PlanInput => ({
    spec: ckpt.spec, provider: 'cpu', dtype: 'float32', fused: false, seqLen: S, batchSeqs: 4, searchTokens: 4 * S, execution: 'streamed', blockLayers: 1,
    ...weightBytesByLayer(ckpt, { dtype: 'float32', halfWeights: true }),
    mem: { free: os.freemem(), total: os.totalmem(), source: 'test' }, capBytes: cap, ...(pagedWeights ? { pagedWeights } : {}),
  });
  let fed = 0;
  let resident = 0;
  for (let cap = 16_000; cap < 64e6; cap = Math.ceil(cap * 1.1)) {
    let ses;
    try {
      ses = planExecution(input(cap, 'sessions'));
    } catch {
      continue; // below one layer
    }
    const auto = planExecution(input(cap));
    const inp = planExecution(input(cap, 'inputs'));
    if (ses.residentBlocks === ses.blocks.length) {
      expect(auto.weightInputs, `cap ${cap}`).toBeUndefined(); // nothing paged: sessions, created once
      resident++;
    } else if (inp.weightInputs) {
      expect(auto.weightInputs, `cap ${cap}`).toBe(true);
      expect(auto.peakBytes).toBeLessThanOrEqual(auto.budgetBytes);
      fed++;
    } else expect(auto.weightInputs, `cap ${cap}`).toBeUndefined(); // the double buffer does not fit: sessions
  }
  expect(fed).toBeGreaterThan(0);
  expect(resident).toBeGreaterThan(0);
});


test('planning: the 7B under 16 GiB on CUDA feeds its forward blocks as inputs (auto), within the budget; sessions when asked', () => {
  const layer = LLAMA7B_LAYER_BYTES;
  const input = (extra: Partial<PlanInput>): PlanInput => plan7bInput({ overlap: true, capBytes: 16 * GiB, ...extra });
  const auto = planExecution(input({}));
  expect(auto.mode).toBe('streamed');
  expect(auto.weightInputs).toBe(true);
  expect(auto.search!.weightInputs).toBe(true);
  expect(auto.blocks.length).toBeGreaterThan(1);
  expect(auto.residentBlocks).toBe(new Set(auto.blocks.map(([a, b]) => b - a)).size); // one session per block shape
  expect(auto.peakBytes).toBeLessThanOrEqual(auto.budgetBytes);
  // the block's weights and the ends' are counted, and a chunk's activations
  expect(auto.peakBytes).toBeGreaterThan(auto.blocks[0][1] * layer + 2 * 32000 * 4096 * 2);
  expect(auto.reason).toMatch(/streamed in \d+ block\(s\) of \d+ layer\(s\), one session per block shape fed each block's weights as inputs, \d+ sequence\(s\) per call; the threshold search runs block by block/);
  const ses = planExecution(input({ pagedWeights: 'sessions' }));
  expect(ses.weightInputs).toBeUndefined();
  expect(ses.residentBlocks).toBeLessThan(ses.blocks.length);
  // everything resident as sessions (no paging): sessions stay the choice
  expect(planExecution(input({ capBytes: undefined, execution: 'streamed' })).weightInputs).toBeUndefined();
});
