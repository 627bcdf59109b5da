/**
 * The checkpoint reader's worker thread (open.ts): opens one checkpoint completely (every check, the NaN/Inf scan, the
 * content hash) off the engine's event loop and posts the content hash and notices back, or the error. Stops within
 * one chunk when the interrupt flag is set (interrupt.ts). Bundled as checkpoint-worker.cjs (scripts/build*.mjs).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { toErrorPayload } from '../api/errors';
import { loadCheckpoint } from './load';
import { useHashMemo } from './hash';
import { watchInterrupt } from './interrupt';
import type { WorkerInput, WorkerReply } from './open';

const input = workerData as WorkerInput;
watchInterrupt(input.interrupt);
useHashMemo(input.memoFile);
const post = (r: WorkerReply) => parentPort!.postMessage(r);
loadCheckpoint(input.path, { family: input.family }).then(
  (c) => post({ ok: true, contentHash: c.contentHash, notices: c.notices }),
  (e: unknown) => post({ ok: false, error: toErrorPayload(e) }),
);
