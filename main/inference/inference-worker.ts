/**
 * The inference worker thread (runner-off-thread.ts): opens a Hugging Face folder lazily (config and headers, no weight
 * byte) or parses an .onnx file again (main/checkpoint/onnx.ts inspectOnnx: every check of its open, no tokenizer), checks it finds the tensors the engine's thread has, runs createRunner over it (index.ts: the same graphs,
 * cache entries and sessions as the engine's thread would make), reports the runner's facts, then answers forward,
 * searchStep, releaseForward and dispose calls, a result's arrays transferred. A cancel aborts its runner's signal,
 * releases the sessions and ends the thread; calls queued behind it are not run; the interrupt flag stops a weight read within one MiB
 * (main/checkpoint/interrupt.ts). Bundled as inference-worker.cjs (scripts/build.mjs workerEntryPoints).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LabError, toErrorPayload } from '../api/errors';
import { countNestedCalls } from '../base/worker-thread';
import { loadCheckpoint } from '../checkpoint/load';
import { inspectOnnx, onnxCheckpoint } from '../checkpoint/onnx';
import { watchInterrupt } from '../checkpoint/interrupt';
import { checkpointSignature } from './graph-off-thread';
import { createRunner } from './index';
import { resultBuffers, type InferenceWorkerInput, type InferenceWorkerReply, type RunnerCall, type RunnerFacts } from './runner-off-thread';
import type { ForwardResult, ModelRunner } from './runner-types';

const input = workerData as InferenceWorkerInput;
watchInterrupt(input.interrupt);
// a streamed runner's block-host workers count their calls in flight where the engine's backstop sees them
countNestedCalls(input.nested);
const abort = new AbortController();
const port = parentPort!;
let runner: ModelRunner | undefined;

async function open(): Promise<RunnerFacts> {
  const ckpt =
    input.format === 'onnx'
      ? await onnxCheckpoint(input.path, inspectOnnx(input.path, { family: input.family }), '', null)
      : await loadCheckpoint(input.path, { family: input.family, hash: false, scanFinite: false, tokenizer: null });
  if (checkpointSignature(ckpt) !== input.signature)
    throw new LabError('BAD_CHECKPOINT', `${input.path}: the weight files changed since the checkpoint was opened; open it again`);
  ckpt.contentHash = input.contentHash; // the engine's hash of these very files: the graph cache's keys are its keys
  const r = await createRunner(ckpt, { ...input.options, signal: abort.signal });
  runner = r;
  return {
    spec: r.spec,
    provider: r.provider,
    dtype: r.dtype,
    fallbackReasons: r.fallbackReasons,
    colNorms: r.colNorms,
    ...(r.plan ? { plan: r.plan } : {}),
    ...(r.sessionTimings ? { sessionTimings: r.sessionTimings } : {}),
    searchStep: !!r.searchStep,
    releaseForward: !!r.releaseForward,
  };
}

const fail = (id: number, e: unknown) => port.postMessage({ id, ok: false, error: toErrorPayload(e), lab: e instanceof LabError } satisfies InferenceWorkerReply);
/** the thread ends once the message posted just before has left (exit right after postMessage could lose it) */
const exit = () => setImmediate(() => process.exit(0));

const opening = open();
opening.then(
  (facts) => port.postMessage({ id: 0, ok: true, facts } satisfies InferenceWorkerReply),
  (e: unknown) => {
    fail(0, e);
    exit();
  },
);

/**
 * Whether the engine has told this worker to stop: its cancel message may still wait in the queue behind calls posted
 * before it, but the interrupt flag is raised before that message is posted (runner-off-thread.ts `tell`), so a call
 * that starts after the cancel is never run (each would compute a whole forward pass whose answer is dropped).
 */
const stopping = () => abort.signal.aborted || Atomics.load(input.interrupt, 0) !== 0;

async function answer(m: Exclude<RunnerCall, { op: 'cancel' }>): Promise<void> {
  try {
    await opening;
    if (stopping()) return void port.postMessage({ settled: m.id }); // queued before the cancel: not run
    const r = runner!;
    let result: ForwardResult | undefined;
    if (m.op === 'forward') result = await r.forward(m.req);
    else if (m.op === 'searchStep') result = await r.searchStep!(m.req);
    else if (m.op === 'releaseForward') await r.releaseForward?.();
    else await r.dispose();
    if (abort.signal.aborted) return void port.postMessage({ settled: m.id }); // cancelled meanwhile: only that it ended
    port.postMessage({ id: m.id, ok: true, result, ...(r.sessionTimings ? { sessionTimings: r.sessionTimings } : {}) } satisfies InferenceWorkerReply, resultBuffers(result));
    if (m.op === 'dispose') exit();
  } catch (e) {
    if (!abort.signal.aborted) fail(m.id, e);
    else port.postMessage({ settled: m.id });
  }
}

/**
 * Calls run one after another in the order they came: onnxruntime-node starts a session's run from setImmediate, so
 * calls started as their messages arrive would all be under way before a cancel queued behind them is read, and each
 * would compute to its end. Each waits for the one before it and, when its turn comes after a cancel, is not run.
 */
let queue: Promise<void> = Promise.resolve();

port.on('message', (m: RunnerCall) => {
  if (m.op !== 'cancel') return void (queue = queue.then(() => answer(m)));
  // the job was cancelled: no graph is built or session kept from here; once the call in progress (if any) has
  // ended, the sessions are released and the thread ends
  abort.abort();
  void queue
    .then(() => opening)
    .catch(() => undefined)
    .then(() => runner?.dispose())
    .catch(() => undefined)
    .then(exit);
});
