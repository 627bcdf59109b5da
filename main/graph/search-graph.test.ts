// halfBound (search-graph.ts) against brute force: for fp16 a, fl32(|a|·n) ≤ t must hold exactly when |a| ≤ bound,
// for every positive finite fp16 value and a spread of thresholds and column norms (zero, subnormal range, powers of
// two, above the fp16 range). The bound ops run in onnxruntime (CPU), as in the search graph.
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { DT, GraphBuilder } from './onnx-builder';
import { halfBound, parseSearchTuning } from './search-graph';
import { mulberry32 } from '../base/rng';

/** fp16 bits → value, the textbook formula */
function half(h: number): number {
  const e = (h >> 10) & 31;
  const m = h & 1023;
  return e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
}

describe('halfBound', () => {
  it('is the exact fp16 cut of fl32(|a|·n) ≤ t for every fp16 value', async () => {
    const r = mulberry32(5);
    const ns = [0, 1, 0.5, 2 ** -10, 3.3e-3, 0.0999, 7.25, 1e-6, ...Array.from({ length: 12 }, () => Math.fround(10 ** (r() * 4 - 3)))].map(Math.fround);
    const ts = [0, 2 ** -24, 1e-7, 6.1e-5, 1, 65504, 1e6, 3e9, ...Array.from({ length: 16 }, () => Math.fround(10 ** (r() * 8 - 6)))].map(Math.fround);
    // thresholds that sit exactly on a product (the boundary case) and on powers of two
    for (const n of ns.slice(1, 8)) ts.push(Math.fround(half(0x3c01) * n), Math.fround(half(0x0400) * n), Math.fround(half(0x0007) * n));
    const g = new GraphBuilder('hb');
    const t = g.input('t', DT.FLOAT, [ts.length, 1]);
    const n = g.input('n', DT.FLOAT, [1, ns.length]);
    g.op('Identity', [halfBound(g, t, n, { f32: (v) => g.f32(g.fresh('c'), [v], []) })], {}, 'bound');
    g.output('bound', DT.FLOAT16, [ts.length, ns.length]);
    const sess = await ort.InferenceSession.create(g.build(), { executionProviders: ['cpu'], logSeverityLevel: 3 });
    const out = await sess.run({ t: new ort.Tensor('float32', Float32Array.from(ts), [ts.length, 1]), n: new ort.Tensor('float32', Float32Array.from(ns), [1, ns.length]) });
    await sess.release();
    const bits = out.bound.data as Uint16Array;
    const xs = Float64Array.from({ length: 0x7c00 }, (_, h) => half(h)); // every positive finite fp16 value, ascending
    let bad = 0;
    for (let i = 0; i < ts.length; i++)
      for (let j = 0; j < ns.length; j++) {
        const bound = half(bits[i * ns.length + j]);
        const [t, n] = [ts[i], ns[j]];
        for (let h = 0; h < xs.length; h++) if (Math.fround(xs[h] * n) <= t !== xs[h] <= bound && bad++ < 5) console.error({ t, n, x: xs[h], bound });
      }
    expect(bad).toBe(0);
  });

  it('tuning strings: known keys, refused otherwise with the source named', () => {
    expect(parseSearchTuning('levels=2,chunk=4096,nin=1,m16=1')).toEqual({ levels: 2, chunkTokens: 4096, nInLoop: true, mask16: true });
    expect(() => parseSearchTuning('levels=4', '--search')).toThrow(/--search: 'levels=4'/);
    expect(() => parseSearchTuning('speed=max')).toThrow(/SPARSITY_LAB_SEARCH/);
    expect(() => parseSearchTuning('levels=2')).toThrow(/needs chunk/);
  });
});
