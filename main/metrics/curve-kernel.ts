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
 * W_out once for every thread, one slot per thread for the rest (curveLayout; the memories are kept between layers).
 * Where W_out is large, the sweep may run over blocks of its columns for 16 tokens at a time (each block read from
 * memory once for them all: the same bits); which blocking is fastest depends on the caches and how many cores share
 * them, so the first curves of such a shape try each on the worker threads, a chunk of tokens per thread each in
 * turn (curveBlockings, BlockingTrial). A layer's preparation runs on the threads too (prepareCurve: N, its least,
 * W_out's blocked copy), so the engine's thread does two copies and the grid per layer, not the whole of it.
 * `curveChunk`, `makeSweeper`, `placeW` and `normsRange` must stay self-contained (no imports, closures or outer
 * functions): the workers
 * run their source text (Function.prototype.toString), so one implementation serves the engine thread and the
 * workers, in the sources (tsx), the bundles and the packaged app alike, without a separate worker file.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { AUTHORS_CANDIDATES, authorsGrid } from '../base/authors-search';
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
 * share them (BENCHMARKS.md, curvesweep): the first curves of a shape on the worker threads try each in turn, a chunk
 * of tokens per thread each, twice (BlockingTrial), and the rest use the fastest (curveParallel).
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

/**
 * The trial of a shape's blockings on the worker threads, within the first curves of the shape: TRIAL_ROUNDS rounds,
 * each a segment of one chunk of tokens per thread in each blocking in turn (all threads sweeping in one blocking at
 * once: their sharing of the caches and memory counts); the rest of such a curve runs in one block. A chunk's time
 * is its thread's time in the kernel per million multiply-adds (its non-zero activations × d: chunks of another
 * sparsity compare); a blocking's figure is the least over the rounds of the median of the round's chunks (a
 * machine's passing load, or the first chunks' compilation, does not decide alone); the pick is the least.
 */
export interface BlockingTrial {
  blockings: CurveBlocking[];
  /** per blocking, per round: its chunks' ms per million multiply-adds */
  samples: number[][][];
  /** per blocking: its figure (once every chunk of the trial is in) */
  msPerMega: number[];
  /** chunks handed out to the trial so far, and received */
  handed: number;
  received: number;
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
 * Where things lie in a layer's shared WebAssembly memory (byte offsets): a 64-byte header, W_out transposed and
 * blocked at `w` (block b: columns [b·db, b·db + wb) of every neuron, [F, wb] fp32, wb = min(db, d − b·db)), then one
 * slot per thread from `slot0`, `slotBytes` each: its tokens' rows of A (at the slot's start), their orders (`idx`),
 * partial squared norms (`p`), squared norms (`sq`), one block's running sum (`acc`), each on a 64-byte line.
 * The one statement of the layout: curveMemory writes it into the header, and the sweeper and the worker threads read
 * it there (their source text runs in the workers, where this function is not).
 */
export function curveLayout(f: number, d: number, db: number, nb: number) {
  const al = (x: number) => Math.ceil(x / 64) * 64;
  const idx = al(nb * f * 4);
  const p = idx + al(nb * f * 4);
  const sq = p + al(nb * f * 32);
  const acc = sq + al(nb * f * 8);
  return { w: 64, slot0: 64 + al(f * d * 4), slotBytes: acc + al(db * 8), idx, p, sq, acc };
}

/** the header's int32 fields: the blocking, then curveLayout's offsets */
const HEAD = ['db', 'nb', 'w', 'slot0', 'slotBytes', 'idx', 'p', 'sq', 'acc'] as const;

/** a layer's memory for `slots` threads with its header written (W_out not placed yet: placeW) */
function layerMemory(f: number, d: number, slots: number, blocking: CurveBlocking): WebAssembly.Memory {
  const lay = curveLayout(f, d, blocking.db, blocking.tokens);
  const pages = Math.ceil((lay.slot0 + slots * lay.slotBytes) / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const head = new Int32Array(memory.buffer, 0, HEAD.length);
  const fields: Record<(typeof HEAD)[number], number> = { db: blocking.db, nb: blocking.tokens, ...lay };
  HEAD.forEach((k, i) => (head[i] = fields[k]));
  return memory;
}

/**
 * Neurons [i0, i1) of W_out into a layer's memory (its header: the blocking and where W_out's blocks lie), from src
 * where neuron i's column r is src[i·si + r·sr]: W_out as the checkpoint holds it ([d, F]: si 1, sr F) or transposed
 * ([F, d]: si d, sr 1). 16 neurons at a time (a cache line of the [d, F] layout per column). Self-contained: the worker
 * threads run its source.
 */
export function placeW(src: Float32Array, si: number, sr: number, memory: WebAssembly.Memory, f: number, d: number, i0: number, i1: number): void {
  const head = new Int32Array(memory.buffer, 0, 3);
  const db = head[0];
  const w = new Float32Array(memory.buffer, head[2], f * d);
  for (let r0 = 0; r0 < d; r0 += db) {
    const wb = Math.min(db, d - r0);
    const base = r0 * f;
    for (let j0 = i0; j0 < i1; j0 += 16) {
      const j1 = Math.min(i1, j0 + 16);
      for (let c = 0; c < wb; c++) {
        const s = (r0 + c) * sr;
        for (let i = j0; i < j1; i++) w[base + i * wb + c] = src[i * si + s];
      }
    }
  }
}

/**
 * N = |A| · colNorms (fp32, as the authors multiply two fp32 tensors) of tokens [t0, t1) into n; returns their least N
 * (Infinity for none; a NaN is never the least, as in authorsGridBounds). A, n: [T, F]. Self-contained: the worker
 * threads run its source.
 */
export function normsRange(a: Float32Array, f: number, colNorms: Float32Array, n: Float32Array, t0: number, t1: number): number {
  let min = Infinity;
  for (let t = t0; t < t1; t++) {
    const o = t * f;
    for (let i = 0; i < f; i++) {
      n[o + i] = Math.abs(a[o + i]) * colNorms[i];
      if (n[o + i] < min) min = n[o + i];
    }
  }
  return min;
}

/** A layer's memory (curveLayout) for `slots` threads with W_out placed from its transpose wT [F, d]; every worker
 * reads the one copy of the weights. */
export function curveMemory(wT: Float32Array, f: number, d: number, slots: number, blocking = curveBlocking(f, d)): WebAssembly.Memory {
  const memory = layerMemory(f, d, slots, blocking);
  placeW(wT, d, 1, memory, f, d, 0, f);
  return memory;
}

/**
 * The sweep on slot `slot` of a layer's memory (curveMemory, whose header gives the blocking and the layout), by
 * `backend` (mod: the
 * compiled curve-sweep.wat, only for 'wasm'). For each token, in the order idx: acc += a_i · W_out[:, i] (float64
 * from fp32 inputs) and its squared norm after every neuron, in four partial sums (lane q over r ≡ q mod 4 in order,
 * the rest of d mod 4 into lane 0) added as (s0 + s1) + (s2 + s3). Blocked over d: for each block of columns in
 * order, each token's neurons in order, the running sum of the block's columns and each neuron's four partial sums
 * carried on from the block before (P) — every sum takes the same terms in the same order as the plain loop over the
 * whole of d, so the same bits. The WebAssembly module runs these operations in this order, so the same bits too.
 */
export function makeSweeper(mod: WebAssembly.Module | null, memory: WebAssembly.Memory, f: number, d: number, slot: number, backend: SweepBackend): Sweeper {
  // the header (curveLayout's offsets, in HEAD's order)
  const [db, nb, wOff, slot0, slotBytes, idxRel, pRel, sqRel, accRel] = new Int32Array(memory.buffer, 0, 9);
  const aOff = slot0 + slot * slotBytes;
  const idxOff = aOff + idxRel;
  const pOff = aOff + pRel;
  const sqOff = aOff + sqRel;
  const accOff = aOff + accRel;
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
        return fn(aOff, idxOff, f, d, wOff, accOff, sqOff, pOff, n, db);
      },
    };
  }
  const wT = new Float32Array(memory.buffer, wOff, f * d);
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

/** One layer's operands, in shared memory so every worker reads them without a copy; wT: W_out transposed, [F, d]. */
export interface CurveOperands {
  a: Float32Array;
  n: Float32Array;
  wT: Float32Array;
  f: number;
  d: number;
  tokens: number;
  cand: Float32Array | null;
}

/** A layer prepared on the worker threads (prepareCurve): A's shared copy, N and the grid, W_out placed in the layer's
 * memories; wDown: W_out as the checkpoint holds it, [d, F] (this thread's fallback places its own copy from it). */
export interface PreparedOperands extends Omit<CurveOperands, 'wT'> {
  wDown: Float32Array;
  plan: LayerPlan;
}

export type LayerOperands = CurveOperands | PreparedOperands;

/** W_out of a layer's operands as placeW reads it: the array, neuron stride, column stride */
function wSource(op: LayerOperands): [Float32Array, number, number] {
  return 'wT' in op ? [op.wT, op.d, 1] : [op.wDown, 1, op.f];
}

/** a layer's memory for `slots` threads with W_out placed on this thread */
function memoryOf(op: LayerOperands, slots: number, blocking: CurveBlocking): WebAssembly.Memory {
  const memory = layerMemory(op.f, op.d, slots, blocking);
  placeW(...wSource(op), memory, op.f, op.d, 0, op.f);
  return memory;
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

/**
 * Layer memories kept between layers and batches as the shared buffers are (a fresh one of the 1B shape, W_out and 16
 * threads' slots, ~115 MB, costs its page faults at every layer); their W_out is placed again for each layer, their
 * slots are written before they are read. Keyed by shape, blocking and slots.
 */
const memories: { key: string; memory: WebAssembly.Memory; busy: boolean }[] = [];
const MAX_MEMORIES = 4;

const memoryKey = (f: number, d: number, slots: number, b: CurveBlocking) => `${f}×${d}:${b.db}x${b.tokens}:${slots}`;

function leaseMemory(f: number, d: number, slots: number, blocking: CurveBlocking): { memory: WebAssembly.Memory; release(): void } {
  const key = memoryKey(f, d, slots, blocking);
  let m = memories.find((x) => !x.busy && x.key === key);
  if (!m) {
    m = { key, memory: layerMemory(f, d, slots, blocking), busy: false };
    for (let i = memories.length - 1; i >= 0; i--) if (!memories[i].busy && !memories[i].key.startsWith(`${f}×${d}:`)) memories.splice(i, 1);
    if (memories.length >= MAX_MEMORIES) {
      const idle = memories.findIndex((x) => !x.busy);
      if (idle >= 0) memories.splice(idle, 1);
    }
    if (memories.length < MAX_MEMORIES) memories.push(m);
  }
  const held = m;
  held.busy = true;
  return { memory: held.memory, release: () => void (held.busy = false) };
}

/** frees the kept buffers and layer memories not leased now (a prepared target's dispose) */
export function dropCurveScratch(): void {
  for (let i = scratch.length - 1; i >= 0; i--) if (!scratch[i].busy) scratch.splice(i, 1);
  for (let i = memories.length - 1; i >= 0; i--) if (!memories[i].busy) memories.splice(i, 1);
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
export function calibrateSweep(op: LayerOperands, tokens = 4, rounds = 4): SweepCalibration {
  const s0 = performance.now();
  const mod = curveSweepModule();
  const best: Record<SweepBackend, number> = { js: Infinity, wasm: Infinity };
  if (mod && op.tokens > 0) {
    const memory = memoryOf(op, 1, curveBlocking(op.f, op.d));
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
export function curveSweepBackend(op: LayerOperands): SweepBackend {
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
export function curveInThread(op: LayerOperands, visit: PairVisitor, from = 0): void {
  const sw = makeSweeper(curveSweepModule(), memoryOf(op, 1, curveBlocking(op.f, op.d)), op.f, op.d, 0, curveSweepBackend(op));
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
// carries the calls, not the helper. Two messages: 'place' (a layer's preparation: W_out's neurons [i0, i1) into each
// of the layer's memories, and N of tokens [t0, t1) with their least) and a chunk of tokens' sweep (its pairs, the
// kernel's time and the chunk's non-zero activations, for the blocking trial).
const WORKER_SOURCE = () => `
const { parentPort, workerData } = require('node:worker_threads');
const __name = (fn) => fn;
const makeSweeper = ${makeSweeper.toString()};
const curveChunk = ${curveChunk.toString()};
const placeW = ${placeW.toString()};
const normsRange = ${normsRange.toString()};
let layer = -1;
let sweepers = new Map();
parentPort.on('message', (m) => {
  try {
    if (m.kind === 'place') {
      for (const memory of m.memories) placeW(m.w, m.si, m.sr, memory, m.f, m.d, m.i0, m.i1);
      const min = m.t1 > m.t0 ? normsRange(m.a, m.f, m.col, m.n, m.t0, m.t1) : Infinity;
      parentPort.postMessage({ id: m.id, min });
      return;
    }
    if (m.layer !== layer) {
      sweepers = new Map();
      layer = m.layer;
    }
    let sw = sweepers.get(m.bi);
    if (!sw) {
      sw = makeSweeper(workerData.mod, m.memory, m.f, m.d, workerData.slot, m.backend);
      sweepers.set(m.bi, sw);
    }
    const n = m.t1 - m.t0;
    const out = new Float64Array(2 * m.f * n);
    const count = new Int32Array(n);
    const s = performance.now();
    curveChunk(m.a, m.n, m.f, m.d, m.cand, m.t0, m.t1, out, count, sw);
    const ms = performance.now() - s;
    let used = 0;
    for (let i = 0; i < n; i++) if (count[i] > 0) used += count[i];
    let nz = 0;
    for (let i = m.t0 * m.f; i < m.t1 * m.f; i++) if (m.a[i] !== 0) nz++;
    const pairs = out.slice(0, 2 * used);
    parentPort.postMessage({ id: m.id, pairs, count, ms, nz }, [pairs.buffer, count.buffer]);
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String((e && e.stack) || e) });
  }
});`;

interface Reply {
  id: number;
  /** the worker's ms in curveChunk */
  ms?: number;
  /** the chunk's non-zero activations */
  nz?: number;
  pairs?: Float64Array;
  count?: Int32Array;
  /** a preparation's least N */
  min?: number;
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
 * A layer's plan on the worker threads: its blockings (one, or each of a trial's), their memories (W_out placed, one
 * slot per thread), and the trial the layer takes part in.
 */
export interface LayerPlan {
  pool: Worker[];
  blockings: CurveBlocking[];
  memories: WebAssembly.Memory[];
  trial?: BlockingTrial;
  release(): void;
}

/** the blockings of a layer about to be built on `threads` threads: forced, picked, or every one of a trial still on
 * (a curve of fewer than two token groups per thread takes no part in a trial: too short to time) */
function planBlockings(f: number, d: number, tokens: number, threads: number): { blockings: CurveBlocking[]; trial?: BlockingTrial } {
  const shape = `${f}×${d}`;
  if (forcedBlocking || tokens < 2 * BLOCK_TOKENS * threads) return { blockings: [curveBlocking(f, d)] };
  let trial = trials.get(shape);
  if (!trial) {
    const blockings = curveBlockings(f, d);
    trial = { blockings, samples: blockings.map(() => Array.from({ length: TRIAL_ROUNDS }, () => [])), msPerMega: [], handed: 0, received: 0 };
    if (blockings.length === 1) trial.pick = blockings[0];
    trials.set(shape, trial);
  }
  if (trial.pick) return { blockings: [trial.pick] };
  if (trial.handed >= trial.blockings.length * TRIAL_ROUNDS * threads) return { blockings: [curveBlocking(f, d)] }; // its chunks in flight elsewhere
  return { blockings: trial.blockings, trial };
}

/** leases the memories of a layer's plan (W_out not placed yet) */
function leasePlan(pool: Worker[], f: number, d: number, tokens: number): LayerPlan {
  const { blockings, trial } = planBlockings(f, d, tokens, pool.length);
  // the kept memories of this shape's other blockings go (a trial's, once it has picked)
  const keys = blockings.map((b) => memoryKey(f, d, pool.length, b));
  for (let i = memories.length - 1; i >= 0; i--) if (!memories[i].busy && memories[i].key.startsWith(`${f}×${d}:`) && !keys.includes(memories[i].key)) memories.splice(i, 1);
  const leases = blockings.map((b) => leaseMemory(f, d, pool.length, b));
  return { pool, blockings, memories: leases.map((x) => x.memory), trial, release: () => leases.forEach((x) => x.release()) };
}

/** sends a message to a thread of the pool; its reply */
function ask(w: Worker, msg: Record<string, unknown>): Promise<Reply> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    w.postMessage({ ...msg, id });
  });
}

/** W_out (src, strides as placeW) into every memory of the plan, and where `norms` is given N of its tokens, split
 * over the threads (neurons in runs of 16, tokens evenly); returns the least N (Infinity without norms) */
async function placeOnThreads(plan: LayerPlan, src: Float32Array, si: number, sr: number, f: number, d: number, norms?: { a: Float32Array; n: Float32Array; col: Float32Array; tokens: number }): Promise<number> {
  const p = plan.pool.length;
  const per = Math.ceil(Math.ceil(f / p) / 16) * 16;
  const replies = await Promise.all(
    plan.pool.map((w, k) =>
      ask(w, {
        kind: 'place',
        memories: plan.memories,
        w: src,
        si,
        sr,
        f,
        d,
        i0: Math.min(f, k * per),
        i1: Math.min(f, (k + 1) * per),
        ...(norms ? { a: norms.a, n: norms.n, col: norms.col, t0: Math.floor((k * norms.tokens) / p), t1: Math.floor(((k + 1) * norms.tokens) / p) } : { t0: 0, t1: 0 }),
      }),
    ),
  );
  let min = Infinity;
  for (const r of replies) if (r.min! < min) min = r.min!;
  return min;
}

/** what the engine hands over for a layer's curve (thresholds.ts LayerInput): the dense pass's A and W_out as the checkpoint holds it */
export interface CurveInput {
  /** [tokens, F] dense gated intermediates (real tokens only), fp32 */
  a: Float32Array;
  tokens: number;
  f: number;
  /** [d, F] W_out (down_proj weight, PyTorch layout), bias excluded (paper Sec. 4.1) */
  wDown: Float32Array;
  d: number;
  /** [F] ‖W_out[:, i]‖₂ */
  colNorms: Float32Array;
}

/**
 * A layer's operands prepared on the worker threads: A copied into shared memory (this thread: one copy), then on the
 * threads N = |A|·colNorms with its least (normsRange) and W_out placed into the layer's memories (placeW, from a
 * shared copy of it); this thread then takes the authors' grid from N and its least (with `authors`; null: the exact
 * mode). What stays on this thread per layer is two copies and the grid's 65,536-value sort. undefined where the
 * threads cannot run (one thread, or they fail): the caller builds the curve on its own thread. release() gives the
 * shared buffers and memories back (after the curve).
 */
export async function prepareCurve(input: CurveInput, authors: boolean, threads = curveThreads()): Promise<{ op: PreparedOperands; release(): void } | undefined> {
  const { tokens, f, d } = input;
  const pw = threads > 1 && tokens > 1 ? workers(threads) : undefined;
  if (!pw) return undefined;
  if (idleTimer) clearTimeout(idleTimer);
  const nLease = leaseShared(tokens * f);
  const aLease = input.a.buffer instanceof SharedArrayBuffer ? undefined : leaseShared(tokens * f);
  const wLease = input.wDown.buffer instanceof SharedArrayBuffer ? undefined : leaseShared(d * f);
  const a = aLease ? aLease.f32 : input.a;
  aLease?.f32.set(input.a);
  const w = wLease ? wLease.f32 : input.wDown;
  wLease?.f32.set(input.wDown);
  const plan = leasePlan(pw, f, d, tokens);
  const release = () => {
    nLease.release();
    aLease?.release();
    plan.release();
  };
  try {
    const min = await placeOnThreads(plan, w, 1, f, f, d, { a, n: nLease.f32, col: input.colNorms, tokens });
    const cand = authors ? authorsGrid(nLease.f32, AUTHORS_CANDIDATES, min) : null;
    return { op: { a, n: nLease.f32, wDown: input.wDown, f, d, tokens, cand, plan }, release };
  } catch {
    failPool(new Error('CETT curve worker pool stopped'));
    release();
    return undefined;
  } finally {
    wLease?.release();
    armIdle();
  }
}

function armIdle(): void {
  // idle threads are ended soon after (a process with live threads would not exit when its work is done)
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = setTimeout(() => void closeCurvePool(), IDLE_MS);
  idleTimer.unref();
}

/** a trial's chunk in: its sample; once every chunk of the trial is in, the figures and the pick */
function trialSample(trial: BlockingTrial, bi: number, round: number, ms: number, nz: number, d: number): void {
  trial.samples[bi][round].push((ms * 1e6) / Math.max(1, nz * d));
  trial.received++;
  if (trial.pick || trial.received < trial.handed || trial.samples.some((b) => b.some((r) => r.length === 0))) return;
  const median = (x: number[]) => [...x].sort((p, q) => p - q)[x.length >> 1];
  trial.msPerMega = trial.samples.map((b) => Math.min(...b.map(median)));
  trial.pick = trial.blockings[trial.msPerMega.indexOf(Math.min(...trial.msPerMega))];
}

/**
 * The pairs of every token, visited in token order, computed on `threads` worker threads in chunks of tokens
 * (the same numbers as curveInThread: one function per token, the caller's sums in token order). A prepared layer
 * (prepareCurve) runs on the memories its threads filled; else W_out is placed on the threads first.
 */
export async function curveParallel(op: LayerOperands, visit: PairVisitor, threads = curveThreads()): Promise<void> {
  const prepared = 'plan' in op ? op.plan : undefined;
  // a prepared layer's memories have one slot per thread of the pool that filled them
  const pw = prepared ? (prepared.pool === pool ? prepared.pool : undefined) : threads > 1 && op.tokens > 1 ? workers(threads) : undefined;
  if (!pw) return curveInThread(op, visit);
  if (idleTimer) clearTimeout(idleTimer);
  let done = 0; // chunks visited so far (in order)
  let starts: number[] = [];
  let own: LayerPlan | undefined;
  let plan = prepared;
  try {
    if (!plan) {
      plan = own = leasePlan(pw, op.f, op.d, op.tokens);
      await placeOnThreads(plan, ...wSource(op), op.f, op.d);
    }
    const { blockings, memories, trial } = plan;
    const a = shared(op.a);
    const n = shared(op.n);
    const backend = curveSweepBackend(op);
    const cand = op.cand ? shared(op.cand) : null;
    const layer = nextLayer++;
    // ~16 chunks per thread: the last chunks of a layer end near together (with 4 per thread, threads waited ~half a
    // chunk at each layer's end: ~45 ms per layer on 16 threads at 4,096 tokens)
    // (a whole number of the sweep's token groups where it is blocked: W_out's blocks read once per group)
    const group = Math.max(...blockings.map((b) => b.tokens));
    const chunk = Math.ceil(Math.max(1, Math.min(256, Math.ceil(op.tokens / (16 * pw.length)))) / group) * group;
    starts = [];
    for (let t = 0; t < op.tokens; t += chunk) starts.push(t);
    const results = new Map<number, Reply>();
    let next = 0; // next chunk to hand out
    const trialChunks = trial ? trial.blockings.length * TRIAL_ROUNDS * pw.length : 0;
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const send = (w: Worker) => {
        if (failed || next >= starts.length) return;
        const c = next++;
        // a trial's chunks: segments of one chunk per thread, the blockings in turn, TRIAL_ROUNDS rounds; the rest in
        // the first of the layer's blockings (one block in a trial)
        let bi = 0;
        let round = -1;
        if (trial && trial.handed < trialChunks) {
          const seg = Math.floor(trial.handed++ / pw.length);
          bi = seg % blockings.length;
          round = Math.floor(seg / blockings.length);
        }
        const t0 = starts[c];
        const t1 = Math.min(op.tokens, t0 + chunk);
        ask(w, { layer, bi, a, n, memory: memories[bi], backend, f: op.f, d: op.d, cand, t0, t1 }).then(
          (r) => {
            workerChunks++;
            if (trial && round >= 0) trialSample(trial, bi, round, r.ms ?? 0, r.nz ?? 0, op.d);
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
          (e) => {
            failed = true;
            reject(e);
          },
        );
      };
      for (const w of pw) send(w);
    });
  } catch {
    // a worker failed (or the pool was closed): the tokens not yet visited in this thread, in order (its own copy of
    // W_out: a thread being ended may still write its slot); the next curve starts a new pool
    failPool(new Error('CETT curve worker pool stopped'));
    // a trial whose chunks will not all come in starts again with the next curves
    if (plan?.trial && !plan.trial.pick) trials.delete(`${op.f}×${op.d}`);
    curveInThread(op, visit, done < starts.length ? starts[done] : starts.length ? op.tokens : 0);
  } finally {
    own?.release();
    armIdle();
  }
}
