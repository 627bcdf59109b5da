// Issue 19, bounded work: an .onnx checkpoint (a protobuf of up to 2 GiB of inline initializers) is parsed off the
// engine's event loop, in the checkpoint reader's worker (main/checkpoint/open.ts) when it is opened and in the graph
// worker (main/inference/graph-off-thread.ts) when its graph is instrumented for measuring; the engine answers meanwhile and a cancel in the middle of the parse ends it at
// once. The files are made here from the tiny test checkpoint's exported decoder, padded past OFF_THREAD_BYTES with a
// zero initializer written as a hole (a few MB on disk), and deleted after; what is checked is ordering and bytes.
import { afterAll, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProtoSchema, type ModelProto } from 'onnx-buf';
import { Engine } from '../../main/engine/engine';
import { loadCheckpoint, openCheckpoint, summarize } from '../../main/checkpoint/index';
import { OFF_THREAD_BYTES } from '../../main/checkpoint/open';
import { buildOnnxGraphOffThread } from '../../main/inference/graph-off-thread';
import { useHashMemo } from '../../main/checkpoint/hash';
import { writeSparseBytes } from '../../main/checkpoint/testing/sparse';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';
import { buildLlamaGraph } from '../../main/graph/llama-graph';
import { createRunner } from '../../main/inference/index';
import { alongside } from '../helpers/event-loop';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-onnx-worker-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const bytesRead = () => Number(/rchar:\s+(\d+)/.exec(fs.readFileSync('/proc/self/io', 'utf8'))![1]);
const openFds = () => fs.readdirSync('/proc/self/fd').length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const hfDir = writeTinyCheckpoint(path.join(tmp, 'hf'), 'llama', { activation: 'relu', seed: 31 });
const hf = await loadCheckpoint(hfDir);
const exported = () => fromBinary(ModelProtoSchema, buildLlamaGraph(hf, { dtype: 'float32', mode: 'dense', capture: false, maxSeq: 64, plain: true }));

/** model.onnx in a new folder with the checkpoint's JSON files (config, tokenizer) beside it, as optimum lays it out */
function exportFolder(name: string, model: ModelProto): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(hfDir)) if (f.endsWith('.json')) fs.copyFileSync(path.join(hfDir, f), path.join(dir, f));
  writeSparseBytes(path.join(dir, 'model.onnx'), toBinary(ModelProtoSchema, model));
  return path.join(dir, 'model.onnx');
}

/** the export with an unused zero initializer of OFF_THREAD_BYTES (a hole on disk) and `pads` tiny ones (a slow parse) */
function padded(name: string, pads: number): string {
  const m = exported();
  for (let i = 0; i < pads; i++) m.graph!.initializer.push(create(TensorProtoSchema, { name: `pad.${i}`, dims: [1n], dataType: 1, floatData: [i] }));
  m.graph!.initializer.push(create(TensorProtoSchema, { name: 'pad.zeros', dims: [BigInt(OFF_THREAD_BYTES / 4)], dataType: 1, rawData: new Uint8Array(OFF_THREAD_BYTES) }));
  return exportFolder(name, m);
}

const small = exportFolder('small', exported());
const big = padded('big', 0);
// 120,000 initializers: a parse of a few tenths of a second, long enough to cancel in the middle of
const slow = padded('slow', 120_000);
const slowSize = fs.statSync(slow).size;

test('an .onnx file opened in the worker gives the card, notices and W_out of the same model opened here, and its own content hash', async () => {
  useHashMemo(undefined);
  const here = await openCheckpoint(big, { offThread: 'never' });
  const there = await openCheckpoint(big);
  expect(fs.statSync(big).size).toBeGreaterThanOrEqual(OFF_THREAD_BYTES); // 'auto' goes to the worker
  expect(there.contentHash).toMatch(/^[0-9a-f]{64}$/);
  expect(there.contentHash).toBe(here.contentHash);
  expect(summarize(there)).toEqual(summarize(here));
  expect(there.tokenizer?.encode('the fox')).toEqual(here.tokenizer?.encode('the fox'));
  // W_out from the byte ranges the worker found equals the model's own down projections (the small file, here)
  const ref = await openCheckpoint(small, { offThread: 'never' });
  expect([...there.weights.keys()]).toEqual([...ref.weights.keys()]);
  expect(there.spec.parameters).toBe(ref.spec.parameters); // the padding is read by no node: not a parameter
  for (const [k, w] of ref.weights) expect(Array.from(there.weights.get(k)!.toFloat32())).toEqual(Array.from(w.toFloat32()));
  // errors come back with their code and message
  const broken = path.join(tmp, 'big', 'broken.onnx');
  fs.writeFileSync(broken, Buffer.from([0x0a, 0xff, 0xff, 0x01]));
  const a = await openCheckpoint(broken, { offThread: 'never' }).catch((e: Error) => e);
  const b = await openCheckpoint(broken, { offThread: 'always' }).catch((e: Error) => e);
  expect(b).toMatchObject({ code: 'BAD_CHECKPOINT', message: (a as Error).message });
  fs.rmSync(broken);
});

test('the graph of a large .onnx file is instrumented in the worker: the runner gives the same numbers as on a small copy', async () => {
  const r1 = await createRunner(await openCheckpoint(small), { provider: 'cpu' });
  const r2 = await createRunner(await openCheckpoint(big), { provider: 'cpu' });
  const ids = Int32Array.from({ length: 16 }, (_, i) => (i * 37 + 5) % 256);
  for (const mode of [{ kind: 'dense' } as const, { kind: 'fat', eps: 0.02 } as const]) {
    const a = await r1.forward({ ids, batch: 2, seqLen: 8, mode });
    const b = await r2.forward({ ids, batch: 2, seqLen: 8, mode });
    expect(Array.from(b.nll)).toEqual(Array.from(a.nll));
    expect(Array.from(b.activeCounts)).toEqual(Array.from(a.activeCounts));
  }
  expect(r2.colNorms).toEqual(r1.colNorms);
  await r1.dispose();
  await r2.dispose();
});

test('while a large .onnx file is parsed, the engine answers another request and its event loop keeps turning', async () => {
  useHashMemo(undefined);
  const e = new Engine({ paths: { userData: path.join(tmp, 'ud'), cache: path.join(tmp, 'cache') }, log: { info() {}, warn() {}, error() {} } });
  const { result: card, doneMs, otherMs, stall } = await alongside(() => e.call('checkpoints.inspect', { path: slow }), () => e.call('sessions.recent', {}));
  expect(card).toMatchObject({ layers: hf.spec.numLayers, intermediateSize: hf.spec.intermediateSize });
  expect(otherMs).toBeLessThan(doneMs); // answered while the open was still running
  expect(stall).toBeLessThan(doneMs / 6); // nothing ran long on this thread (the parse alone is a third of the open)
  await e.dispose();
});

test('cancel in the middle of the parse: the open and the graph build end CANCELLED at once, nothing left open or reading', async () => {
  useHashMemo(undefined);
  for (const start of [
    (signal: AbortSignal) => openCheckpoint(slow, { signal, offThread: 'always' }),
    (signal: AbortSignal) => buildOnnxGraphOffThread(slow, { mode: 'dense', capture: false }, signal),
  ]) {
    const fds = openFds();
    const read0 = bytesRead();
    const ac = new AbortController();
    const p = start(ac.signal).then(
      () => 'done',
      (e: { code?: string }) => e.code,
    );
    while (bytesRead() - read0 < slowSize) await sleep(2); // read through: the worker is parsing
    ac.abort();
    expect(await p).toBe('CANCELLED');
    expect(bytesRead() - read0).toBeLessThan(2 * slowSize); // the open's hash (a second read) never started
    expect(openFds()).toBe(fds);
    const r1 = bytesRead();
    await sleep(200);
    expect(bytesRead() - r1).toBeLessThan(1 << 20);
  }
  // and the file opens afterwards
  await expect(openCheckpoint(slow, { offThread: 'always' })).resolves.toMatchObject({ format: 'onnx' });
}, 60_000);
