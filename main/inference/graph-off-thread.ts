/**
 * Graph builds and weight conversions of a Hugging Face checkpoint in a worker thread (graph-worker.ts), so the
 * engine's event loop keeps answering its other requests (sessions.*, checkpoints.inspect, runs.list, cancel …) while
 * a model's weights are decoded, converted (bf16 → fp16, fp32 → fp16, pickle `.bin` tensors) and written: at ≈ 7 ms
 * per MiB on the 2-core dev machine that is seconds to minutes for large models. graph-store.ts decides what goes
 * there (GRAPH_OFF_THREAD_BYTES).
 *
 * The worker opens the same folder lazily (config and headers: no weight byte, no hash, no scan) and checks that it
 * finds the very tensors this thread has (checkpointSignature); it then runs the same code as this thread would
 * (writeConverted, buildGraph), so its files and bytes are the same. The graph's bytes come back transferred, not
 * copied.
 *
 * Cancel (`signal`): the worker is told to stop (main/checkpoint/interrupt.ts: the weight reads check the flag every
 * MiB, each tensor conversion before it starts) and unwinds through its `finally` blocks, closing every file it
 * opened; a worker that does not stop within 2 s is ended, one that holds no file (an .onnx parse or build) at once
 * (main/base/worker-thread.ts). The promise settles only when the worker has exited, so a caller that then removes the
 * staging folder removes everything the build wrote.
 *
 * Errors keep their form: a LabError in the worker is the same LabError here (code, message naming the file), any
 * other error an Error with the same message (graph-store.ts rebuilds a damaged cache entry on those).
 */
import path from 'node:path';
import { LabError, labErrorFrom, type ErrorPayload } from '../api/errors';
import { workerScriptFor } from '../base/worker-script';
import { runWorkerThread } from '../base/worker-thread';
import type { LoadedCheckpoint, StoredBytes } from '../checkpoint/types';
import type { ExternalTarget } from '../graph/llama-graph';
import type { GraphRecipe } from '../graph/recipe';
import type { InstrumentOptions } from '../graph/instrument-onnx';

/**
 * What the worker does: write the converted weights of a plan to `file`, build a graph, or instrument the .onnx file at
 * `path` for measuring (main/graph/instrument-onnx.ts instrumentedOnnx: buildOnnxGraphOffThread).
 */
export type GraphJob =
  | { op: 'convert'; dtype: 'float32' | 'float16'; halfWeights: boolean; refs: boolean; file: string }
  | { op: 'graph'; recipe: GraphRecipe; external?: ExternalTarget }
  | { op: 'onnx'; instrument: InstrumentOptions };

export interface GraphWorkerInput {
  path: string;
  /** the checkpoint's family and checkpointSignature (a Hugging Face folder's jobs: the worker refuses to build from
   * anything else); an .onnx job parses the file itself and has neither */
  family?: LoadedCheckpoint['spec']['family'];
  signature?: string;
  /** Int32Array over a SharedArrayBuffer: [0] !== 0 asks the worker to stop; [1] !== 0: it holds no file (main/checkpoint/interrupt.ts) */
  interrupt: Int32Array;
  job: GraphJob;
}

export type GraphWorkerReply =
  | { ok: true; converted?: Map<string, StoredBytes>; graph?: Uint8Array; locations?: string[] }
  | { ok: false; error: ErrorPayload; lab: boolean };

/**
 * What a graph build reads of a checkpoint: its spec and every tensor's name, shape, dtype and stored bytes (file,
 * offset, length). Two opens of unchanged files give the same signature.
 */
export function checkpointSignature(ckpt: LoadedCheckpoint): string {
  const tensors = [...ckpt.weights].map(([name, t]) => [name, t.shape, t.dtype, t.stored?.() ?? null]);
  return JSON.stringify([ckpt.path, ckpt.format, ckpt.spec, tensors]);
}

/** Whether a worker can open this checkpoint again by itself (a Hugging Face folder on disk). */
export function canBuildOffThread(ckpt: LoadedCheckpoint): boolean {
  return ckpt.format === 'hf';
}

/** The worker's script: graph-worker-dev.mjs (tsx) beside this file from the sources, graph-worker.cjs beside a bundle. */
export function graphWorkerScript(here: string = import.meta.url): string {
  return workerScriptFor(here, 'graph-worker-dev.mjs', 'graph-worker.cjs');
}

const cancelled = () => new LabError('CANCELLED', 'the measurement was cancelled');

/** Runs `job` over `ckpt`'s files in the graph worker; rejects CANCELLED (once the worker has exited) when `signal` fires. */
export function runGraphJob(ckpt: LoadedCheckpoint, job: GraphJob, signal?: AbortSignal): Promise<{ converted?: Map<string, StoredBytes>; graph?: Uint8Array }> {
  const what = `${job.op === 'convert' ? 'converting the weights' : 'building a graph'} of ${ckpt.path}`;
  return startWorker({ path: ckpt.path, family: ckpt.spec.family, signature: checkpointSignature(ckpt), job }, signal, what);
}

/**
 * An .onnx file instrumented for measuring (parse, add the mask and count outputs, serialise) in the graph worker: for a
 * large file that is seconds of work the engine's thread does not wait on. The worker parses the file itself (nothing of
 * the opened checkpoint is needed); the bytes come back transferred, with the model's external-data locations. `signal`
 * ends the worker at once while it parses or builds (it holds no file then) and rejects CANCELLED.
 */
export async function buildOnnxGraphOffThread(file: string, instrument: InstrumentOptions, signal?: AbortSignal): Promise<{ bytes: Uint8Array; locations: string[] }> {
  const r = await startWorker({ path: path.resolve(file), job: { op: 'onnx', instrument } }, signal, `building the graph of ${file}`);
  return { bytes: r.graph!, locations: r.locations ?? [] };
}

function startWorker(job: Omit<GraphWorkerInput, 'interrupt'>, signal: AbortSignal | undefined, what: string): Promise<{ converted?: Map<string, StoredBytes>; graph?: Uint8Array; locations?: string[] }> {
  // the worker stops before its next tensor (its files closed), or at once while it holds no file (an .onnx parse or build)
  const interrupt = new Int32Array(new SharedArrayBuffer(8));
  return runWorkerThread<Extract<GraphWorkerReply, { ok: true }>, Extract<GraphWorkerReply, { ok: false }>>(graphWorkerScript(), { ...job, interrupt } satisfies GraphWorkerInput, {
    name: 'the graph builder',
    what,
    interrupt,
    signal,
    cancelled,
    failed: (r) => (r.lab ? labErrorFrom(r.error) : new Error(r.error.message)),
    internal: (m) => new LabError('INTERNAL', m),
  });
}
