/**
 * The per-token work of the CPU's one-pass CETT curve (thresholds.ts), and a pool of worker threads that runs it on
 * every core. The result does not depend on the number of threads: each token's jumps are computed by the same
 * code, and the caller adds them into the curve in token order, as the single-threaded loop does.
 *
 * The inner sweep (running output sum and its squared norm after every neuron: F·d multiply-adds per token) has two
 * back ends with the same bits: WebAssembly with 128-bit SIMD (curve-sweep.wat) and the same loop in JS. Which is
 * faster depends on the machine (the WebAssembly one ~4× on this project's AMD EPYC dev machine, but slower than JS on
 * a 16-core Xeon: BENCHMARKS.md), so the first curve of each shape times both on its own tokens (calibrateSweep,
 * ~10-50 ms once per process and shape) and uses the faster. Both run on one shared WebAssembly memory per layer:
 * W_out once for every thread, one slot per thread for the rest. Where W_out is large, the sweep may run over blocks
 * of its columns for 16 tokens at a time (each block read from memory once for them all: the same bits); which
 * blocking is fastest depends on the caches and how many cores share them, so the first curves of such a shape try
 * each on the worker threads (curveBlockings, curveParallel).
 * `curveChunk` and `makeSweeper` must stay self-contained (no imports, closures or outer functions): the workers
 * run their source text (Function.prototype.toString), so one implementation serves the engine thread and the
 * workers, in the sources (tsx), the bundles and the packaged app alike, without a separate worker file.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { CURVE_SWEEP_WASM } from './curve-sweep-wasm';

/** the sweep's two implementations (the same bits) */
export type SweepBackend = 'js' | 'wasm';

/** the sweep for one layer and thread: views of its slot in the layer's shared memory, room for `tokens` tokens */
export interface Sweeper {
  /** how many tokens one run sweeps at most (the memory's blocking) */
  tokens: number;
  /** the tokens' activations [tokens, F] */
  a: Float32Array;
  /** each token's neurons in sorted order [tokens, F] */
  idx: Int32Array;
  /** each token's squared norm of the running output after each neuron of its idx [tokens, F] */
  sq: Float64Array;
  /** the sweep of the first n (default 1) tokens' a and idx into sq; returns the last one's last squared norm (its
   * full output's) */
  run: (n?: number) => number;
}

/**
 * How a layer's sweep is blocked: W_out's d columns in blocks of `db` (a multiple of 4, or all of d), and `tokens`
 * tokens swept block by block (each block's rows of W_out read once from memory for all of them, then from the
 * cache). One block where W_out fits in the cache.
 */
export interface CurveBlocking {
  db: number;
  tokens: number;
}

/**
 * The blockings a layer's curve may use: one block (the whole of d, one token at a time; the only one where W_out fits
 * in ONE_BLOCK_BYTES), and for larger W_out blocks of a power of two of columns (rows of whole cache lines) up to
 * about a core's L2 cache (1.5 MB: 64 columns at the 1B shape, F 5,632 × d 2,048) and up to 6 MB (256 columns), each
 * swept for BLOCK_TOKENS tokens at a time. Which is fastest depends on the machine's caches and on how many cores
 * share them (BENCHMARKS.md, curvesweep): the first curves of a shape on the worker threads try each in turn,
 * one layer each, twice, and the rest use the fastest (curveParallel).
 */
const ONE_BLOCK_BYTES = 2 << 20;
const BLOCK_BYTES = [1.5 * 2 ** 20, 6 * 2 ** 20];
const BLOCK_TOKENS = 16;
let forcedBlocking: CurveBlocking | null = null;

/** the blockings of an F × d layer to choose from (the first: one block, one token) */
export function curveBlockings(f: number, d: number): CurveBlocking[] {
  const whole = Math.ceil(d / 4) * 4;
  const out: CurveBlocking[] = [{ db: whole, tokens: 1 }];
  if (f * d * 4 <= ONE_BLOCK_BYTES) return out;
  for (const bytes of BLOCK_BYTES) {
    let db = 16;
    while (db * 2 * 4 * f <= bytes) db *= 2;
    if (db < whole && !out.some((x) => x.db === db)) out.push({ db, tokens: BLOCK_TOKENS });
  }
  return out;
}

/** the trials of a shape's blockings on the worker threads: the threads' ms per million multiply-adds of each curve
 * tried (blockings in turn, TRIAL_ROUNDS rounds: a machine's passing load does not decide alone), and the pick (the
 * least of its rounds' least) */
export interface BlockingTrial {
  blockings: CurveBlocking[];
  msPerMega: number[];
  pick?: CurveBlocking;
}
const TRIAL_ROUNDS = 2;
const trials = new Map<string, BlockingTrial>();

/** the trials made in this process, by "F×d" */
export function curveBlockingTrials(): Record<string, BlockingTrial> {
  return Object.fromEntries(trials);
}

/** forgets the trials (the bench tries them again per back end) */
export function resetCurveBlockingTrials(): void {
  trials.clear();
}

/** the blocking of an F × d layer outside the trials: the forced one (the bench: setCurveBlocking), else the trials'
 * pick, else one block */
export function curveBlocking(f: number, d: number): CurveBlocking {
  const whole = Math.ceil(d / 4) * 4;
  if (forcedBlocking) return { db: Math.min(forcedBlocking.db, whole), tokens: forcedBlocking.tokens };
  return trials.get(`${f}×${d}`)?.pick ?? { db: whole, tokens: 1 };
}

/** forces a blocking for every shape (null: the default's); the bench times the choices */
export function setCurveBlocking(b: CurveBlocking | null): void {
  if (b && !(b.db > 0 && b.db % 4 === 0 && Number.isInteger(b.tokens) && b.tokens > 0)) throw new Error(`curve blocking: db ${b.db} is not a positive multiple of 4 or tokens ${b.tokens} not a positive whole number`);
  forcedBlocking = b;
}

/**
 * A layer's shared WebAssembly memory: a header (the blocking: db, tokens), W_out transposed and blocked at 64
 * (block b: columns [b·db, b·db + w) of every neuron, [F, w] fp32, w = min(db, d − b·db)), then one slot per thread
 * (its tokens' rows, orders, partial squared norms, squared norms, one block's running sum); every worker reads the
 * one copy of the weights.
 */
export function curveMemory(wT: Float32Array, f: number, d: number, slots: number, blocking = curveBlocking(f, d)): WebAssembly.Memory {
  const { db, tokens: nb } = blocking;
  const al = (x: number) => Math.ceil(x / 64) * 64;
  const slotBytes = al(nb * f * 4) * 2 + al(nb * f * 32) + al(nb * f * 8) + al(db * 8);
  const bytes = 64 + al(wT.length * 4) + slots * slotBytes;
  const pages = Math.ceil(bytes / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const head = new Int32Array(memory.buffer, 0, 4);
  head[0] = db;
  head[1] = nb;
  const w = new Float32Array(memory.buffer, 64, wT.length);
  for (let r0 = 0; r0 < d; r0 += db) {
    const wb = Math.min(db, d - r0);
    const base = r0 * f;
    for (let i = 0; i < f; i++) w.set(wT.subarray(i * d + r0, i * d + r0 + wb), base + i * wb);
  }
  return memory;
}

/**
 * The sweep on slot `slot` of a layer's memory (curveMemory, whose header gives the blocking), by `backend` (mod: the
 * compiled curve-sweep.wat, only for 'wasm'). For each token, in the order idx: acc += a_i · W_out[:, i] (float64
 * from fp32 inputs) and its squared norm after every neuron, in four partial sums (lane q over r ≡ q mod 4 in order,
 * the rest of d mod 4 into lane 0) added as (s0 + s1) + (s2 + s3). Blocked over d: for each block of columns in
 * order, each token's neurons in order, the running sum of the block's columns and each neuron's four partial sums
 * carried on from the block before (P) — every sum takes the same terms in the same order as the plain loop over the
 * whole of d, so the same bits. The WebAssembly module runs these operations in this order, so the same bits too.
 */
export function makeSweeper(mod: WebAssembly.Module | null, memory: WebAssembly.Memory, f: number, d: number, slot: number, backend: SweepBackend): Sweeper {
  const head = new Int32Array(memory.buffer, 0, 4);
  const db = head[0];
  const nb = head[1];
  const al = (x: number) => Math.ceil(x / 64) * 64;
  const slotBytes = al(nb * f * 4) * 2 + al(nb * f * 32) + al(nb * f * 8) + al(db * 8);
  const aOff = 64 + al(f * d * 4) + slot * slotBytes;
  const idxOff = aOff + al(nb * f * 4);
  const pOff = idxOff + al(nb * f * 4);
  const sqOff = pOff + al(nb * f * 32);
  const accOff = sqOff + al(nb * f * 8);
  const a = new Float32Array(memory.buffer, aOff, nb * f);
  const idx = new Int32Array(memory.buffer, idxOff, nb * f);
  const sq = new Float64Array(memory.buffer, sqOff, nb * f);
  const check = (n: number) => {
    if (!(Number.isInteger(n) && n >= 1 && n <= nb)) throw new Error(`the sweep runs 1 to ${nb} tokens, not ${n}`);
  };
  if (backend === 'wasm') {
    if (!mod) throw new Error('the WebAssembly sweep needs its module');
    const fn = new WebAssembly.Instance(mod, { env: { memory } }).exports.sweep as (
      a: number,
      idx: number,
      f: number,
      d: number,
      wT: number,
      acc: number,
      sq: number,
      p: number,
      n: number,
      db: number,
    ) => number;
    return {
      tokens: nb,
      a,
      idx,
      sq,
      run: (n = 1) => {
        check(n);
        return fn(aOff, idxOff, f, d, 64, accOff, sqOff, pOff, n, db);
      },
    };
  }
  const wT = new Float32Array(memory.buffer, 64, f * d);
  const acc = new Float64Array(memory.buffer, accOff, db);
  const P = new Float64Array(memory.buffer, pOff, nb * f * 4);
  // as the WebAssembly module: per block of columns and token, the non-zero neurons two at a time through one pass
  // over the block (two independent chains of partial sums; the same operations per neuron), the last odd one alone
  const run = (n = 1): number => {
    check(n);
    for (let r0 = 0; r0 < d; r0 += db) {
      const wb = Math.min(db, d - r0);
      const base = r0 * f;
      const first = r0 === 0;
      for (let tk = 0; tk < n; tk++) {
        const o = tk * f;
        acc.fill(0, 0, wb);
        let k = 0;
        for (;;) {
          while (k < f && a[o + idx[o + k]] === 0) k++;
          if (k >= f) break;
          const p1 = 4 * (o + k);
          const a1 = a[o + idx[o + k]];
          const w = base + idx[o + k] * wb;
          k++;
          while (k < f && a[o + idx[o + k]] === 0) k++;
          let s0 = first ? 0 : P[p1];
          let s1 = first ? 0 : P[p1 + 1];
          let s2 = first ? 0 : P[p1 + 2];
          let s3 = first ? 0 : P[p1 + 3];
          let c = 0;
          if (k < f) {
            const p2 = 4 * (o + k);
            const a2 = a[o + idx[o + k]];
            const w2 = base + idx[o + k] * wb;
            let t0 = first ? 0 : P[p2];
            let t1 = first ? 0 : P[p2 + 1];
            let t2 = first ? 0 : P[p2 + 2];
            let t3 = first ? 0 : P[p2 + 3];
            for (; c + 3 < wb; c += 4) {
              const v0 = acc[c] + a1 * wT[w + c];
              const v1 = acc[c + 1] + a1 * wT[w + c + 1];
              const v2 = acc[c + 2] + a1 * wT[w + c + 2];
              const v3 = acc[c + 3] + a1 * wT[w + c + 3];
              const u0 = v0 + a2 * wT[w2 + c];
              const u1 = v1 + a2 * wT[w2 + c + 1];
              const u2 = v2 + a2 * wT[w2 + c + 2];
              const u3 = v3 + a2 * wT[w2 + c + 3];
              acc[c] = u0;
              acc[c + 1] = u1;
              acc[c + 2] = u2;
              acc[c + 3] = u3;
              s0 += v0 * v0;
              s1 += v1 * v1;
              s2 += v2 * v2;
              s3 += v3 * v3;
              t0 += u0 * u0;
              t1 += u1 * u1;
              t2 += u2 * u2;
              t3 += u3 * u3;
            }
            for (; c < wb; c++) {
              const v = acc[c] + a1 * wT[w + c];
              const u = v + a2 * wT[w2 + c];
              acc[c] = u;
              s0 += v * v;
              t0 += u * u;
            }
            P[p2] = t0;
            P[p2 + 1] = t1;
            P[p2 + 2] = t2;
            P[p2 + 3] = t3;
            k++;
          } else {
            for (; c + 3 < wb; c += 4) {
              const v0 = acc[c] + a1 * wT[w + c];
              const v1 = acc[c + 1] + a1 * wT[w + c + 1];
              const v2 = acc[c + 2] + a1 * wT[w + c + 2];
              const v3 = acc[c + 3] + a1 * wT[w + c + 3];
              acc[c] = v0;
              acc[c + 1] = v1;
              acc[c + 2] = v2;
              acc[c + 3] = v3;
              s0 += v0 * v0;
              s1 += v1 * v1;
              s2 += v2 * v2;
              s3 += v3 * v3;
            }
            for (; c < wb; c++) {
              const v = acc[c] + a1 * wT[w + c];
              acc[c] = v;
              s0 += v * v;
            }
          }
          P[p1] = s0;
          P[p1 + 1] = s1;
          P[p1 + 2] = s2;
          P[p1 + 3] = s3;
        }
      }
    }
    // each neuron's squared norm from its partial sums; a zero activation keeps the one before
    let s = 0;
    for (let tk = 0; tk < n; tk++) {
      const o = tk * f;
      s = 0;
      for (let k = 0; k < f; k++) {
        if (a[o + idx[o + k]] !== 0) {
          const p = 4 * (o + k);
          s = P[p] + P[p + 1] + (P[p + 2] + P[p + 3]);
        }
        sq[o + k] = s;
      }
    }
    return s;
  };
  return { tokens: nb, a, idx, sq, run };
}

/**
 * For tokens [t0, t1) of a layer: the neurons in ascending N_i = |a_i|·‖W_out[:,i]‖ (ties by index) with the
 * tail-to-full norm ratio r(k) of every prefix (float64 sums of fp32 inputs; the full output is the last prefix).
 * Written per token, in order, as pairs (key, jump) into out (2 doubles each); count[t − t0] is the number of
 * pairs, −1 for a token whose FFN output is exactly zero.
 * - authors (cand given, ascending: the authors' linspace grid): key = j, the first candidate ≥ N (where the neuron
 *   joins the tail); jump = r(k) − r(k−1); entries past the last candidate are dropped; zero jumps are left out
 *   (adding +0 changes no sum).
 * - exact (cand null): key = N, every entry, its jump (0 included).
 * a, n: [T, F] fp32; sw: the layer's sweep (makeSweeper), which takes up to sw.tokens tokens per run; out: ≥ 2·F·(t1 − t0) doubles.
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
  // N's fp32 bits: N ≥ 0, so they order as its values. The zeros first (in index order), then a stable radix sort of
  // the others' bits (4 passes of 8 bits, input in index order): ascending N, ties by index.
  const nb = new Uint32Array(n.buffer, n.byteOffset, n.length);
  const ka = new Uint32Array(f);
  const kb = new Uint32Array(f);
  const ia = new Int32Array(f);
  const ib = new Int32Array(f);
  const zi = new Int32Array(f);
  const cnt = new Int32Array(1024);
  const group = sw.tokens;
  // each token's N in its sorted order
  const vals = new Float32Array(f * group);
  const valsBits = new Uint32Array(vals.buffer);
  const idx = sw.idx;
  const sq = sw.sq;
  const K = cand ? cand.length : 0;
  // the grid's spacing where it is a linspace (a first guess of each candidate index; the walk after it is exact)
  const c0 = K > 0 ? cand![0] : 0;
  const inv = K > 1 ? (K - 1) / (cand![K - 1] - c0) : 0;
  let m = 0;
  for (let g0 = t0; g0 < t1; g0 += group) {
    const g1 = Math.min(t1, g0 + group);
    // each token of the group sorted into its row of idx (and vals), its activations into its row of sw.a
    for (let t = g0; t < g1; t++) {
      const o = t * f;
      const q = (t - g0) * f;
      cnt.fill(0);
      let z = 0;
      let nz = 0;
      for (let i = 0; i < f; i++) {
        const b = nb[o + i];
        if (b === 0) zi[z++] = i;
        else {
          ka[nz] = b;
          ia[nz++] = i;
          cnt[b & 255]++;
          cnt[256 + ((b >>> 8) & 255)]++;
          cnt[512 + ((b >>> 16) & 255)]++;
          cnt[768 + (b >>> 24)]++;
        }
      }
      let sk = ka;
      let si = ia;
      for (let sh = 0; sh < 32 && nz > 0; sh += 8) {
        const base = sh * 32;
        if (cnt[base + ((sk[0] >>> sh) & 255)] === nz) continue; // one digit value: this pass keeps the order
        let sum = 0;
        for (let b = 0; b < 256; b++) {
          const c = cnt[base + b];
          cnt[base + b] = sum;
          sum += c;
        }
        const dk = sk === ka ? kb : ka;
        const di = si === ia ? ib : ia;
        for (let i = 0; i < nz; i++) {
          const k = sk[i];
          const p = cnt[base + ((k >>> sh) & 255)]++;
          dk[p] = k;
          di[p] = si[i];
        }
        sk = dk;
        si = di;
      }
      idx.set(zi.subarray(0, z), q);
      idx.set(si.subarray(0, nz), q + z);
      valsBits.fill(0, q, q + z);
      valsBits.set(sk.subarray(0, nz), q + z);
      sw.a.set(a.subarray(o, o + f), q);
    }
    // in that order: the running output sum and its squared norm after every neuron; the last is the full output's
    sw.run(g1 - g0);
    for (let t = g0; t < g1; t++) {
      const q = (t - g0) * f;
      const full = Math.sqrt(sq[q + f - 1]);
      if (!(full > 0)) {
        count[t - t0] = -1;
        continue;
      }
      let prev = 0;
      let j = 0;
      const m0 = m;
      for (let k = 0; k < f; k++) {
        const ratio = Math.sqrt(sq[q + k]) / full;
        if (cand) {
          const v = vals[q + k];
          if (j < K && cand[j] < v) {
            // the first candidate ≥ v (v ascends, so it is at or after j): a guess from the grid's spacing, then the
            // exact walk from it (cand ascends)
            let g = Math.ceil((v - c0) * inv);
            if (!(g > j)) g = j + 1;
            else if (g > K) g = K;
            while (g > j + 1 && cand[g - 1] >= v) g--;
            while (g < K && cand[g] < v) g++;
            j = g;
          }
          if (j >= K) break;
          if (ratio - prev !== 0) {
            out[2 * m] = j;
            out[2 * m + 1] = ratio - prev;
            m++;
          }
        } else {
          out[2 * m] = vals[q + k];
          out[2 * m + 1] = ratio - prev;
          m++;
        }
        prev = ratio;
      }
      count[t - t0] = m - m0;
    }
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

/**
 * Shared buffers of a curve's [T, F] operands (the copy of A the threads read, and N), kept between layers and batches
 * while the pool lives: a fresh SharedArrayBuffer of a 0.1B layer's 4,096 tokens (31 MB) costs its page faults again
 * at every layer (with the copy into it ~90 ms per layer on the 2-core dev machine, against ~10 ms into a kept one).
 * A lease holds its buffer until released; a second curve built at the same time gets a fresh one.
 */
const scratch: { buf: SharedArrayBuffer; busy: boolean }[] = [];
const MAX_SCRATCH = 4;

export interface SharedLease {
  f32: Float32Array;
  release(): void;
}

export function leaseShared(length: number): SharedLease {
  const bytes = length * 4;
  let s = scratch.find((x) => !x.busy && x.buf.byteLength === bytes);
  if (!s) {
    s = { buf: new SharedArrayBuffer(bytes), busy: false };
    // buffers of another size (another model or batch) are dropped first
    for (let i = scratch.length - 1; i >= 0; i--) if (!scratch[i].busy && scratch[i].buf.byteLength !== bytes) scratch.splice(i, 1);
    if (scratch.length < MAX_SCRATCH) scratch.push(s);
  }
  const held = s;
  held.busy = true;
  return {
    f32: new Float32Array(held.buf, 0, length),
    release: () => void (held.busy = false),
  };
}

/** frees the kept buffers not leased now (a prepared target's dispose) */
export function dropCurveScratch(): void {
  for (let i = scratch.length - 1; i >= 0; i--) if (!scratch[i].busy) scratch.splice(i, 1);
}

/** W_out [d, F] → [F, d] (a neuron's output direction contiguous) */
export function transposeDown(wDown: Float32Array, d: number, f: number, out = new Float32Array(f * d)): Float32Array {
  for (let r = 0; r < d; r++) for (let i = 0; i < f; i++) out[i * d + r] = wDown[r * f + i];
  return out;
}

let sweepModule: WebAssembly.Module | null | undefined;
/** the compiled sweep (once per process; workers get it with their start, so they share its compiled code); null
 * where this engine cannot compile it (no WebAssembly SIMD): the JS back end then */
export function curveSweepModule(): WebAssembly.Module | null {
  if (sweepModule === undefined)
    try {
      sweepModule = new WebAssembly.Module(Buffer.from(CURVE_SWEEP_WASM, 'base64'));
    } catch {
      sweepModule = null;
    }
  return sweepModule;
}

/** a calibration: each back end's least ms per token over the timed rounds, and the faster */
export interface SweepCalibration {
  backend: SweepBackend;
  msPerToken: Record<SweepBackend, number>;
  /** the whole calibration's time */
  ms: number;
}

/**
 * Times both back ends' sweep on `tokens` of op's tokens (spread over them; neurons in index order, the same rows of
 * W_out as the curve's; where the shape's sweep is blocked over several tokens, one run of that many), `rounds`
 * rounds; the first round of each is not counted (it compiles: V8's baseline code for WebAssembly, the interpreter
 * for JS). The faster wins (WebAssembly on a tie).
 */
export function calibrateSweep(op: CurveOperands, tokens = 4, rounds = 4): SweepCalibration {
  const s0 = performance.now();
  const mod = curveSweepModule();
  const best: Record<SweepBackend, number> = { js: Infinity, wasm: Infinity };
  if (mod && op.tokens > 0) {
    const memory = curveMemory(op.wT, op.f, op.d, 1);
    const sws = { js: makeSweeper(mod, memory, op.f, op.d, 0, 'js'), wasm: makeSweeper(mod, memory, op.f, op.d, 0, 'wasm') };
    const group = sws.js.tokens;
    const nt = Math.min(group > 1 ? group : tokens, op.tokens);
    for (let r = 0; r < rounds; r++)
      for (const b of ['wasm', 'js'] as const) {
        const sw = sws[b];
        const s = performance.now();
        for (let q0 = 0; q0 < nt; q0 += group) {
          const g = Math.min(group, nt - q0);
          for (let q = 0; q < g; q++) {
            const t = Math.floor(((q0 + q) * op.tokens) / nt);
            sw.a.set(op.a.subarray(t * op.f, (t + 1) * op.f), q * op.f);
            for (let k = 0; k < op.f; k++) sw.idx[q * op.f + k] = k;
          }
          sw.run(g);
        }
        if (r > 0) best[b] = Math.min(best[b], (performance.now() - s) / nt);
      }
  }
  return { backend: !mod || best.js < best.wasm ? 'js' : 'wasm', msPerToken: best, ms: performance.now() - s0 };
}

let forcedSweep: SweepBackend | 'auto' = 'auto';
const calibrations = new Map<string, SweepCalibration>();

/** 'auto' (default): the faster back end on this machine, by calibrateSweep once per process and layer shape; the
 * bench forces one to time each */
export function setCurveSweep(backend: SweepBackend | 'auto'): void {
  forcedSweep = backend;
}

/** the calibrations made in this process, by "F×d" */
export function curveSweepCalibrations(): Record<string, SweepCalibration> {
  return Object.fromEntries(calibrations);
}

/** the back end the curves of op's shape use: the forced one, else the calibrated (calibrating it at the first call) */
export function curveSweepBackend(op: CurveOperands): SweepBackend {
  if (!curveSweepModule()) return 'js';
  if (forcedSweep !== 'auto') return forcedSweep;
  const key = `${op.f}×${op.d}`;
  let c = calibrations.get(key);
  if (!c) {
    c = calibrateSweep(op);
    calibrations.set(key, c);
  }
  return c.backend;
}

/** visits every token's pairs in token order (count −1: a zero-norm token) */
export type PairVisitor = (t: number, pairs: Float64Array, count: number) => void;

/** tokens [from, T) in this thread, a group of the sweep's tokens at a time (small inputs, and where workers cannot start) */
export function curveInThread(op: CurveOperands, visit: PairVisitor, from = 0): void {
  const sw = makeSweeper(curveSweepModule(), curveMemory(op.wT, op.f, op.d, 1), op.f, op.d, 0, curveSweepBackend(op));
  const out = new Float64Array(2 * op.f * sw.tokens);
  const count = new Int32Array(sw.tokens);
  for (let t0 = from; t0 < op.tokens; t0 += sw.tokens) {
    const t1 = Math.min(op.tokens, t0 + sw.tokens);
    curveChunk(op.a, op.n, op.f, op.d, op.cand, t0, t1, out, count, sw);
    let p = 0;
    for (let t = t0; t < t1; t++) {
      const k = count[t - t0];
      visit(t, out.subarray(2 * p, 2 * (p + Math.max(k, 0))), k);
      if (k > 0) p += k;
    }
  }
}

// __name: the helper esbuild's keepNames (tsx, vitest) wraps named inner functions in; the functions' source text
// carries the calls, not the helper
const WORKER_SOURCE = () => `
const { parentPort, workerData } = require('node:worker_threads');
const __name = (fn) => fn;
const makeSweeper = ${makeSweeper.toString()};
const curveChunk = ${curveChunk.toString()};
let layer = -1;
let sw = null;
parentPort.on('message', (m) => {
  try {
    if (m.layer !== layer) {
      sw = makeSweeper(workerData.mod, m.memory, m.f, m.d, workerData.slot, m.backend);
      layer = m.layer;
    }
    const n = m.t1 - m.t0;
    const out = new Float64Array(2 * m.f * n);
    const count = new Int32Array(n);
    const s = performance.now();
    curveChunk(m.a, m.n, m.f, m.d, m.cand, m.t0, m.t1, out, count, sw);
    const ms = performance.now() - s;
    let used = 0;
    for (let i = 0; i < n; i++) if (count[i] > 0) used += count[i];
    const pairs = out.slice(0, 2 * used);
    parentPort.postMessage({ id: m.id, pairs, count, ms }, [pairs.buffer, count.buffer]);
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String((e && e.stack) || e) });
  }
});`;

interface Reply {
  id: number;
  /** the worker's ms in curveChunk */
  ms?: number;
  pairs?: Float64Array;
  count?: Int32Array;
  error?: string;
}

/** threads for the curve: every core the machine has (the engine thread waits meanwhile) */
export function curveThreads(): number {
  return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
}

let pool: Worker[] | undefined;
let workerChunks = 0;
/** chunks of tokens the worker threads computed in this process (a test checks the threads work, not the fallback) */
export function curveWorkerChunks(): number {
  return workerChunks;
}
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
  const backend = curveSweepBackend(op);
  // the blocking: forced, picked, or the next to try on this shape (each tried on one whole layer, on every thread
  // as the curves run: the caches' sharing between the cores decides)
  const shape = `${op.f}×${op.d}`;
  // (a curve of fewer than two token groups per thread is no trial: too short to time, it runs as curveBlocking says)
  const trialable = !forcedBlocking && op.tokens >= 2 * BLOCK_TOKENS * pw.length;
  let trial = trialable ? trials.get(shape) : undefined;
  if (trialable && !trial) {
    trial = { blockings: curveBlockings(op.f, op.d), msPerMega: [] };
    if (trial.blockings.length === 1) trial.pick = trial.blockings[0];
    trials.set(shape, trial);
  }
  if (trial?.pick) trial = undefined;
  const blocking = trial ? trial.blockings[trial.msPerMega.length % trial.blockings.length] : curveBlocking(op.f, op.d);
  const memory = curveMemory(op.wT, op.f, op.d, pw.length, blocking);
  const cand = op.cand ? shared(op.cand) : null;
  const layer = nextLayer++;
  // ~16 chunks per thread: the last chunks of a layer end near together (with 4 per thread, threads waited ~half a
  // chunk at each layer's end: ~45 ms per layer on 16 threads at 4,096 tokens)
  // (a whole number of the sweep's token groups where it is blocked: W_out's blocks read once per group)
  const group = blocking.tokens;
  const chunk = Math.ceil(Math.max(1, Math.min(256, Math.ceil(op.tokens / (16 * pw.length)))) / group) * group;
  let busyMs = 0; // the threads' time in curveChunk (not their start, nor the messages)
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
            workerChunks++;
            busyMs += r.ms ?? 0;
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
            if (done === starts.length) {
              if (trial && !trial.pick) {
                // the threads' time per multiply-add of this layer's sweep (its non-zero activations × d): layers of
                // another sparsity compare; all threads ran at once, so their sharing of the caches and memory counts
                let nz = 0;
                for (let i = 0; i < op.a.length; i++) if (op.a[i] !== 0) nz++;
                trial.msPerMega.push((busyMs * 1e6) / Math.max(1, nz * op.d));
                const nb = trial.blockings.length;
                if (trial.msPerMega.length >= TRIAL_ROUNDS * nb) trial.pick = trial.blockings[trial.msPerMega.indexOf(Math.min(...trial.msPerMega)) % nb];
              }
              resolve();
            }
            else send(w);
          },
          reject: (e) => {
            failed = true;
            reject(e);
          },
        });
        w.postMessage({ id, layer, a, n, memory, backend, f: op.f, d: op.d, cand, t0, t1 });
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
