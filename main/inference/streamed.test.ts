// Streamed block-by-block execution (issue 15) against the whole-model graph on the CPU: the same NLL (≤ 1e-5),
// active counts, captured activations and CETT-PPL-1% (CETT, thresholds, activation ratio) for blocks of 1 layer,
// 2 layers and all layers, gated and non-gated families; a small device-memory cap makes the planner stream (and
// page blocks) with the answer unchanged; a batch cut into chunks gives the uncut numbers.
import { afterAll, describe, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeTinyCheckpoint, type TinyFamily } from '../checkpoint/testing/tiny';
import { loadCheckpoint } from '../checkpoint/index';
import type { LoadedCheckpoint } from '../checkpoint/types';
import { createRunner, type RunnerOptions } from './index';
import type { ForwardResult, MaskMode, ModelRunner } from './runner-types';
import { weightBytesByLayer } from './plan';
import { batchStream } from '../metrics/data';
import { measureOnRunner } from '../metrics/testing/measure';
import { mulberry32 } from '../base/rng';
import { everyMaskMode, maxAbs } from './testing';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-streamed-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const L = 4;
const S = 16;
const B = 3;
const r = mulberry32(7);
const ids = Int32Array.from({ length: B * S }, () => Math.floor(r() * 256));

function same(a: ForwardResult, b: ForwardResult, what: string) {
  expect(maxAbs(a.nll, b.nll), `${what} nll`).toBeLessThanOrEqual(1e-5);
  expect(maxAbs(a.activeCounts, b.activeCounts), `${what} active counts`).toBe(0);
  expect(maxAbs(a.neuronActiveCounts, b.neuronActiveCounts), `${what} neuron counts`).toBe(0);
  expect(!!a.activations).toBe(!!b.activations);
  a.activations?.forEach((x, l) => expect(maxAbs(x, b.activations![l]), `${what} act.${l}`).toBeLessThanOrEqual(1e-5));
}

async function open(ckpt: LoadedCheckpoint, o: RunnerOptions): Promise<ModelRunner> {
  return createRunner(ckpt, { provider: 'cpu', maxSeq: S, ...o });
}

// weight scales where the FFN matters to the loss (CETT-PPL-1% lands inside (0, 1), not at its ends)
const families: [TinyFamily, string, number][] = [
  ['llama', 'silu', 0.3],
  ['gpt2', 'gelu_tanh', 0.15],
  ['opt', 'relu', 0.15],
];

describe.each(families)('%s %s: streamed = whole graph', (family, activation, std) => {
  const dir = writeTinyCheckpoint(path.join(tmp, `${family}-${activation}`), family, { layers: L, activation: activation as never, std });
  const ckptP = loadCheckpoint(dir);

  test('forward in every mask mode, blocks of 1, 2 and all layers', async () => {
    const ckpt = await ckptP;
    const whole = await open(ckpt, { execution: 'whole' });
    expect(whole.plan?.mode).toBe('whole');
    const F = ckpt.spec.intermediateSize;
    const modes = everyMaskMode(F, whole.colNorms, 0.01);
    const want = await Promise.all(modes.map((mode) => whole.forward({ ids, batch: B, seqLen: S, mode, captureActivations: mode.kind === 'dense' })));
    for (const k of [1, 2, L]) {
      const st = await open(ckpt, { execution: 'streamed', blockLayers: k });
    expect(st.plan?.mode).toBe('streamed');
      expect(st.plan?.blocks.length).toBe(Math.ceil(L / k));
      expect(st.searchStep).toBeUndefined(); // the search runs on the host curves
      for (let i = 0; i < modes.length; i++)
        same(await st.forward({ ids, batch: B, seqLen: S, mode: modes[i], captureActivations: modes[i].kind === 'dense' }), want[i], `${modes[i].kind} k=${k}`);
      await st.dispose();
    }
    await whole.dispose();
  });

  test('CETT-PPL-1%: same CETT, thresholds and activation ratio', async () => {
    const ckpt = await ckptP;
    const stream = Int32Array.from({ length: 8 * S }, () => Math.floor(r() * 256));
    const data = batchStream(stream, { seqLen: S, batch: 4 }, 'random ids');
    const o = { p: 1, tol: 1e-3, thresholdMode: 'authors' as const, curveEngine: 'ort' as const };
    const measure = (ro: RunnerOptions) => measureOnRunner(ckpt, data, o, { provider: 'cpu', maxSeq: S, ...ro });
    const want = await measure({ execution: 'whole' });
    expect(want.cett).toBeGreaterThan(0.01);
    expect(want.cett).toBeLessThan(0.9);
    for (const k of [1, 2, L]) {
      const got = await measure({ execution: 'streamed', blockLayers: k });
      expect(got.cett, `k=${k}`).toBe(want.cett);
      expect(maxAbs(got.thresholds, want.thresholds), `k=${k} thresholds`).toBeLessThanOrEqual(1e-6 * Math.max(...want.thresholds.map(Math.abs)));
      expect(got.activationRatio).toBeCloseTo(want.activationRatio, 9);
      expect(got.pplRatio).toBeCloseTo(want.pplRatio, 5);
    }
  });
});

// fp16 graphs (the GPU dtype). One block: the shared dense/CETT graph gives the whole graph's numbers exactly. Two
// blocks: the residual stream crosses the boundary as fp16, as on a GPU, where the whole graph keeps it fp16 too; the
// CPU provider has few fp16 kernels, so there onnxruntime computes the whole graph's residual adds in fp32 and drops
// the Casts between them (and fused GPU graphs normalise an fp32 skip sum): the block boundary then rounds once more,
// within fp16 rounding of the NLL (the tolerance below), and a broken handover would be far outside it.
test('fp16 graphs: one block exact, fp16 hidden states between blocks within fp16 rounding', async () => {
  const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'fp16'), 'llama', { layers: L, std: 0.3, dtype: 'F16' }));
  const whole = await open(ckpt, { execution: 'whole', dtype: 'float16' });
  const one = await open(ckpt, { execution: 'streamed', blockLayers: L, dtype: 'float16' });
  const two = await open(ckpt, { execution: 'streamed', blockLayers: 2, dtype: 'float16' });
  expect(two.dtype).toBe('float16');
  const tau = whole.colNorms.map((c) => c.map((x) => 0.01 / x));
  const modes: MaskMode[] = [{ kind: 'dense' }, { kind: 'cett', tau }];
  for (const mode of modes) {
    const req = { ids, batch: B, seqLen: S, mode, captureActivations: mode.kind === 'dense' };
    const want = await whole.forward(req);
    same(await one.forward(req), want, `fp16 one block ${mode.kind}`);
    const got = await two.forward(req);
    expect(maxAbs(got.nll, want.nll), `fp16 two blocks ${mode.kind}`).toBeLessThan(0.03);
    const wrong = await two.forward({ ...req, ids: ids.map((t) => (t + 1) % 256) });
    expect(maxAbs(wrong.nll, want.nll)).toBeGreaterThan(0.5); // the tolerance tells a wrong input apart
  }
  for (const r of [one, two, whole]) await r.dispose();
});

describe('planning under a device-memory cap', () => {
  test('a small cap makes the planner stream, paging blocks, with the same numbers; chunks give the uncut batch', async () => {
    const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'cap'), 'llama', { layers: L, std: 0.15 }));
    const w = weightBytesByLayer(ckpt, { dtype: 'float32', halfWeights: true });
    const whole = await open(ckpt, {});
    expect(whole.plan?.mode).toBe('whole');
    expect(whole.plan?.reason).toMatch(/fit in/);
    const mode: MaskMode = { kind: 'dense' };
    const want = await whole.forward({ ids, batch: B, seqLen: S, mode, captureActivations: true });
    // room for the embedding, the head, two of the four layers and a little activation: not even one copy of the
    // weights fits, so blocks are paged
    const per = w.layerBytes[0];
    const cap = w.embedBytes + w.headBytes + 2 * per + 60_000;
    // (a session per paged block: the form whose sessions are paged; fed as inputs: streamed-forward-inputs.test.ts)
    const st = (await open(ckpt, { deviceMemoryBytes: cap, pagedWeights: 'sessions' })) as ModelRunner & { streamStats: { sessionLoads: number } };
    expect(st.plan?.mode).toBe('streamed');
    expect(st.plan?.capBytes).toBe(cap);
    expect(st.plan?.reason).toMatch(/streamed in \d+ block/);
    expect(st.plan!.residentBlocks).toBeLessThan(st.plan!.blocks.length); // blocks are paged in
    expect(st.plan!.peakBytes).toBeLessThanOrEqual(cap);
    same(await st.forward({ ids, batch: B, seqLen: S, mode, captureActivations: true }), want, 'capped');
    const loads = st.streamStats.sessionLoads;
    same(await st.forward({ ids, batch: B, seqLen: S, mode, captureActivations: true }), want, 'capped, second call');
    expect(st.streamStats.sessionLoads).toBeGreaterThan(loads); // paged again, not all resident
    await st.dispose();
    // whole, but a batch too large for the room: cut into chunks of one sequence
    const chunked = await open(ckpt, { execution: 'whole', deviceMemoryBytes: 2 * (w.embedBytes + w.headBytes + w.layerBytes.reduce((a, b) => a + b, 0)) + 1 });
    expect(chunked.plan?.chunkSeqs).toBe(1);
    same(await chunked.forward({ ids, batch: B, seqLen: S, mode, captureActivations: true }), want, 'chunked');
    // masks chunk too (per token or per layer), except Top-k per batch, which ranks the whole batch: one call
    const masks: MaskMode[] = [
      { kind: 'cett', tau: whole.colNorms.map((c) => c.map((x) => 0.01 / x)) },
      { kind: 'topk-token', k: 7 },
      { kind: 'topk-batch', fraction: 0.3 },
    ];
    for (const m of masks) same(await chunked.forward({ ids, batch: B, seqLen: S, mode: m }), await whole.forward({ ids, batch: B, seqLen: S, mode: m }), `chunked ${m.kind}`);
    // and the paged streamed runner with chunks of its own
    const paged = await open(ckpt, { deviceMemoryBytes: cap, batchSeqs: B, pagedWeights: 'sessions' });
    expect(paged.plan!.chunkSeqs).toBeLessThan(B);
    for (const m of masks) same(await paged.forward({ ids, batch: B, seqLen: S, mode: m }), await whole.forward({ ids, batch: B, seqLen: S, mode: m }), `paged ${m.kind}`);
    await paged.dispose();
    await chunked.dispose();
    await whole.dispose();
  });
});
