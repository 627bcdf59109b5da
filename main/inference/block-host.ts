/**
 * Block hosts of a streamed run (issue 15, main/inference/streamed.ts): where a block's onnxruntime session is created
 * and run. onnxruntime-node's `InferenceSession.create()` and `session.run()` are synchronous on the thread that calls
 * them, and a session lives on the thread that created it; so while one thread runs block i, the next block's session
 * can only be created on another. A streamed run whose blocks are paged has two hosts: the runner's own thread (local)
 * and one worker thread (block-host-worker.ts, remote); blocks alternate between them, and while host A runs block i,
 * host B creates block i+1's session and runs it next. Graph bytes are built and cached on the runner's thread (the
 * graph store, the same bytes either way); only the session's creation and its runs happen on the host.
 *
 * Feeds cross to the worker copied (ids and masks are used again by later calls), except those named as moved (a
 * residual stream handed to the next block), which are transferred; outputs come back transferred. The worker runs the
 * very graph bytes with the very session options the local host would: the same kernels, the same bits.
 *
 * Fail-safe: a worker that cannot start (no script, onnxruntime not loadable there) rejects `start()`; the streamed runner
 * then creates its blocks one after another on its own thread, as before, and says so in its fallbackReasons.
 * Cancel (`signal`): pending calls reject CANCELLED, the worker skips the calls queued behind the cancel, releases its
 * sessions and exits once its native call (if any) has returned; a session whose creation ends after the cancel is
 * released there at once. It is never terminated while a call may be in flight: terminating a thread inside
 * onnxruntime-node's run() or session creation aborts the whole process (runner-off-thread.ts); only one with no call
 * in flight that has not exited 5 s after the cancel is.
 */
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { LabError, labErrorFrom, type ErrorPayload } from '../api/errors';
import { workerScriptFor } from '../base/worker-script';
import { WorkerLifetime } from '../base/worker-thread';

/** a block's session on either host: what the streamed runner needs of it */
export interface BlockSession {
  /** `moves`: feeds the caller no longer needs (they may be transferred to the host's thread and then be unusable here) */
  run(feeds: Record<string, ort.Tensor>, fetches?: string[], moves?: string[]): Promise<ort.InferenceSession.OnnxValueMapType>;
  release(): Promise<void>;
  /** which host holds it */
  readonly host: 'local' | 'remote';
}

/** One event of a block host, wall-clock milliseconds (performance.timeOrigin + now: comparable across threads). */
export interface HostEvent {
  what: 'create' | 'run';
  host: 'local' | 'remote';
  /** the graph key's block (layers [from, to)) */
  label: string;
  start: number;
  end: number;
  /** a run: the session's first (a fresh session's first run may pay for its arena, cuBLAS/cuDNN handles, workspaces) */
  first?: boolean;
  /** a run: bytes of its host feeds and outputs (what crosses between host and device inside the run) */
  ioBytes?: number;
}

/** bytes of the tensors' data (host tensors: what onnxruntime copies to or from the device) */
export function tensorBytes(ts: Record<string, ort.Tensor | { data: unknown }>): number {
  let n = 0;
  for (const t of Object.values(ts)) n += (t.data as ArrayBufferView | undefined)?.byteLength ?? 0;
  return n;
}

/**
 * Test seams only (the product never sets them): a busy wait of this many ms before every block run on either host, as
 * a longer native run would block its thread (tests see the next block's creation overlap a run); another worker
 * script (tests of the fallback when the worker cannot start).
 */
export const blockHostTesting: { runDelayMs: number; script?: string; graceMs: number } = { runDelayMs: 0, graceMs: 5000 };

export const wallMs = () => performance.timeOrigin + performance.now();
export function busyWait(ms: number): void {
  const until = wallMs() + ms;
  while (wallMs() < until) {
    /* blocks the thread like a native call */
  }
}

/** a session of this thread as a BlockSession */
export function localBlockSession(sess: ort.InferenceSession, events?: HostEvent[], label = ''): BlockSession {
  let runs = 0;
  return {
    host: 'local',
    async run(feeds, fetches) {
      const t0 = wallMs();
      if (blockHostTesting.runDelayMs) busyWait(blockHostTesting.runDelayMs);
      const out = await (fetches ? sess.run(feeds, fetches) : sess.run(feeds));
      events?.push({ what: 'run', host: 'local', label, start: t0, end: wallMs(), first: runs++ === 0, ioBytes: tensorBytes(feeds) + tensorBytes(out) });
      return out;
    },
    release: () => sess.release(),
  };
}

/** a tensor as it crosses threads */
export interface WireTensor {
  type: ort.Tensor.Type;
  data: ort.Tensor.DataType;
  dims: readonly number[];
}

/** `t` for postMessage; `move`: its buffer goes in `transfer` when the view spans all of it (else a copy of the view) */
export function toWire(t: ort.Tensor, move: boolean, transfer: ArrayBuffer[]): WireTensor {
  const d = t.data as ArrayBufferView;
  const whole = d.buffer instanceof ArrayBuffer && d.byteOffset === 0 && d.byteLength === d.buffer.byteLength;
  // a view over part of a larger buffer would be cloned with all of that buffer: send its own copy
  const data = (whole ? d : (d as unknown as { slice(): ArrayBufferView }).slice()) as ort.Tensor.DataType;
  if (move && !transfer.includes((data as ArrayBufferView).buffer as ArrayBuffer)) transfer.push((data as ArrayBufferView).buffer as ArrayBuffer);
  return { type: t.type, data, dims: t.dims };
}

export function fromWire(w: WireTensor): ort.Tensor {
  return new ort.Tensor(w.type as never, w.data as never, w.dims);
}

export type HostCall =
  | { id: number; op: 'create'; sid: number; bytes: Uint8Array; options: ort.InferenceSession.SessionOptions; label: string; warm?: Record<string, WireTensor> }
  | { id: number; op: 'run'; sid: number; feeds: Record<string, WireTensor>; fetches?: string[]; label: string }
  | { id: number; op: 'release'; sid: number }
  | { op: 'close' };

export type HostReply =
  | { id: number; ok: true; outputs?: Record<string, WireTensor>; event?: HostEvent }
  | { id: number; ok: false; error: ErrorPayload; lab: boolean };

export interface BlockHostInput {
  runDelayMs: number;
}

/** The worker's script: block-host-worker-dev.mjs (tsx) from the sources, block-host-worker.cjs beside a bundle. */
export function blockHostScript(here: string = import.meta.url): string {
  return workerScriptFor(here, 'block-host-worker-dev.mjs', 'block-host-worker.cjs');
}

const cancelled = () => new LabError('CANCELLED', 'the measurement was cancelled');

/** The worker thread that creates and runs block sessions beside the runner's thread. */
export class RemoteBlockHost {
  private worker: Worker;
  private pending = new Map<number, { resolve(v: Extract<HostReply, { ok: true }>): void; reject(e: Error): void; what: string }>();
  private next = 1;
  private sid = 1;
  private ended: Error | undefined;
  private failure: Error | undefined;
  /** calls posted (the start included) the worker has not answered (one of them may be inside onnxruntime), the backstop */
  private life: WorkerLifetime;
  /** settles when the worker has loaded onnxruntime and can create sessions */
  readonly ready: Promise<void>;

  constructor(
    private signal: AbortSignal | undefined,
    private events: HostEvent[],
    script = blockHostScript(),
  ) {
    this.worker = new Worker(script, { workerData: { runDelayMs: blockHostTesting.runDelayMs } satisfies BlockHostInput });
    // told to close, it is ended after the grace only if no call may be inside onnxruntime (that aborts the process)
    this.life = new WorkerLifetime(this.worker, {
      calls: 1,
      graceMs: () => blockHostTesting.graceMs,
      tell: () => {
        this.worker.ref(); // until it has exited: the process must not exit while it is inside onnxruntime
        this.worker.postMessage({ op: 'close' } satisfies HostCall);
      },
    });
    this.ready = new Promise<void>((resolve, reject) => this.pending.set(0, { resolve: () => resolve(), reject, what: 'starting' }));
    this.ready.catch(() => undefined);
    this.worker.on('message', (m: HostReply) => {
      this.life.answered();
      const p = this.pending.get(m.id);
      if (!p) return; // answered after a cancel: dropped
      this.pending.delete(m.id);
      // an idle worker does not keep the process alive (a runner left undisposed after an error must not hang it)
      if (!this.pending.size) this.worker.unref();
      if (m.ok) {
        if (m.event) this.events.push(m.event);
        p.resolve(m);
      } else p.reject(m.lab ? labErrorFrom(m.error) : new Error(m.error.message));
    });
    this.worker.on('error', (e) => (this.failure = e));
    this.worker.on('exit', (code) => {
      signal?.removeEventListener('abort', this.onAbort);
      const what = [...this.pending.values()][0]?.what ?? 'idle';
      this.endAll(signal?.aborted ? cancelled() : new LabError('INTERNAL', `the block-host worker stopped (exit code ${code}${this.failure ? `: ${this.failure.message}` : ''}) while ${what}`));
    });
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private onAbort = () => {
    this.endAll(cancelled());
    void this.life.stop();
  };

  private endAll(e: Error): void {
    this.ended ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private call(msg: Exclude<HostCall, { op: 'close' }>, what: string, transfer: ArrayBuffer[] = []): Promise<Extract<HostReply, { ok: true }>> {
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      this.pending.set(msg.id, { resolve, reject, what });
      this.life.posted();
      this.worker.ref();
      this.worker.postMessage(msg, transfer);
    });
  }

  /**
   * a session of `bytes` created on the worker's thread: the message is posted before this returns; `warm`: feeds of a
   * call it makes right after the creation (counted in the creation's time, not as a run)
   */
  create(bytes: Uint8Array, options: ort.InferenceSession.SessionOptions, label: string, warm?: Record<string, ort.Tensor>): Promise<BlockSession> {
    if (this.signal?.aborted) return Promise.reject(cancelled());
    const sid = this.sid++;
    const transfer: ArrayBuffer[] = [];
    const w = warm ? Object.fromEntries(Object.entries(warm).map(([k, t]) => [k, toWire(t, false, transfer)])) : undefined;
    const made = this.call({ id: this.next++, op: 'create', sid, bytes, options, label, ...(w ? { warm: w } : {}) }, `creating the session of block ${label}`);
    const release = async () => {
      if (!this.ended) await this.call({ id: this.next++, op: 'release', sid }, `releasing block ${label}`);
    };
    const session: BlockSession = {
      host: 'remote',
      run: async (feeds, fetches, moves = []) => {
        const transfer: ArrayBuffer[] = [];
        const wire = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, toWire(t, moves.includes(k), transfer)]));
        const r = await this.call({ id: this.next++, op: 'run', sid, feeds: wire, label, ...(fetches ? { fetches } : {}) }, `running block ${label}`, transfer);
        return Object.fromEntries(Object.entries(r.outputs ?? {}).map(([k, w]) => [k, fromWire(w)]));
      },
      release,
    };
    return made.then(
      () => session,
      (e: Error) => {
        void release().catch(() => undefined);
        throw e;
      },
    );
  }

  /** the worker releases its sessions and exits; settled when it has exited */
  async close(): Promise<void> {
    this.worker.ref(); // until it has exited
    if (!this.ended) {
      this.endAll(new LabError('INTERNAL', 'the block-host worker was closed'));
      void this.life.stop();
    }
    await this.life.exited;
  }
}
