// Issue 19: an .onnx checkpoint's runner in the inference worker (runner-off-thread.ts): the worker parses the same file
// again, refuses one that changed since it was opened, and gives bit for bit the runner of the engine's thread; a cancel
// during a long call answers at once while the event loop turns.
import { afterAll, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCheckpoint } from '../checkpoint/load';
import { writeTinyCheckpoint, type TinyOptions } from '../checkpoint/testing/tiny';
import { buildLlamaGraph } from '../graph/llama-graph';
import { mulberry32 } from '../base/rng';
import { stallMeter } from '../../test/helpers/event-loop';
import { createRunner } from './index';
import { openRunnerOffThread, parameterCount, RUNNER_OFF_THREAD_WORK, runnerOffThread } from './runner-off-thread';
import { everyMaskMode } from './testing';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-onnx-worker-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const r = mulberry32(5);

/** a tiny llama exported as a plain decoder (input_ids → logits) in an export folder with its JSON files; model.onnx's path */
async function exported(name: string, o: TinyOptions): Promise<string> {
  const hfDir = writeTinyCheckpoint(path.join(tmp, `${name}-hf`), 'llama', o);
  const hf = await loadCheckpoint(hfDir);
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(hfDir)) if (f.endsWith('.json')) fs.copyFileSync(path.join(hfDir, f), path.join(dir, f));
  fs.writeFileSync(path.join(dir, 'model.onnx'), buildLlamaGraph(hf, { dtype: 'float32', mode: 'dense', capture: false, maxSeq: 256, plain: true }));
  return path.join(dir, 'model.onnx');
}

test('an .onnx runner in the worker = the runner here, bit for bit; a file changed since its open is refused', async () => {
  const file = await exported('relu', { layers: 2, activation: 'relu', std: 0.3, seed: 3 });
  const ckpt = await loadCheckpoint(file);
  expect(ckpt.format).toBe('onnx');
  const S = 16;
  const B = 3;
  const ids = Int32Array.from({ length: B * S }, () => Math.floor(r() * 256));
  const o = { provider: 'cpu' as const, maxSeq: S, batchSeqs: B };
  const here = await createRunner(ckpt, o);
  const there = await openRunnerOffThread(ckpt, o);
  try {
    for (const k of ['spec', 'provider', 'dtype', 'fallbackReasons'] as const) expect(there[k], k).toEqual(here[k]);
    expect(there.colNorms.map((c) => bytes(c).toString('hex'))).toEqual(here.colNorms.map((c) => bytes(c).toString('hex')));
    for (const mode of everyMaskMode(ckpt.spec.intermediateSize, here.colNorms, 0.01))
      for (const captureActivations of [false, true]) {
        const req = { ids, batch: B, seqLen: S, mode, captureActivations };
        const [a, b] = [await there.forward(req), await here.forward(req)];
        const what = `${mode.kind}${captureActivations ? '+capture' : ''}`;
        for (const k of ['nll', 'activeCounts', 'neuronActiveCounts'] as const) expect(bytes(a[k]).equals(bytes(b[k])), `${what} ${k}`).toBe(true);
        expect(a.activations?.length, what).toBe(b.activations?.length);
        a.activations?.forEach((x, l) => expect(bytes(x).equals(bytes(b.activations![l])), `${what} act.${l}`).toBe(true));
      }
  } finally {
    await Promise.all([here.dispose(), there.dispose()]);
  }
  // another export (3 layers) written over the file: the worker parses it and refuses it
  fs.copyFileSync(await exported('other', { layers: 3, activation: 'relu', seed: 4 }), file);
  await expect(openRunnerOffThread(ckpt, o)).rejects.toMatchObject({ code: 'BAD_CHECKPOINT', message: `${file}: the weight files changed since the checkpoint was opened; open it again` });
});

test('a large .onnx runner goes to the worker (its parameters from the card); a cancel during a long call answers at once', async () => {
  // 2.6 M parameters: a dense call with the activations captured, 4 × 256 tokens, takes a second or more here
  const file = await exported('long', { hidden: 128, layers: 2, intermediate: 512, heads: 2, vocab: 8000, maxPositions: 256 });
  const ckpt = await loadCheckpoint(file, { hash: false });
  // the weights map of an .onnx checkpoint holds only W_out: the card's count (every initializer) decides
  expect(parameterCount(ckpt)).toBe(ckpt.spec.parameters);
  expect(ckpt.spec.parameters).toBeGreaterThan(2 * 8000 * 128);
  expect(runnerOffThread(ckpt, { batchSeqs: 4, maxSeq: 256 })).toBe(true);
  expect(runnerOffThread(ckpt, { batchSeqs: 1, maxSeq: Math.floor(RUNNER_OFF_THREAD_WORK / ckpt.spec.parameters) })).toBe(false);
  const ac = new AbortController();
  const runner = await openRunnerOffThread(ckpt, { provider: 'cpu', maxSeq: 256, batchSeqs: 4, signal: ac.signal });
  const long = Int32Array.from({ length: 4 * 256 }, () => Math.floor(r() * 8000));
  const meter = stallMeter();
  const started = performance.now();
  const calls = [0, 1, 2].map(() => runner.forward({ ids: long, batch: 4, seqLen: 256, mode: { kind: 'dense' }, captureActivations: true }));
  let settled = 0;
  for (const c of calls) void c.catch(() => undefined).finally(() => settled++);
  await new Promise((res) => setTimeout(res, 300));
  expect(settled).toBeLessThan(3); // still computing in the worker
  let turned = false;
  setImmediate(() => (turned = true));
  ac.abort();
  const errors = await Promise.all(calls.map((c) => c.then(() => undefined, (e: unknown) => e)));
  // at once: in the same turn of the event loop as the cancel, not after the worker's native call
  expect(turned).toBe(false);
  const stall = meter.stop();
  expect(errors.at(-1)).toMatchObject({ code: 'CANCELLED' });
  await runner.dispose();
  // the calls ran on the worker's thread: the loop's longest gap is a small part of the time the worker's thread was
  // held (from the first call to the worker's exit, this run, beside the same load); on this thread a call (a second
  // or more, at least 300 ms: it was unsettled then) would have stopped the loop for all of it
  const heldMs = performance.now() - started;
  expect(stall).toBeLessThan(heldMs / 4);
});
