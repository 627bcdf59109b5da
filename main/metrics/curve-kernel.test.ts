import { spawnSync } from 'node:child_process';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  calibrateSweep,
  closeCurvePool,
  curveChunk,
  curveInThread,
  curveMemory,
  curveParallel,
  curveSweepCalibrations,
  curveSweepModule,
  curveWorkerChunks,
  curveBlocking,
  curveBlockingTrials,
  curveBlockings,
  curveLayout,
  makeSweeper,
  prepareCurve,
  setCurveBlocking,
  setCurveSweep,
  transposeDown,
  type CurveOperands,
  type SweepBackend,
} from './curve-kernel';
import { authorsGrid } from '../base/authors-search';
import { neuronNorms } from './thresholds';
import { mulberry32 } from '../base/rng';

afterAll(closeCurvePool);
afterEach(() => setCurveBlocking(null));

/** the sweep as a plain loop: running sum acc += a_i·w_i over the order idx, squared norm in four partial sums */
function sweepJs(a: Float32Array, idx: Int32Array, wT: Float32Array, f: number, d: number): Float64Array {
  const acc = new Float64Array(d);
  const sq = new Float64Array(f);
  let s = 0;
  for (let k = 0; k < f; k++) {
    const i = idx[k];
    const ai = a[i];
    if (ai !== 0) {
      const ps = [0, 0, 0, 0];
      let r = 0;
      for (; r + 3 < d; r += 4)
        for (let q = 0; q < 4; q++) {
          const v = acc[r + q] + ai * wT[i * d + r + q];
          acc[r + q] = v;
          ps[q] += v * v;
        }
      for (; r < d; r++) {
        const v = acc[r] + ai * wT[i * d + r];
        acc[r] = v;
        ps[0] += v * v;
      }
      s = ps[0] + ps[1] + (ps[2] + ps[3]);
    }
    sq[k] = s;
  }
  return sq;
}

/** curveChunk's pairs by the plain route: a comparison sort (N, then index), the plain sweep, a linear walk over cand */
function referencePairs(a: Float32Array, n: Float32Array, wT: Float32Array, f: number, d: number, cand: Float32Array | null, T: number) {
  const pairs: number[] = [];
  const count: number[] = [];
  for (let t = 0; t < T; t++) {
    const row = a.subarray(t * f, (t + 1) * f);
    const nn = n.subarray(t * f, (t + 1) * f);
    const idx = Int32Array.from({ length: f }, (_, i) => i).sort((x, y) => nn[x] - nn[y] || x - y);
    const sq = sweepJs(row, idx, wT, f, d);
    const full = Math.sqrt(sq[f - 1]);
    if (!(full > 0)) {
      count.push(-1);
      continue;
    }
    let c = 0;
    let prev = 0;
    for (let k = 0; k < f; k++) {
      const ratio = Math.sqrt(sq[k]) / full;
      const v = nn[idx[k]];
      if (cand) {
        let j = 0;
        while (j < cand.length && cand[j] < v) j++;
        if (j >= cand.length) break;
        if (ratio - prev !== 0) {
          pairs.push(j, ratio - prev);
          c++;
        }
      } else {
        pairs.push(v, ratio - prev);
        c++;
      }
      prev = ratio;
    }
    count.push(c);
  }
  return { pairs, count };
}

/** one token's pairs as text (token, count, its 2 × count values): how what the visitors saw is compared */
function pairsLine(t: number, pairs: Float64Array | number[], count: number): string {
  return `${t}:${count}:${pairs.slice(0, 2 * Math.max(count, 0)).join(',')}`;
}

/** curveChunk over all T tokens with one back end's sweeper gives the plain reference's counts and pairs */
function expectChunkPairs(a: Float32Array, n: Float32Array, wT: Float32Array, f: number, d: number, cand: Float32Array | null, T: number, backend: SweepBackend, want: ReturnType<typeof referencePairs>): void {
  const sw = makeSweeper(curveSweepModule(), curveMemory(wT, f, d, 1), f, d, 0, backend);
  const out = new Float64Array(2 * f * T);
  const count = new Int32Array(T);
  curveChunk(a, n, f, d, cand, 0, T, out, count, sw);
  expect(Array.from(count)).toEqual(want.count);
  expect(Array.from(out.subarray(0, want.pairs.length))).toEqual(want.pairs);
}

describe('CETT curve kernel (CPU)', () => {
  it('both sweeps (WebAssembly, JS) give the plain loop bit for bit (d mod 4 = 0..3, zero activations, any order, any slot)', () => {
    const r = mulberry32(41);
    for (const [f, d] of [[9, 4], [17, 5], [33, 6], [20, 7], [64, 13], [40, 32]]) {
      const wT = Float32Array.from({ length: f * d }, () => (r() - 0.5) * 3);
      const memory = curveMemory(wT, f, d, 3);
      for (let rep = 0; rep < 10; rep++) {
        const backend = rep % 2 ? 'js' : 'wasm';
        const sw = makeSweeper(curveSweepModule(), memory, f, d, rep % 3, backend); // any thread's slot of the layer's memory
        const a = Float32Array.from({ length: f }, () => (r() < 0.3 ? 0 : (r() - 0.5) * 10 ** (r() * 4 - 2)));
        const idx = Int32Array.from({ length: f }, (_, i) => i).sort(() => r() - 0.5);
        sw.a.set(a);
        sw.idx.set(idx);
        const last = sw.run();
        const want = sweepJs(a, idx, wT, f, d);
        for (let k = 0; k < f; k++) expect(Object.is(sw.sq[k], want[k]), `${backend} F=${f} d=${d} k=${k}`).toBe(true);
        expect(Object.is(last, want[f - 1])).toBe(true);
      }
    }
  });

  it('curveChunk: the pairs of a plain reference (comparison sort by N then index, linear walk over the grid), on both sweeps', () => {
    const r = mulberry32(5);
    for (const [T, f, d, zeros, ties] of [[12, 37, 5, 0.5, 0], [9, 64, 8, 0, 0.5], [7, 256, 3, 0.3, 0.2], [5, 1, 4, 0, 0]] as const) {
      const wT = Float32Array.from({ length: f * d }, () => r() - 0.5);
      wT.fill(0, 2 * d, 3 * d); // a neuron with a zero output direction (N = 0 with a ≠ 0)
      // ties: N values repeated inside a token; large spread: radix digits in every byte
      const a = Float32Array.from({ length: T * f }, () => (r() < zeros ? 0 : r() < ties ? 0.5 : (r() - 0.3) * 10 ** (r() * 8 - 4)));
      a.fill(0, 0, f); // a zero-norm token
      const col = Float32Array.from({ length: f }, (_, i) => Math.hypot(...wT.subarray(i * d, (i + 1) * d)));
      const n = Float32Array.from(a, (x, i) => Math.abs(x) * col[i % f]);
      // the authors' grid, a short one most N lie past, an uneven one (the guess from its spacing is far off), repeats
      const grids = [authorsGrid(n), Float32Array.from({ length: 300 }, (_, i) => i * 1e-3), Float32Array.from({ length: 200 }, (_, i) => (i / 200) ** 4 * 3), Float32Array.from({ length: 200 }, (_, i) => (1 - (1 - i / 199) ** 4) * 3), Float32Array.from([0, 0.01, 0.01, 0.01, 0.5, 0.5, 7])];
      for (const cand of [null, ...grids]) {
        const want = referencePairs(a, n, wT, f, d, cand, T);
        for (const backend of ['js', 'wasm'] as const) {
          expectChunkPairs(a, n, wT, f, d, cand, T, backend, want);
        }
      }
    }
  });

  it('the blocked sweep (W_out in blocks of columns, several tokens per run) gives the plain loop bit for bit: both back ends, any d mod 4 and block, zero activations, any slot, fewer tokens than it holds', () => {
    const r = mulberry32(77);
    // [F, d, db, tokens]: d a multiple of db, not (a narrow last block, d mod 4 = 1..3 in it), db ≥ d (one block), a block of 4
    for (const [f, d, db, nb] of [[9, 4, 4, 3], [17, 13, 8, 4], [33, 22, 4, 2], [20, 7, 12, 5], [64, 37, 16, 3], [40, 32, 8, 1], [11, 6, 64, 2], [5, 1, 4, 2]]) {
      setCurveBlocking({ db, tokens: nb });
      expect(curveBlocking(f, d)).toEqual({ db: Math.min(db, Math.ceil(d / 4) * 4), tokens: nb });
      const wT = Float32Array.from({ length: f * d }, () => (r() - 0.5) * 3);
      const memory = curveMemory(wT, f, d, 3);
      for (let rep = 0; rep < 8; rep++) {
        const backend = rep % 2 ? 'js' : 'wasm';
        const sw = makeSweeper(curveSweepModule(), memory, f, d, rep % 3, backend);
        expect(sw.tokens).toBe(nb);
        const n = 1 + (rep % nb); // 1 … nb tokens in this run
        const rows = Array.from({ length: n }, (_, q) =>
          // a token of zeros only (its output exactly zero), ReLU-like zeros, SiLU-like (none zero), spread magnitudes
          q === 1 ? new Float32Array(f) : Float32Array.from({ length: f }, () => (rep % 4 === 2 ? (r() - 0.4) * 4 : r() < 0.4 ? 0 : (r() - 0.5) * 10 ** (r() * 4 - 2))),
        );
        const orders = rows.map(() => Int32Array.from({ length: f }, (_, i) => i).sort(() => r() - 0.5));
        rows.forEach((row, q) => {
          sw.a.set(row, q * f);
          sw.idx.set(orders[q], q * f);
        });
        const last = sw.run(n);
        for (let q = 0; q < n; q++) {
          const want = sweepJs(rows[q], orders[q], wT, f, d);
          for (let k = 0; k < f; k++) expect(Object.is(sw.sq[q * f + k], want[k]), `${backend} F=${f} d=${d} db=${db} token ${q}/${n} k=${k}`).toBe(true);
          if (q === n - 1) expect(Object.is(last, want[f - 1])).toBe(true);
        }
      }
      expect(() => makeSweeper(curveSweepModule(), memory, f, d, 0, 'js').run(nb + 1)).toThrow(/runs 1 to/);
    }
  });

  it('blocked: curveChunk, curveInThread and the worker threads give the plain reference\'s pairs (tokens not a multiple of the group, zero-norm tokens, ReLU and SiLU rows)', async () => {
    const r = mulberry32(19);
    for (const [T, f, d, db, nb, act] of [[13, 37, 10, 4, 4, 'relu'], [9, 64, 21, 8, 16, 'silu'], [20, 30, 9, 12, 3, 'silu'], [5, 1, 4, 4, 2, 'relu']] as const) {
      setCurveBlocking({ db, tokens: nb });
      const wT = Float32Array.from({ length: f * d }, () => r() - 0.5);
      if (f > 3) wT.fill(0, 2 * d, 3 * d); // a neuron with a zero output direction (N = 0 with a ≠ 0)
      const a = Float32Array.from({ length: T * f }, () => {
        const x = (r() - 0.5) * 6;
        return act === 'relu' ? Math.max(0, x) : x / (1 + Math.exp(-x));
      });
      a.fill(0, 0, f); // a zero-norm token
      if (T > 3) a.fill(0, 3 * f, 4 * f);
      const col = Float32Array.from({ length: f }, (_, i) => Math.hypot(...wT.subarray(i * d, (i + 1) * d)));
      const n = Float32Array.from(a, (x, i) => Math.abs(x) * col[i % f]);
      for (const cand of [null, authorsGrid(n)]) {
        const want = referencePairs(a, n, wT, f, d, cand, T);
        const wantSeen: string[] = [];
        let p = 0;
        want.count.forEach((c, t) => {
          wantSeen.push(pairsLine(t, want.pairs.slice(2 * p), c));
          if (c > 0) p += c;
        });
        for (const backend of ['js', 'wasm'] as const) {
          expectChunkPairs(a, n, wT, f, d, cand, T, backend, want);
          setCurveSweep(backend);
          const op: CurveOperands = { a, n, wT, f, d, tokens: T, cand };
          for (const threads of [1, 2]) {
            const seen: string[] = [];
            const visit = (t: number, pairs: Float64Array, c: number) => seen.push(pairsLine(t, pairs, c));
            if (threads === 1) curveInThread(op, visit);
            else await curveParallel(op, visit, threads);
            expect(seen, `${backend} T=${T} F=${f} d=${d} threads ${threads}`).toEqual(wantSeen);
          }
        }
        setCurveSweep('auto');
      }
    }
  });

  it('the blockings to choose from: one block where W_out fits 2 MB, else also a power of two of columns up to 1.5 MB and up to 6 MB, for 16 tokens (the 1B shape: 64 and 256 of 2,048)', () => {
    expect(curveBlockings(48, 8)).toEqual([{ db: 8, tokens: 1 }]);
    expect(curveBlockings(64, 13)).toEqual([{ db: 16, tokens: 1 }]);
    expect(curveBlockings(5632, 2048)).toEqual([{ db: 2048, tokens: 1 }, { db: 64, tokens: 16 }, { db: 256, tokens: 16 }]);
    expect(curveBlockings(11008, 4096)).toEqual([{ db: 4096, tokens: 1 }, { db: 32, tokens: 16 }, { db: 128, tokens: 16 }]);
    expect(curveBlockings(3072, 768)).toEqual([{ db: 768, tokens: 1 }, { db: 128, tokens: 16 }, { db: 512, tokens: 16 }]);
    expect(curveBlockings(40, 20000)).toEqual([{ db: 20000, tokens: 1 }, { db: 8192, tokens: 16 }]); // 6 MB holds all its columns
    expect(curveBlocking(5632, 2048)).toEqual({ db: 2048, tokens: 1 }); // before its trials
    expect(() => setCurveBlocking({ db: 6, tokens: 2 })).toThrow(/multiple of 4/);
    expect(() => setCurveBlocking({ db: 8, tokens: 0 })).toThrow(/whole number/);
  });

  it('the first curves of a large shape on the threads try each blocking on a chunk per thread in turn, twice, then use the fastest: the same pairs all along', async () => {
    const r = mulberry32(23);
    const [T, f, d] = [64, 1024, 520]; // W_out 2.1 MB: one block, or 256 columns for 16 tokens; 2 groups of 16 per thread
    const wT = Float32Array.from({ length: f * d }, () => r() - 0.5);
    const a = Float32Array.from({ length: T * f }, () => Math.max(0, r() - 0.5));
    const col = Float32Array.from({ length: f }, (_, i) => Math.hypot(...wT.subarray(i * d, (i + 1) * d)));
    const n = Float32Array.from(a, (x, i) => x * col[i % f]);
    const op: CurveOperands = { a, n, wT, f, d, tokens: T, cand: authorsGrid(n) };
    const runs: string[][] = [];
    const key = `${f}×${d}`;
    // too few tokens to time (fewer than 2 groups per thread): no trial, one block
    await curveParallel({ ...op, tokens: 40, a: a.subarray(0, 40 * f), n: n.subarray(0, 40 * f) }, () => {}, 2);
    expect(curveBlockingTrials()[key]).toBeUndefined();
    // 4 chunks of 16 tokens per curve; the trial: 2 blockings × 2 rounds × 2 threads = 8 chunks, over the first 2 curves
    for (let i = 0; i < 4; i++) {
      const seen: string[] = [];
      await curveParallel(op, (t, pairs, count) => seen.push(pairsLine(t, pairs, count)), 2);
      runs.push(seen);
      const tr = curveBlockingTrials()[key];
      expect(tr.blockings).toEqual([{ db: 520, tokens: 1 }, { db: 256, tokens: 16 }]);
      expect(tr.handed).toBe(Math.min(8, 4 * (i + 1)));
      expect(tr.samples.map((b) => b.map((x) => x.length))).toEqual(i === 0 ? [[2, 0], [2, 0]] : [[2, 2], [2, 2]]);
      for (const x of tr.samples.flat(2)) expect(x).toBeGreaterThan(0);
      if (i === 0) expect(tr.pick).toBeUndefined();
      else {
        // each blocking's figure: the least over the rounds of the round's median (of 2: the upper)
        expect(tr.msPerMega).toEqual(tr.samples.map((b) => Math.min(...b.map((x) => Math.max(...x)))));
        expect(tr.pick).toEqual(tr.blockings[tr.msPerMega.indexOf(Math.min(...tr.msPerMega))]);
      }
    }
    expect(curveBlocking(f, d)).toEqual(curveBlockingTrials()[key].pick);
    const one: string[] = [];
    curveInThread(op, (t, pairs, count) => one.push(pairsLine(t, pairs, count)));
    for (const seen of runs) expect(seen).toEqual(one);
  });

  it('a layer prepared on the threads (prepareCurve): N, its grid, the memory\'s W_out and the pairs of the plain route', async () => {
    const r = mulberry32(29);
    for (const [T, f, d, threads] of [[23, 37, 10, 2], [50, 100, 9, 3]] as const) {
      const wDown = Float32Array.from({ length: d * f }, () => r() - 0.5);
      const wT = transposeDown(wDown, d, f);
      const col = Float32Array.from({ length: f }, (_, i) => Math.hypot(...wT.subarray(i * d, (i + 1) * d)));
      const a = Float32Array.from({ length: T * f }, () => Math.max(0, r() - 0.4));
      a.fill(0, 2 * f, 3 * f);
      const n = neuronNorms(a, T, f, col);
      for (const authors of [true, false]) {
        const p = await prepareCurve({ a, tokens: T, f, wDown, d, colNorms: col }, authors, threads);
        expect(p).toBeDefined();
        const { op, release } = p!;
        expect(op.n).toEqual(n);
        expect(op.a).toEqual(a);
        expect(op.cand).toEqual(authors ? authorsGrid(n) : null);
        const [memory] = op.plan.memories;
        const head = new Int32Array(memory.buffer, 0, 9);
        const lay = curveLayout(f, d, head[0], head[1]);
        expect(Array.from(head)).toEqual([head[0], head[1], lay.w, lay.slot0, lay.slotBytes, lay.idx, lay.p, lay.sq, lay.acc]);
        const want = curveMemory(wT, f, d, 1, { db: head[0], tokens: head[1] });
        expect(new Float32Array(memory.buffer, lay.w, f * d)).toEqual(new Float32Array(want.buffer, lay.w, f * d));
        const plain: string[] = [];
        curveInThread({ a, n, wT, f, d, tokens: T, cand: op.cand }, (t, pairs, count) => plain.push(pairsLine(t, pairs, count)));
        const seen: string[] = [];
        await curveParallel(op, (t, pairs, count) => seen.push(pairsLine(t, pairs, count)), threads);
        release();
        expect(seen).toEqual(plain);
      }
    }
  });

  it('the blocked layout holds every weight: the memory\'s blocks of W_out read back to W_out transposed', () => {
    const r = mulberry32(2);
    const [f, d] = [7, 11];
    const wDown = Float32Array.from({ length: d * f }, () => r());
    const wT = transposeDown(wDown, d, f);
    for (let i = 0; i < f; i++) for (let c = 0; c < d; c++) expect(wT[i * d + c]).toBe(wDown[c * f + i]);
    const memory = curveMemory(wT, f, d, 1, { db: 4, tokens: 2 });
    const head = new Int32Array(memory.buffer, 0, 2);
    expect(Array.from(head)).toEqual([4, 2]);
    const w = new Float32Array(memory.buffer, 64, f * d);
    for (let r0 = 0; r0 < d; r0 += 4) {
      const wb = Math.min(4, d - r0);
      for (let i = 0; i < f; i++) for (let c = 0; c < wb; c++) expect(w[r0 * f + i * wb + c]).toBe(wT[i * d + r0 + c]);
    }
  });

  it('the calibration times both sweeps and picks one; a forced back end is used as set', async () => {
    const r = mulberry32(3);
    const [T, f, d] = [40, 48, 8];
    const a = Float32Array.from({ length: T * f }, () => Math.max(0, r() - 0.5));
    const wT = Float32Array.from({ length: f * d }, () => r() - 0.5);
    const op: CurveOperands = { a, n: a, wT, f, d, tokens: T, cand: null };
    const c = calibrateSweep(op, 2, 3);
    expect(c.msPerToken.js).toBeGreaterThan(0);
    expect(c.msPerToken.wasm).toBeGreaterThan(0);
    expect(c.backend).toBe(c.msPerToken.js < c.msPerToken.wasm ? 'js' : 'wasm');
    const runs: string[][] = [];
    for (const b of ['js', 'wasm', 'auto'] as const) {
      setCurveSweep(b);
      const seen: string[] = [];
      const chunks = curveWorkerChunks();
      await curveParallel(op, (t, pairs, count) => seen.push(pairsLine(t, pairs, count)), 2);
      expect(curveWorkerChunks() - chunks, `${b}: every chunk on the worker threads (none left to this thread)`).toBe(Math.ceil(T / Math.ceil(T / 32)));
      runs.push(seen);
    }
    setCurveSweep('auto');
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[2]).toEqual(runs[0]);
    expect(Object.keys(curveSweepCalibrations())).toContain(`${f}×${d}`);
  });

  it('the worker threads run the kernel as tsx compiles it (its keepNames helper in the functions\' source text)', () => {
    const script = `
      const { curveParallel, curveWorkerChunks, closeCurvePool, setCurveSweep } = require('./main/metrics/curve-kernel.ts');
      const a = Float32Array.from({ length: 64 * 16 }, (_, i) => (i % 3) * 0.5);
      const op = { a, n: a, wT: Float32Array.from({ length: 16 * 4 }, (_, i) => (i % 7) - 3), f: 16, d: 4, tokens: 64, cand: null };
      (async () => {
        for (const b of ['js', 'wasm']) { setCurveSweep(b); await curveParallel(op, () => {}, 2); }
        await closeCurvePool();
        console.log(curveWorkerChunks());
      })();`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(Number(r.stdout.trim())).toBe(2 * 32); // every chunk of both curves on the threads (64 tokens, 2 per chunk)
  });

  it('the embedded module is what curve-sweep.wat compiles to (node scripts/build-curve-wasm.mjs regenerates it)', () => {
    const r = spawnSync(process.execPath, ['scripts/build-curve-wasm.mjs', '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('a pool closed while a curve is being built: the rest of it in this thread, the same pairs in token order', async () => {
    const r = mulberry32(7);
    const [T, f, d] = [60, 24, 6];
    const a = Float32Array.from({ length: T * f }, () => Math.max(0, r() - 0.4));
    const wT = Float32Array.from({ length: f * d }, () => r() - 0.5);
    const n = Float32Array.from(a, (x, i) => x * (1 + (i % f) / f));
    const op: CurveOperands = { a, n, wT, f, d, tokens: T, cand: authorsGrid(n) };
    const collect = () => {
      const seen: string[] = [];
      return { seen, visit: (t: number, pairs: Float64Array, count: number) => seen.push(pairsLine(t, pairs, count)) };
    };
    const one = collect();
    curveInThread(op, one.visit);
    const par = collect();
    const run = curveParallel(op, par.visit, 3);
    await closeCurvePool(); // the tasks in flight are refused
    await run;
    expect(par.seen).toEqual(one.seen);
    const again = collect(); // a new pool for the next curve
    await curveParallel(op, again.visit, 3);
    expect(again.seen).toEqual(one.seen);
  });
});
