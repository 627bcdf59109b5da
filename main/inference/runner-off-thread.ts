/**
 * A model's runner in a worker thread of its own (the inference worker, inference-worker.ts), so the engine's event
 * loop keeps answering its other requests (runs.cancel, runs.active, sessions.* …) while onnxruntime computes:
 * onnxruntime-node's `session.run()` and `InferenceSession.create()` are synchronous on the thread that calls them,
 * and one dense batch of a 768×12 LLaMA (4 × 1024 tokens) held the 2-core dev machine's engine for 41.7 s in one piece.
 *
 * The worker opens the same Hugging Face folder lazily (config and headers, no weight byte), or parses the same .onnx
 * file (its graph, the down projections' byte ranges; no tokenizer), checks that it finds the very tensors this thread
 * has (graph-off-thread.ts checkpointSignature), takes this thread's content hash (the graph cache's keys are the same),
 * and runs createRunner there (index.ts: the same graphs, sessions and plan). What comes back
 * is a ModelRunner whose calls are messages: the request's ids are copied (small), the result's arrays transferred
 * (the activations a CETT search captures are large and cross once, never copied). spec, provider, dtype,
 * fallbackReasons, colNorms and plan are the worker's runner's; sessionTimings is updated after each call.
 *
 * Cancel (`signal`, the job's): every pending call rejects CANCELLED at once; the worker is told to stop (its own
 * signal aborts: no graph is built and no session kept after it, a build in the graph worker stops, the interrupt flag
 * stops a weight read within one MiB, main/checkpoint/interrupt.ts; calls queued behind the one in progress are not
 * run, inference-worker.ts), releases its sessions and exits. A native call in
 * progress cannot be interrupted: it finishes by itself on the worker's thread, and nothing it computed is delivered or
 * written after the cancel. The worker is never terminated while one may be in progress: terminating a thread inside
 * onnxruntime-node's run() or session creation aborts the whole process (`terminate called after throwing an instance of
 * 'Napi::Error'`, every time on Node 20), and so does process.exit() then; only a worker with no call in flight that has
 * not exited 5 s after the cancel is terminated, and not while a streamed runner's block-host worker inside it is in a
 * call (main/base/worker-thread.ts WorkerLifetime). Before the process exits, settleInferenceWorkers() stops every worker
 * and waits for its native call to end (main/server/cli.ts, bin/sparsity-lab, main/cluster/task.ts). An open in progress rejects CANCELLED when
 * the worker has exited (as the graph worker's jobs do): a caller that then removes a staging folder removes all it wrote;
 * the job's answer does not wait for it (main/jobs/runner.ts whenAborted).
 *
 * Errors keep their form: a LabError in the worker is the same LabError here (code, message naming the file); a worker
 * that stops without answering rejects its pending calls INTERNAL, naming what it was doing.
 *
 * Which runs go there: runnerOffThread (the model's parameters × the tokens of one call; small models stay here, where
 * the worker's start would cost more than their calls block).
 */
import { Worker } from 'node:worker_threads';
import { LabError, labErrorFrom, type ErrorPayload } from '../api/errors';
import { workerScriptFor } from '../base/worker-script';
import { settleWorkerThreads, WorkerLifetime } from '../base/worker-thread';
import type { LoadedCheckpoint } from '../checkpoint/types';
import { checkpointSignature } from './graph-off-thread';
import type { RunnerOptions } from './index';
import type { ExecutionPlan } from './plan';
import type { ProviderName } from './providers';
import type { ForwardRequest, ForwardResult, ModelRunner, SearchStepRequest, SearchStepResult, SessionTiming } from './runner-types';

/**
 * Parameters × tokens per call from which a model's runner runs in the inference worker. Measured on the 2-core dev
 * machine (2026-12-04, CPU, fp32 graphs, in process, other jobs running; llama checkpoints, B × S tokens per call):
 *   2.6 M parameters × 4 × 256 = 2.6·10^9: dense forward 0.2 s, with the activations captured 0.5 s, fused search step 2.7 s
 *   21 M × 4 × 256 = 2.1·10^10: 0.6 s, 1.8 s, 5.4 s;   50 M × 4 × 512 = 10^11: 7 s, 3.4 s, 5.9 s
 *   162 M (768 × 12, 32k vocabulary) × 4 × 1024 = 6.6·10^11: the first dense batch held the engine 41.7 s
 * From 10^9 a dense call holds its thread ≈ 0.1 s and a search step about 1 s, and a measurement makes tens to hundreds
 * of calls: such runners go to the worker. Its start costs ≈ 0.1 s bundled (≈ 0.4–1.7 s from the sources through tsx),
 * once per opened runner, more than the calls of a smaller model block: the tiny test checkpoints (≈ 10^4–10^5
 * parameters × ≈ 10^2 tokens) and the demo models (357 k parameters × 4 × 256 tokens by default: 3.7·10^8) stay here.
 */
export const RUNNER_OFF_THREAD_WORK = 1e9;

/** A checkpoint's parameters: the elements of every tensor it holds (an .onnx file's: its initializers', from the card). */
export function parameterCount(ckpt: LoadedCheckpoint): number {
  if (ckpt.format === 'onnx') return ckpt.spec.parameters; // its weights map holds the down projections only
  let n = 0;
  for (const t of ckpt.weights.values()) n += t.shape.reduce((a, b) => a * b, 1);
  return n;
}

/**
 * Whether the runner for `ckpt` with these options runs in the inference worker: 'always' / 'never' force it (tests);
 * 'auto' when parameters × tokens per call reach RUNNER_OFF_THREAD_WORK. The worker opens a Hugging Face folder or an
 * .onnx file again by itself.
 */
export function runnerOffThread(ckpt: LoadedCheckpoint, opts: { maxSeq?: number; batchSeqs?: number }, mode: 'auto' | 'always' | 'never' = 'auto'): boolean {
  if (mode === 'never' || (ckpt.format !== 'hf' && ckpt.format !== 'onnx')) return false;
  if (mode === 'always') return true;
  const tokensPerCall = (opts.batchSeqs ?? 1) * (opts.maxSeq ?? 1024);
  return parameterCount(ckpt) * tokensPerCall >= RUNNER_OFF_THREAD_WORK;
}

/**
 * Stops every inference worker of this thread, and the block-host workers of streamed runners on it, and waits until
 * each has exited (a native call in progress ends by itself first), at most `limitMs`: what to await before
 * process.exit(), which aborts the process while a worker is inside onnxruntime. True when all have exited.
 * (main/base/worker-thread.ts keeps the register of every such worker.)
 */
export function settleInferenceWorkers(limitMs = 30_000): Promise<boolean> {
  return settleWorkerThreads(limitMs);
}

/** after a cancel, how long a worker with no call in flight may take to exit before it is terminated (tests shorten it) */
export const STOP_GRACE = { ms: 5000 };

/** createRunner's options that cross to the worker (the signal stays here; the worker has its own) */
export type WorkerRunnerOptions = Omit<RunnerOptions, 'signal'>;

export interface InferenceWorkerInput {
  path: string;
  format: LoadedCheckpoint['format'];
  family: LoadedCheckpoint['spec']['family'];
  signature: string;
  contentHash: string;
  options: WorkerRunnerOptions;
  /** Int32Array over a SharedArrayBuffer: [0] !== 0 asks the worker to stop (main/checkpoint/interrupt.ts) */
  interrupt: Int32Array;
  /** Int32Array over a SharedArrayBuffer: [0] the calls in flight of the worker's own block-host workers (a streamed runner's) */
  nested: Int32Array;
}

/** what the worker's runner is (its ready message) */
export interface RunnerFacts {
  spec: ModelRunner['spec'];
  provider: ProviderName;
  dtype: ModelRunner['dtype'];
  fallbackReasons: string[];
  colNorms: Float32Array[];
  plan?: ExecutionPlan;
  sessionTimings?: SessionTiming[];
  searchStep: boolean;
  releaseForward: boolean;
}

export type RunnerCall =
  | { id: number; op: 'forward'; req: ForwardRequest }
  | { id: number; op: 'searchStep'; req: SearchStepRequest }
  | { id: number; op: 'releaseForward' | 'dispose' }
  | { op: 'cancel' };

export type InferenceWorkerReply =
  | { id: 0; ok: true; facts: RunnerFacts }
  | { id: number; ok: true; result?: ForwardResult | SearchStepResult; sessionTimings?: SessionTiming[] }
  | { id: number; ok: false; error: ErrorPayload; lab: boolean };

/** The worker's script: inference-worker-dev.mjs (tsx) beside this file from the sources, inference-worker.cjs beside a bundle. */
export function inferenceWorkerScript(here: string = import.meta.url): string {
  return workerScriptFor(here, 'inference-worker-dev.mjs', 'inference-worker.cjs');
}

/** The ArrayBuffers of a result's arrays, each once (they cross transferred, not copied). */
export function resultBuffers(r: ForwardResult | undefined): ArrayBuffer[] {
  if (!r) return [];
  const arrays: ArrayBufferView[] = [r.nll, r.activeCounts, r.neuronActiveCounts, ...(r.activations ?? [])];
  const s = r as Partial<SearchStepResult>;
  for (const a of [s.eps, s.gridStart, s.gridEnd]) if (a) arrays.push(a);
  return [...new Set(arrays.map((a) => a.buffer))].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
}

const cancelled = () => new LabError('CANCELLED', 'the measurement was cancelled');
const revive = (r: Extract<InferenceWorkerReply, { ok: false }>) => (r.lab ? labErrorFrom(r.error) : new Error(r.error.message));

/**
 * createRunner(ckpt, opts) in the inference worker: resolves to a ModelRunner whose calls run there, once the worker's
 * runner is ready (its graphs built or taken from the cache, its first sessions created as createRunner does).
 */
export function openRunnerOffThread(ckpt: LoadedCheckpoint, opts: RunnerOptions = {}): Promise<ModelRunner> {
  const { signal, ...options } = opts;
  if (signal?.aborted) return Promise.reject(cancelled());
  const interrupt = new Int32Array(new SharedArrayBuffer(8));
  const nested = new Int32Array(new SharedArrayBuffer(4));
  const input: InferenceWorkerInput = { path: ckpt.path, format: ckpt.format, family: ckpt.spec.family, signature: checkpointSignature(ckpt), contentHash: ckpt.contentHash, options, interrupt, nested };
  let worker: Worker;
  try {
    worker = new Worker(inferenceWorkerScript(), { workerData: input });
  } catch (e) {
    return Promise.reject(new LabError('INTERNAL', `the inference worker could not start (${(e as Error).message})`));
  }
  type Pending = { resolve(v: unknown): void; reject(e: Error): void; what: string };
  const pending = new Map<number, Pending>();
  let next = 1;
  let ended: Error | undefined; // set once nothing more can be asked (cancelled, disposed, stopped)
  let failure: Error | undefined;
  // calls posted (the open included) that the worker has not answered count as in flight: one of them may be inside
  // onnxruntime. Told to stop, it releases its sessions and exits once its native call (if any) has returned; one with
  // no call in flight that has not exited within the grace (longer than a graph worker's own, graph-off-thread.ts: it
  // is not cut short while it removes its staging folder) is ended; one inside onnxruntime never is (that aborts the
  // process): it exits when the call returns. Nor is one whose streamed runner's block-host worker is inside a call (a
  // session's creation, a block's run: `nested`); it gets its grace again once that call has returned
  const life = new WorkerLifetime(worker, {
    calls: 1,
    nested,
    graceMs: () => STOP_GRACE.ms,
    // the interrupt flag stops a weight read at once (also when settleWorkerThreads stops it before an exit)
    tell: () => {
      Atomics.store(interrupt, 0, 1);
      worker.postMessage({ op: 'cancel' } satisfies RunnerCall);
    },
  });
  const exited = life.exited;
  const timings: SessionTiming[] = [];
  const setTimings = (t: SessionTiming[] | undefined) => t && timings.splice(0, timings.length, ...t);

  /** rejects the pending calls with `e`; the open (id 0) too, unless `calls` (it then settles when the worker has exited) */
  const endAll = (e: Error, calls = false) => {
    ended ??= e;
    for (const [id, p] of pending) {
      if (calls && id === 0) continue;
      p.reject(e);
      pending.delete(id);
    }
  };
  const onAbort = () => {
    endAll(cancelled(), true);
    void life.stop();
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  worker.on('message', (m: InferenceWorkerReply | { settled: number }) => {
    if ('settled' in m || m.id >= 0) life.answered();
    if ('settled' in m) return; // a call that ended after the cancel: nothing is delivered
    const p = pending.get(m.id);
    if (!p) return; // answered after a cancel: dropped
    pending.delete(m.id);
    if (!m.ok) p.reject(revive(m));
    else if ('facts' in m) p.resolve(m.facts);
    else {
      setTimings(m.sessionTimings);
      p.resolve(m.result);
    }
  });
  worker.on('error', (e) => (failure = e));
  worker.on('exit', (code) => {
    signal?.removeEventListener('abort', onAbort);
    const what = [...pending.values()].map((p) => p.what)[0] ?? `running ${ckpt.path}`;
    if (signal?.aborted) endAll(cancelled());
    else endAll(new LabError('INTERNAL', `the inference worker stopped (exit code ${code}${failure ? `: ${failure.message}` : ''}) while ${what}`));
  });

  function call<T>(msg: Exclude<RunnerCall, { op: 'cancel' }> | { id: 0 }, what: string): Promise<T> {
    if (ended) return Promise.reject(ended);
    return new Promise<T>((resolve, reject) => {
      pending.set(msg.id, { resolve: resolve as (v: unknown) => void, reject, what });
      if (msg.id !== 0) {
        life.posted();
        worker.postMessage(msg);
      }
    });
  }
  const ask = <T>(op: 'forward' | 'searchStep' | 'releaseForward' | 'dispose', req?: ForwardRequest | SearchStepRequest): Promise<T> =>
    call<T>({ id: next++, op, ...(req ? { req } : {}) } as Exclude<RunnerCall, { op: 'cancel' }>, `${op === 'dispose' ? 'releasing' : `running ${op} of`} ${ckpt.path}`);

  return call<RunnerFacts>({ id: 0 }, `opening ${ckpt.path}`).then(
    (f) => {
      setTimings(f.sessionTimings);
      const runner: ModelRunner = {
        spec: f.spec,
        provider: f.provider,
        dtype: f.dtype,
        fallbackReasons: f.fallbackReasons,
        colNorms: f.colNorms,
        ...(f.plan ? { plan: f.plan } : {}),
        ...(f.sessionTimings ? { sessionTimings: timings } : {}),
        forward: (req) => ask<ForwardResult>('forward', req),
        offThread: true,
        ...(f.searchStep ? { searchStep: (req: SearchStepRequest) => ask<SearchStepResult>('searchStep', req) } : {}),
        ...(f.releaseForward ? { releaseForward: () => ask<void>('releaseForward') } : {}),
        // the worker releases its sessions and exits (after a cancel it is on its way out already): settled when it has
        // exited, so a build it was cancelled in has removed its staging folder (graph-cache.ts) by then
        async dispose() {
          const released = new LabError('INTERNAL', `the runner of ${ckpt.path} was released`);
          if (!ended) {
            const asked = ask<void>('dispose');
            // released from here: a call made meanwhile is refused so, and the worker's exit after its answer (handled
            // before this continues when both arrive in one turn of a busy loop) does not name it a stopped worker
            ended = released;
            await asked.catch(() => undefined);
          }
          endAll(released);
          await exited;
        },
      };
      return runner;
    },
    (e: Error) => {
      // a failed open: the worker has unwound and exits by itself; a cancelled one is being stopped (onAbort)
      throw e;
    },
  );
}
