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

/**
 * The lifetime of a long-lived worker thread whose calls may be inside onnxruntime (the inference worker,
 * main/inference/runner-off-thread.ts; a streamed runner's block host, main/inference/block-host.ts). Terminating a
 * thread inside onnxruntime-node's run() or session creation aborts the whole process (`terminate called after throwing
 * an instance of 'Napi::Error'`, rc 134, every time on Node 20), and so does process.exit() then. So every call posted
 * counts as in flight until answered (`posted`, `answered`); `stop()` tells the worker once (`tell`: its cancel or close
 * message) and arms a backstop: a worker that has not exited after the grace is terminated only if no call is in
 * flight then; one inside onnxruntime is never terminated, it exits when the call returns.
 *
 * Every lifetime is in this thread's register until its worker exits: settleWorkerThreads() stops them all and waits for
 * their exits, what to await before process.exit().
 *
 * Nested workers: a worker that starts workers of its own (the inference worker running a streamed runner, whose block
 * host creates and runs sessions on a thread of its own) is ended with them. Its thread counts their calls in flight
 * in a shared counter (`countNestedCalls`, given to it by its starter), and its starter's backstop (`nested`) does not
 * end it while that count is above zero: the backstop starts over, so the worker gets its grace again once the nested
 * native call has returned (and the nested worker has exited or answered). The count falls to zero when a nested
 * worker exits, whatever it left unanswered: a cancelled worker's release is waited for only while a native call is
 * under way, never unboundedly.
 */
export interface WorkerLifetimeOptions {
  /** after stop(), how long a worker with no call in flight may take to exit (read when stop() is called: tests shorten it) */
  graceMs: () => number;
  /** tells the worker to stop (releases its sessions and exits once its native call, if any, has returned); called once */
  tell: () => void;
  /** calls posted before the lifetime began (an open the worker answers once ready) */
  calls?: number;
  /** [0]: the calls in flight of the worker's own nested workers (it calls countNestedCalls with the same memory) */
  nested?: Int32Array;
}

const lifetimes = new Set<WorkerLifetime>();
/** where this thread's calls in flight (of all its lifetimes) are counted for the thread that started it */
let nestedCounter: Int32Array | undefined;

/**
 * In a worker thread: counts the calls in flight of every worker this thread starts into `counter[0]` (an Int32Array
 * over a SharedArrayBuffer its starter passes as WorkerLifetimeOptions.nested), from the lifetimes made after this call.
 */
export function countNestedCalls(counter: Int32Array | undefined): void {
  nestedCounter = counter;
}

export class WorkerLifetime {
  private calls: number;
  private told = false;
  private gone = false;
  private backstop: NodeJS.Timeout | undefined;
  /** the counter this thread's calls are added to (countNestedCalls), as it was when the lifetime began */
  private readonly counter = nestedCounter;
  /** settles when the thread has exited (after the worker's own 'exit' listeners have run) */
  readonly exited: Promise<void>;

  constructor(
    readonly worker: Worker,
    private readonly o: WorkerLifetimeOptions,
  ) {
    this.calls = o.calls ?? 0;
    if (this.counter) Atomics.add(this.counter, 0, this.calls);
    lifetimes.add(this);
    this.exited = new Promise<void>((resolve) =>
      worker.once('exit', () => {
        this.gone = true;
        if (this.counter) Atomics.sub(this.counter, 0, this.calls);
        this.calls = 0;
        if (this.backstop) clearTimeout(this.backstop);
        lifetimes.delete(this);
        resolve();
      }),
    );
  }

  /** a call was posted: it may be inside onnxruntime until answered */
  posted(): void {
    if (this.gone) return;
    this.calls++;
    if (this.counter) Atomics.add(this.counter, 0, 1);
  }

  /** a call was answered (or reported ended without an answer) */
  answered(): void {
    if (this.calls === 0) return;
    this.calls--;
    if (this.counter) Atomics.sub(this.counter, 0, 1);
  }

  /** calls posted and not answered */
  get inFlight(): number {
    return this.calls;
  }

  /** whether stop() has told the worker to stop */
  get stopping(): boolean {
    return this.told;
  }

  /** tells the worker to stop (once) and arms the backstop; settles when the thread has exited */
  stop(): Promise<void> {
    if (!this.told && !this.gone) {
      this.told = true;
      this.o.tell();
      this.arm(this.o.graceMs());
    }
    return this.exited;
  }

  /** the backstop: ends the worker after `ms` if no call of its own is in flight; while a nested one is, starts over */
  private arm(ms: number): void {
    this.backstop = setTimeout(() => {
      if (this.gone || this.calls > 0) return; // inside onnxruntime: it exits when the call returns
      if (this.o.nested && Atomics.load(this.o.nested, 0) > 0) this.arm(ms);
      else void this.worker.terminate();
    }, ms);
  }
}

/**
 * Stops every worker thread of this thread's register (inference workers, block hosts) and waits until each has exited
 * (a native call in progress ends by itself first), at most `limitMs`. True when all have exited.
 */
export async function settleWorkerThreads(limitMs = 30_000): Promise<boolean> {
  if (!lifetimes.size) return true;
  return settlesWithin(Promise.all([...lifetimes].map((l) => l.stop())), limitMs);
}

/** True once `work` has settled (resolved or rejected), false if `ms` pass first (the work itself goes on). */
export function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), Math.max(0, ms))));
  const done = work.then(
    () => true,
    () => true,
  );
  return Promise.race([done, late]).finally(() => clearTimeout(timer));
}
