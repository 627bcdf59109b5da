/**
 * A checkpoint's tokenizer loaded and run in a worker thread (issue 19: bounded work, a responsive engine). Loading a
 * tokenizer.json of tens of MB (JSON parse, vocabulary and merges tables) or a SentencePiece model, and encoding the
 * megabytes of evaluation text a large token budget needs, are seconds of synchronous work; in the checkpoint reader's
 * worker (open-worker.ts, `tokenizer` mode) they leave the engine's event loop free, and a cancel ends them at once.
 * The worker keeps the tokenizer loaded while the caller encodes (main/metrics/data.ts loadEvalDataAsync), then exits.
 */
import { Worker } from 'node:worker_threads';
import { LabError, labErrorFrom, type ErrorPayload } from '../api/errors';
import { workerScript, type WorkerInput } from './open';
import type { TokenizerFacts } from './tokenizer';

/** Worker → this thread: the tokenizer's facts once loaded, then one reply per encode; or the error. */
export type TokenizerReply =
  | ({ ok: true; ready: true } & TokenizerFacts)
  | { ok: true; id: number; ids: Int32Array }
  | { ok: false; id?: number; error: ErrorPayload };

export interface RemoteTokenizer extends TokenizerFacts {
  encode(text: string): Promise<Int32Array>;
  /** ends the worker (always call it; resolves when the worker is gone) */
  close(): Promise<void>;
}

const cancelled = () => new LabError('CANCELLED', 'the measurement was cancelled');

/** Loads the tokenizer of folder `dir` in a worker. `signal` ends the worker: pending calls reject CANCELLED. */
export function startRemoteTokenizer(dir: string, signal?: AbortSignal): Promise<RemoteTokenizer> {
  if (signal?.aborted) return Promise.reject(cancelled());
  const interrupt = new Int32Array(new SharedArrayBuffer(8));
  const input: WorkerInput = { path: dir, interrupt, tokenizer: true };
  let worker: Worker;
  try {
    worker = new Worker(workerScript(), { workerData: input });
  } catch (e) {
    return Promise.reject(new LabError('INTERNAL', `the tokenizer worker could not start (${(e as Error).message})`));
  }
  const pending = new Map<number, { resolve: (ids: Int32Array) => void; reject: (e: Error) => void }>();
  let next = 0;
  let failure: Error | undefined;
  let exited = false;
  const gone = new Promise<void>((r) => worker.once('exit', () => r()));
  let ready: { resolve: (t: RemoteTokenizer) => void; reject: (e: Error) => void };
  const started = new Promise<RemoteTokenizer>((resolve, reject) => (ready = { resolve, reject }));
  const fail = (e: Error) => {
    failure ??= e;
    ready.reject(e);
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  const settle = (id: number, f: (p: { resolve: (ids: Int32Array) => void; reject: (e: Error) => void }) => void) => {
    const p = pending.get(id);
    pending.delete(id);
    if (p) f(p);
  };
  const onAbort = () => {
    Atomics.store(interrupt, 0, 1);
    fail(cancelled());
    // encoding holds no file: end it now; while loading it stops at the next check, ended after a grace period
    if (Atomics.load(interrupt, 1) !== 0) void worker.terminate();
    else setTimeout(() => void worker.terminate(), 2000).unref();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  worker.on('message', (m: TokenizerReply) => {
    if (!m.ok) {
      const e = labErrorFrom(m.error);
      if (m.id === undefined) fail(e);
      else settle(m.id, (p) => p.reject(e));
    } else if ('ready' in m)
      ready.resolve({
        vocabSize: m.vocabSize,
        bosTokenId: m.bosTokenId,
        eosTokenId: m.eosTokenId,
        source: m.source,
        encode(text) {
          if (failure) return Promise.reject(failure);
          if (exited) return Promise.reject(new LabError('INTERNAL', 'the tokenizer worker has ended'));
          const id = next++;
          return new Promise<Int32Array>((resolve, reject) => {
            pending.set(id, { resolve, reject });
            worker.postMessage({ id, text });
          });
        },
        async close() {
          signal?.removeEventListener('abort', onAbort);
          await worker.terminate();
          await gone;
        },
      });
    else settle(m.id, (p) => p.resolve(m.ids));
  });
  worker.on('error', (e) => fail(new LabError('INTERNAL', `the tokenizer worker failed: ${e.message}`)));
  worker.on('exit', (code) => {
    exited = true;
    signal?.removeEventListener('abort', onAbort);
    fail(new LabError('INTERNAL', `the tokenizer worker stopped (exit code ${code})`));
  });
  // a worker that failed to load ends by itself (nothing listens); one cancelled while loading stops at its next check
  // (or is ended by the backstop): never terminated here in the middle of reading the tokenizer's files
  return started;
}
