/**
 * One job in a worker thread of its own, run to its end (the checkpoint reader's open, main/checkpoint/open.ts; the graph
 * worker's builds, main/inference/graph-off-thread.ts). The promise settles when the thread has exited, never on its
 * reply alone: then the worker and every file it opened are gone (a caller that removes a staging folder afterwards
 * removes all it wrote).
 *
 * Cancel (`signal`): with `interrupt` (an Int32Array over a SharedArrayBuffer, main/checkpoint/interrupt.ts) [0] is set,
 * asking the worker to stop at its next check and unwind through its `finally` blocks; it is ended at once while [1]
 * says it holds no file (parsing, building in memory), else after a grace of 2 s. Without `interrupt` it is ended at once.
 */
import { Worker } from 'node:worker_threads';

export interface WorkerThreadOptions<F> {
  /** the worker as messages name it ('the checkpoint reader'), and what it was doing ('opening /x/model') */
  name: string;
  what: string;
  interrupt?: Int32Array;
  signal?: AbortSignal;
  /** the error of a cancelled job, of an `{ ok: false }` reply, and of a worker that could not start or exited without a reply */
  cancelled: () => Error;
  failed: (reply: F) => Error;
  internal: (message: string) => Error;
}

export function runWorkerThread<T extends { ok: true }, F extends { ok: false }>(script: string, workerData: unknown, o: WorkerThreadOptions<F>): Promise<T> {
  if (o.signal?.aborted) return Promise.reject(o.cancelled());
  return new Promise((resolve, reject) => {
    let worker: Worker;
    try {
      worker = new Worker(script, { workerData });
    } catch (e) {
      reject(o.internal(`${o.name} could not start (${(e as Error).message})`));
      return;
    }
    let reply: T | F | undefined;
    let failure: Error | undefined;
    let backstop: NodeJS.Timeout | undefined;
    const { interrupt, signal } = o;
    const onAbort = () => {
      if (interrupt) Atomics.store(interrupt, 0, 1);
      if (!interrupt || Atomics.load(interrupt, 1) !== 0) void worker.terminate();
      else backstop = setTimeout(() => void worker.terminate(), 2000);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (m: T | F) => (reply = m));
    worker.on('error', (e) => (failure = e));
    worker.on('exit', (code) => {
      signal?.removeEventListener('abort', onAbort);
      if (backstop) clearTimeout(backstop);
      if (signal?.aborted) reject(o.cancelled());
      else if (reply?.ok) resolve(reply as T);
      else if (reply) reject(o.failed(reply as F));
      else reject(o.internal(`${o.name} stopped (exit code ${code}${failure ? `: ${failure.message}` : ''}) while ${o.what}`));
    });
  });
}
