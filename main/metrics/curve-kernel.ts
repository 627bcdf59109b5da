/**
 * The per-token work of the JS one-pass CETT curve (thresholds.ts), and a pool of worker threads that runs it on
 * every core. The result does not depend on the number of threads: each token's jumps are computed by the same
 * code, and the caller adds them into the curve in token order, as the single-threaded loop does.
 *
 * `curveChunk` must stay self-contained (no imports, closures or inner functions): the workers run its source text
 * (Function.prototype.toString), so one implementation serves the engine thread and the workers, in the sources
 * (tsx), the bundles and the packaged app alike, without a separate worker file.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * For tokens [t0, t1) of a layer: the neurons in ascending N_i = |a_i|·‖W_out[:,i]‖ (ties by index) with the
 * tail-to-full norm ratio r(k) of every prefix (float64 sums of fp32 inputs; the full output is the last prefix). Written per token, in order, as pairs (key, jump) into out (2 doubles each); count[t − t0] is the
 * number of pairs, −1 for a token whose FFN output is exactly zero.
 * - authors (cand given): key = j, the first candidate ≥ N (where the neuron joins the tail); jump = r(k) − r(k−1);
 *   entries past the last candidate are dropped; zero jumps are left out (adding +0 changes no sum).
 * - exact (cand null): key = N, every entry, its jump (0 included).
 * a, n: [T, F] fp32; wT: [F, d] fp32 (W_out transposed); out: ≥ 2·F·(t1 − t0) doubles.
 */
export function curveChunk(
  a: Float32Array,
  n: Float32Array,
  wT: Float32Array,
  f: number,
  d: number,
  cand: Float32Array | null,
  t0: number,
  t1: number,
  out: Float64Array,
  count: Int32Array,
): void {
  const acc = new Float64Array(d);
  const keys = new Float64Array(f);
  const sq = new Float64Array(f);
  const bits = new Uint32Array(1);
  const asF = new Float32Array(bits.buffer);
  let shift = 1;
  while (shift < f) shift *= 2;
  const K = cand ? cand.length : 0;
  let m = 0;
  for (let t = t0; t < t1; t++) {
    const o = t * f;
    // ascending N, ties by index (a stable sort by N): N ≥ 0, so its fp32 bits order as its values
    for (let i = 0; i < f; i++) {
      asF[0] = n[o + i];
      keys[i] = bits[0] * shift + i;
    }
    keys.sort();
    // one sweep in that order: the running output sum and its squared norm after every neuron (sq[k]); the last is
    // the full output's. Four partial sums of squares (independent adds: the sweep is not bound by one addition
    // chain), added in a fixed order.
    acc.fill(0);
    let s = 0;
    for (let k = 0; k < f; k++) {
      const i = keys[k] % shift;
      const ai = a[o + i];
      if (ai !== 0) {
        const w = i * d;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        let r = 0;
        for (; r + 3 < d; r += 4) {
          const v0 = acc[r] + ai * wT[w + r];
          const v1 = acc[r + 1] + ai * wT[w + r + 1];
          const v2 = acc[r + 2] + ai * wT[w + r + 2];
          const v3 = acc[r + 3] + ai * wT[w + r + 3];
          acc[r] = v0;
          acc[r + 1] = v1;
          acc[r + 2] = v2;
          acc[r + 3] = v3;
          s0 += v0 * v0;
          s1 += v1 * v1;
          s2 += v2 * v2;
          s3 += v3 * v3;
        }
        for (; r < d; r++) {
          const v = acc[r] + ai * wT[w + r];
          acc[r] = v;
          s0 += v * v;
        }
        s = s0 + s1 + (s2 + s3);
      }
      sq[k] = s;
    }
    const full = Math.sqrt(s);
    if (!(full > 0)) {
      count[t - t0] = -1;
      continue;
    }
    let prev = 0;
    let j = 0;
    const m0 = m;
    for (let k = 0; k < f; k++) {
      const i = keys[k] % shift;
      const ratio = Math.sqrt(sq[k]) / full;
      if (cand) {
        const v = n[o + i];
        while (j < K && cand[j] < v) j++;
        if (j >= K) break;
        if (ratio - prev !== 0) {
          out[2 * m] = j;
          out[2 * m + 1] = ratio - prev;
          m++;
        }
      } else {
        out[2 * m] = n[o + i];
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

/** visits every token's pairs in token order (count −1: a zero-norm token) */
export type PairVisitor = (t: number, pairs: Float64Array, count: number) => void;

/** tokens [from, T) in this thread, token by token (small inputs, and where workers cannot start) */
export function curveInThread(op: CurveOperands, visit: PairVisitor, from = 0): void {
  const out = new Float64Array(2 * op.f);
  const count = new Int32Array(1);
  for (let t = from; t < op.tokens; t++) {
    curveChunk(op.a, op.n, op.wT, op.f, op.d, op.cand, t, t + 1, out, count);
    visit(t, out, count[0]);
  }
}

const WORKER_SOURCE = () => `
const { parentPort } = require('node:worker_threads');
const curveChunk = ${curveChunk.toString()};
parentPort.on('message', (m) => {
  try {
    const n = m.t1 - m.t0;
    const out = new Float64Array(2 * m.f * n);
    const count = new Int32Array(n);
    curveChunk(m.a, m.n, m.wT, m.f, m.d, m.cand, m.t0, m.t1, out, count);
    let used = 0;
    for (let i = 0; i < n; i++) if (count[i] > 0) used += count[i];
    const pairs = out.slice(0, 2 * used);
    parentPort.postMessage({ id: m.id, pairs, count }, [pairs.buffer, count.buffer]);
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String(e && e.stack || e) });
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
const waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();

function workers(count: number): Worker[] | undefined {
  if (poolBroken) return undefined;
  if (!pool) {
    try {
      const src = WORKER_SOURCE();
      pool = Array.from({ length: count }, () => {
        const w = new Worker(src, { eval: true });
        w.unref(); // an idle pool never keeps the process alive
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

/** ends the pool's threads (tests; the process exits without it too: they are unref'd) */
export async function closeCurvePool(): Promise<void> {
  const p = pool;
  pool = undefined;
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
  const wT = shared(op.wT);
  const cand = op.cand ? shared(op.cand) : null;
  const chunk = Math.max(1, Math.min(256, Math.ceil(op.tokens / (4 * pw.length))));
  const starts: number[] = [];
  for (let t = 0; t < op.tokens; t += chunk) starts.push(t);
  const results = new Map<number, Reply>();
  let next = 0; // next chunk to hand out
  let done = 0; // chunks visited so far (in order)
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
        w.postMessage({ id, a, n, wT, f: op.f, d: op.d, cand, t0, t1 });
      };
      for (const w of pw) send(w);
    });
  } catch {
    // a worker failed (it could not start here, or died): the tokens not yet visited in this thread, in order
    poolBroken = true;
    failPool(new Error('CETT curve worker pool stopped'));
    curveInThread(op, visit, done < starts.length ? starts[done] : op.tokens);
  }
}
