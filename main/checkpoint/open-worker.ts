/**
 * The checkpoint reader's worker thread (open.ts): opens one checkpoint completely (every check, the NaN/Inf scan, the
 * content hash; an .onnx file's parse) off the engine's event loop and posts the content hash and notices back (and an
 * .onnx file's facts), or the error; or instruments an .onnx file for measuring (open.ts buildOnnxGraphOffThread). Stops
 * within one chunk when the interrupt flag is set (interrupt.ts), or is ended at once while it holds no file. Bundled as checkpoint-worker.cjs (scripts/build*.mjs).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { toErrorPayload } from '../api/errors';
import { loadCheckpoint } from './load';
import { hashFiles, useHashMemo } from './hash';
import { inspectOnnx, instrumentedOnnx } from './onnx';
import { watchInterrupt } from './interrupt';
import type { WorkerInput, WorkerReply } from './open';

const input = workerData as WorkerInput;
watchInterrupt(input.interrupt);
useHashMemo(input.memoFile);
const post = (r: WorkerReply) => parentPort!.postMessage(r);
async function open(): Promise<WorkerReply> {
  if (input.graph) {
    const g = instrumentedOnnx(input.path, input.graph);
    return { ok: true, graph: g.bytes, locations: g.locations };
  }
  if (input.path.toLowerCase().endsWith('.onnx')) {
    // parsed here, once: the engine's thread builds the checkpoint from these facts (open.ts), never parsing the file
    const onnx = inspectOnnx(input.path, { family: input.family });
    return { ok: true, contentHash: await hashFiles(onnx.hashed), notices: onnx.notices, onnx };
  }
  const c = await loadCheckpoint(input.path, { family: input.family });
  return { ok: true, contentHash: c.contentHash, notices: c.notices };
}
open().then(
  (r) => parentPort!.postMessage(r, 'graph' in r ? [r.graph.buffer as ArrayBuffer] : []), // the graph's bytes are moved, not copied
  (e: unknown) => post({ ok: false, error: toErrorPayload(e) }),
);
