import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { closeCurvePool, curveInThread, curveMemory, curveParallel, curveSweepModule, makeSweeper, type CurveOperands } from './curve-kernel';
import { authorsGrid } from '../base/authors-search';
import { mulberry32 } from '../base/rng';

afterAll(closeCurvePool);

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

describe('CETT curve kernel (CPU)', () => {
  it('the WebAssembly sweep gives the plain loop bit for bit (d mod 4 = 0..3, zero activations, any order, any slot)', () => {
    const r = mulberry32(41);
    for (const [f, d] of [[9, 4], [17, 5], [33, 6], [20, 7], [64, 13], [40, 32]]) {
      const wT = Float32Array.from({ length: f * d }, () => (r() - 0.5) * 3);
      const memory = curveMemory(wT, f, d, 3);
      for (let rep = 0; rep < 5; rep++) {
        const sw = makeSweeper(curveSweepModule(), memory, f, d, rep % 3); // any thread's slot of the layer's memory
        const a = Float32Array.from({ length: f }, () => (r() < 0.3 ? 0 : (r() - 0.5) * 10 ** (r() * 4 - 2)));
        const idx = Int32Array.from({ length: f }, (_, i) => i).sort(() => r() - 0.5);
        sw.a.set(a);
        sw.idx.set(idx);
        const last = sw.fn(sw.off[0], sw.off[1], f, d, 0, sw.off[2], sw.off[3]);
        const want = sweepJs(a, idx, wT, f, d);
        for (let k = 0; k < f; k++) expect(Object.is(sw.sq[k], want[k])).toBe(true);
        expect(Object.is(last, want[f - 1])).toBe(true);
      }
    }
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
      return { seen, visit: (t: number, pairs: Float64Array, count: number) => seen.push(`${t}:${count}:${Array.from(pairs.subarray(0, 2 * Math.max(count, 0))).join(',')}`) };
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
