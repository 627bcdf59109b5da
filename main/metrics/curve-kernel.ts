/**
 * The per-token work of the CPU's one-pass CETT curve (thresholds.ts), and a pool of worker threads that runs it on
 * every core. The result does not depend on the number of threads: each token's jumps are computed by the same
 * code, and the caller adds them into the curve in token order, as the single-threaded loop does.
 *
 * The inner sweep (running output sum and its squared norm after every neuron: F·d multiply-adds per token) is
 * WebAssembly with 128-bit SIMD (curve-sweep.wat), with the same bits as the same loop in JS and ~3× less CPU per token
 * (this machine's AMD EPYC); its memory is shared, so every thread reads one copy of W_out (16 private copies ran no
 * faster than JS on a 16-core Xeon: BENCHMARKS.md).
 * `curveChunk` and `makeSweeper` must stay self-contained (no imports, closures or inner functions): the workers
 * run their source text (Function.prototype.toString), so one implementation serves the engine thread and the
 * workers, in the sources (tsx), the bundles and the packaged app alike, without a separate worker file.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { CURVE_SWEEP_WASM } from './curve-sweep-wasm';

/** the sweep's WebAssembly instance for one layer and thread: views of its slot in the layer's shared memory */
export interface Sweeper {
  /** one token's activations [F] */
  a: Float32Array;
  /** the neurons in sorted order [F] */
  idx: Int32Array;
  /** squared norm of the running output after each neuron of idx [F] */
  sq: Float64Array;
  /** sweep(aOff, idxOff, F, d, wTOff, accOff, sqOff) → the last squared norm (the full output's) */
  fn: (a: number, idx: number, f: number, d: number, wT: number, acc: number, sq: number) => number;
  off: Int32Array;
}

/**
 * A layer's shared WebAssembly memory: W_out transposed ([F, d] fp32) once at 0, then one slot per thread (a token's
 * row, its order, the running sum, the squared norms); every worker reads the one copy of the weights.
 */
export function curveMemory(wT: Float32Array, f: number, d: number, slots: number): WebAssembly.Memory {
  const slotBytes = Math.ceil((f * 4) / 16) * 16 * 2 + Math.ceil((d * 8) / 16) * 16 + Math.ceil((f * 8) / 16) * 16;
  const bytes = Math.ceil((wT.length * 4) / 16) * 16 + slots * slotBytes;
  const pages = Math.ceil(bytes / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  new Float32Array(memory.buffer, 0, wT.length).set(wT);
  return memory;
}

/** the sweep on slot `slot` of a layer's memory (curveMemory) */
export function makeSweeper(mod: WebAssembly.Module, memory: WebAssembly.Memory, f: number, d: number, slot: number): Sweeper {
  const slotBytes = Math.ceil((f * 4) / 16) * 16 * 2 + Math.ceil((d * 8) / 16) * 16 + Math.ceil((f * 8) / 16) * 16;
  const aOff = Math.ceil((f * d * 4) / 16) * 16 + slot * slotBytes;
  const idxOff = aOff + Math.ceil((f * 4) / 16) * 16;
  const accOff = idxOff + Math.ceil((f * 4) / 16) * 16;
  const sqOff = accOff + Math.ceil((d * 8) / 16) * 16;
  const inst = new WebAssembly.Instance(mod, { env: { memory } });
  return {
    a: new Float32Array(memory.buffer, aOff, f),
    idx: new Int32Array(memory.buffer, idxOff, f),
    sq: new Float64Array(memory.buffer, sqOff, f),
    fn: inst.exports.sweep as Sweeper['fn'],
    off: Int32Array.from([aOff, idxOff, accOff, sqOff]),
  };
}

/**
 * For tokens [t0, t1) of a layer: the neurons in ascending N_i = |a_i|·‖W_out[:,i]‖ (ties by index) with the
 * tail-to-full norm ratio r(k) of every prefix (float64 sums of fp32 inputs; the full output is the last prefix).
 * Written per token, in order, as pairs (key, jump) into out (2 doubles each); count[t − t0] is the number of
 * pairs, −1 for a token whose FFN output is exactly zero.
 * - authors (cand given): key = j, the first candidate ≥ N (where the neuron joins the tail); jump = r(k) − r(k−1);
 *   entries past the last candidate are dropped; zero jumps are left out (adding +0 changes no sum).
 * - exact (cand null): key = N, every entry, its jump (0 included).
 * a, n: [T, F] fp32; sw: the layer's sweep (makeSweeper); out: ≥ 2·F·(t1 − t0) doubles.
 */
export function curveChunk(
  a: Float32Array,
  n: Float32Array,
  f: number,
  d: number,
  cand: Float32Array | null,
  t0: number,
  t1: number,
  out: Float64Array,
  count: Int32Array,
  sw: Sweeper,
): void {
  const keys = new Float64Array(f);
  const bits = new Uint32Array(1);
  const asF = new Float32Array(bits.buffer);
  let shift = 1;
  while (shift < f) shift *= 2;
  const K = cand ? cand.length : 0;
  const idx = sw.idx;
  const sq = sw.sq;
  let m = 0;
  for (let t = t0; t < t1; t++) {
    const o = t * f;
    // ascending N, ties by index (a stable sort by N): N ≥ 0, so its fp32 bits order as its values
    for (let i = 0; i < f; i++) {
      asF[0] = n[o + i];
      keys[i] = bits[0] * shift + i;
    }
    keys.sort();
    for (let k = 0; k < f; k++) idx[k] = keys[k] % shift;
    sw.a.set(a.subarray(o, o + f));
    // in that order: the running output sum and its squared norm after every neuron; the last is the full output's
    const full = Math.sqrt(sw.fn(sw.off[0], sw.off[1], f, d, 0, sw.off[2], sw.off[3]));
    if (!(full > 0)) {
      count[t - t0] = -1;
      continue;
    }
    let prev = 0;
    let j = 0;
    const m0 = m;
    for (let k = 0; k < f; k++) {
      const ratio = Math.sqrt(sq[k]) / full;
      if (cand) {
        const v = n[o + idx[k]];
        while (j < K && cand[j] < v) j++;
        if (j >= K) break;
        if (ratio - prev !== 0) {
          out[2 * m] = j;
          out[2 * m + 1] = ratio - prev;
          m++;
        }
      } else {
        out[2 * m] = n[o + idx[k]];
        out[2 * m + 1] = ratio - prev;
        m++;
      }
      prev = ratio;
    }
    count[t - t0] = m - m0;
  }
}

/** One layer's operands, in shared memory so every worker reads them without a copy. */
export interface CurveOperands {
  a: Float32Array;
  n: Float32Array;
  wT: Float32Array;
  f: number;
  d: number;
  tokens: number;
  cand: Float32Array | null;
}

function shared(x: Float32Array): Float32Array {
  if (x.buffer instanceof SharedArrayBuffer) return x;
  const s = new Float32Array(new SharedArrayBuffer(x.byteLength));
  s.set(x);
  return s;
}

/** W_out [d, F] → [F, d] (a neuron's output direction contiguous) */
export function transposeDown(wDown: Float32Array, d: number, f: number, out = new Float32Array(f * d)): Float32Array {
  for (let r = 0; r < d; r++) for (let i = 0; i < f; i++) out[i * d + r] = wDown[r * f + i];
  return out;
}

let sweepModule: WebAssembly.Module | undefined;
/** the compiled sweep (once per process; workers get it with their start) */
export function curveSweepModule(): WebAssembly.Module {
  sweepModule ??= new WebAssembly.Module(Buffer.from(CURVE_SWEEP_WASM, 'base64'));
  return sweepModule;
}

/** visits every token's pairs in token order (count −1: a zero-norm token) */
export type PairVisitor = (t: number, pairs: Float64Array, count: number) => void;

/** tokens [from, T) in this thread, token by token (small inputs, and where workers cannot start) */
export function curveInThread(op: CurveOperands, visit: PairVisitor, from = 0): void {
  const out = new Float64Array(2 * op.f);
  const count = new Int32Array(1);
  const sw = makeSweeper(curveSweepModule(), curveMemory(op.wT, op.f, op.d, 1), op.f, op.d, 0);
  for (let t = from; t < op.tokens; t++) {
    curveChunk(op.a, op.n, op.f, op.d, op.cand, t, t + 1, out, count, sw);
    visit(t, out, count[0]);
  }
}

const WORKER_SOURCE = () => `
const { parentPort, workerData } = require('node:worker_threads');
const makeSweeper = ${makeSweeper.toString()};
const curveChunk = ${curveChunk.toString()};
let layer = -1;
let sw = null;
parentPort.on('message', (m) => {
  try {
    if (m.layer !== layer) {
      sw = makeSweeper(workerData.mod, m.memory, m.f, m.d, workerData.slot);
      layer = m.layer;
    }
    const n = m.t1 - m.t0;
    const out = new Float64Array(2 * m.f * n);
    const count = new Int32Array(n);
    curveChunk(m.a, m.n, m.f, m.d, m.cand, m.t0, m.t1, out, count, sw);
    let used = 0;
    for (let i = 0; i < n; i++) if (count[i] > 0) used += count[i];
    const pairs = out.slice(0, 2 * used);
    parentPort.postMessage({ id: m.id, pairs, count }, [pairs.buffer, count.buffer]);
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String((e && e.stack) || e) });
  }
});`;

interface Reply {
  id: number;
  pairs?: Float64Array;
  count?: Int32Array;
  error?: string;
}

/** threads for the curve: every core the machine has (the engine thread waits meanwhile) */
export function curveThreads(): number {
  return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
}

let pool: Worker[] | undefined;
let poolBroken = false;
let nextId = 1;
let nextLayer = 1;
/** the pool's threads end this long after their last curve (the next layer's curve follows within milliseconds) */
const IDLE_MS = 1000;
let idleTimer: ReturnType<typeof setTimeout> | undefined;
const waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();

function workers(count: number): Worker[] | undefined {
  if (poolBroken) return undefined;
  if (!pool) {
    try {
      const src = WORKER_SOURCE();
      const mod = curveSweepModule();
      pool = Array.from({ length: count }, (_, slot) => {
        const w = new Worker(src, { eval: true, workerData: { mod, slot } });
        w.on('message', (r: Reply) => {
          const p = waiting.get(r.id);
          waiting.delete(r.id);
          if (!p) return;
          if (r.error) p.reject(new Error(`CETT curve worker: ${r.error}`));
          else p.resolve(r);
        });
        // a worker of this pool that fails ends the pool (not one of a pool already closed)
        w.on('error', (e) => pool?.includes(w) && failPool(e));
        w.on('exit', () => pool?.includes(w) && failPool(new Error('CETT curve worker exited')));
        return w;
      });
    } catch {
      poolBroken = true;
      pool = undefined;
    }
  }
  return pool;
}

function failPool(e: Error): void {
  const p = pool;
  pool = undefined;
  for (const [, w] of waiting) w.reject(e);
  waiting.clear();
  for (const w of p ?? []) void w.terminate();
}

/** ends the pool's threads now (a prepared target's dispose; else they end IDLE_MS after their last curve); a curve being built goes on in this thread */
export async function closeCurvePool(): Promise<void> {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = undefined;
  const p = pool;
  pool = undefined;
  for (const [, w] of waiting) w.reject(new Error('CETT curve worker pool closed'));
  waiting.clear();
  await Promise.all((p ?? []).map((w) => w.terminate()));
}

/**
 * The pairs of every token, visited in token order, computed on `threads` worker threads in chunks of tokens
 * (the same numbers as curveInThread: one function per token, the caller's sums in token order).
 */
export async function curveParallel(op: CurveOperands, visit: PairVisitor, threads = curveThreads()): Promise<void> {
  const pw = threads > 1 && op.tokens > 1 ? workers(threads) : undefined;
  if (!pw) return curveInThread(op, visit);
  const a = shared(op.a);
  const n = shared(op.n);
  const memory = curveMemory(op.wT, op.f, op.d, pw.length);
  const cand = op.cand ? shared(op.cand) : null;
  const layer = nextLayer++;
  const chunk = Math.max(1, Math.min(256, Math.ceil(op.tokens / (4 * pw.length))));
  const starts: number[] = [];
  for (let t = 0; t < op.tokens; t += chunk) starts.push(t);
  const results = new Map<number, Reply>();
  let next = 0; // next chunk to hand out
  let done = 0; // chunks visited so far (in order)
  if (idleTimer) clearTimeout(idleTimer);
  try {
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const send = (w: Worker) => {
        if (failed || next >= starts.length) return;
        const c = next++;
        const id = nextId++;
        const t0 = starts[c];
        const t1 = Math.min(op.tokens, t0 + chunk);
        waiting.set(id, {
          resolve: (r) => {
            results.set(c, r);
            // visit the finished chunks in token order
            while (results.has(done)) {
              const rr = results.get(done)!;
              results.delete(done);
              const base = starts[done];
              let p = 0;
              for (let i = 0; i < rr.count!.length; i++) {
                const k = rr.count![i];
                visit(base + i, rr.pairs!.subarray(2 * p, 2 * (p + Math.max(k, 0))), k);
                if (k > 0) p += k;
              }
              done++;
            }
            if (done === starts.length) resolve();
            else send(w);
          },
          reject: (e) => {
            failed = true;
            reject(e);
          },
        });
        w.postMessage({ id, layer, a, n, memory, f: op.f, d: op.d, cand, t0, t1 });
      };
      for (const w of pw) send(w);
    });
  } catch {
    // a worker failed (or the pool was closed): the tokens not yet visited in this thread, in order; the next
    // curve starts a new pool
    failPool(new Error('CETT curve worker pool stopped'));
    curveInThread(op, visit, done < starts.length ? starts[done] : op.tokens);
  } finally {
    // idle threads are ended soon after (a process with live threads would not exit when its work is done)
    idleTimer = setTimeout(() => void closeCurvePool(), IDLE_MS);
    idleTimer.unref();
  }
}
