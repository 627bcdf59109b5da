import { afterAll, describe, expect, it } from 'vitest';
import { buildProbeCurve } from './cett-probe';
import { closeCurvePool } from './curve-kernel';
import { buildLayerCurve, buildLayerCurveParallel, cettDirect } from './thresholds';
import { generatedLayer, type LayerKind } from './testing/layers';

/** a generated ReLU- or SiLU-like layer (the search-engine tests' generator) */
const layer = (seed: number, tokens: number, f: number, d: number, relu: boolean) => generatedLayer(seed, tokens, f, d, relu ? 'relu' : 'silu');

describe('threshold search', () => {
  // thresholds against an independent re-implementation of the authors' loop: test/integration/search-engines.test.ts
  for (const relu of [true, false]) {
    it(`authors mode: the curve is the definition at the chosen threshold, which meets the target (${relu ? 'relu' : 'silu'})`, async () => {
      const inp = layer(relu ? 7 : 11, 24, 40, 12, relu);
      const curve = buildLayerCurve(inp, 'authors');
      for (const c of [0.01, 0.1, 0.3, 0.6]) {
        const mine = (await curve.threshold(c)).eps;
        expect(curve.cettAt(mine)).toBeCloseTo(cettDirect(inp, mine), 9);
        expect(cettDirect(inp, mine)).toBeLessThanOrEqual(c + 1e-9);
      }
    });
  }

  it('exact mode: the skipped set has CETT ≤ c and one more distinct value would exceed it', async () => {
    const inp = layer(3, 16, 24, 8, false);
    const curve = buildLayerCurve(inp, 'exact');
    for (const c of [0.05, 0.2, 0.5]) {
      const { eps } = await curve.threshold(c);
      // the tail actually skipped at inference: N < eps, i.e. N ≤ the largest value below eps
      const below = Math.fround(eps * (1 - 1e-7));
      expect(cettDirect(inp, below)).toBeLessThanOrEqual(c + 1e-9);
      expect(cettDirect(inp, eps)).toBeGreaterThan(c);
    }
  });

  it('authors mode never wraps to the largest candidate when c is below every candidate', async () => {
    const inp = layer(5, 8, 16, 6, false);
    const ans = await buildLayerCurve(inp, 'authors').threshold(1e-12);
    expect(ans).toEqual({ eps: 0, clampedLow: true });
  });

  for (const mode of ['authors', 'exact'] as const) {
    it(`the ORT probe gives the JS curve's thresholds (${mode}), memoising evaluations`, async () => {
      const inp = layer(13, 32, 48, 16, false);
      const js = buildLayerCurve(inp, mode);
      const probe = (await buildProbeCurve(inp, mode, 'cpu', 2)) as Awaited<ReturnType<typeof buildProbeCurve>> & { evaluations: number; calls: number };
      for (const c of [0.02, 0.15, 0.4]) {
        const a = (await js.threshold(c)).eps;
        const b = (await probe.threshold(c)).eps;
        expect(b).toBe(a);
      }
      const n = probe.evaluations;
      await probe.threshold(0.15); // same path again: nothing new to evaluate
      expect(probe.evaluations).toBe(n);
      // operands baked into the session (the GPU layout) give the same answers
      const resident = await buildProbeCurve(inp, mode, 'cpu', 1, true);
      for (const c of [0.02, 0.4]) expect((await resident.threshold(c)).eps).toBe((await probe.threshold(c)).eps);
      await resident.dispose?.();
    });
  }

  // the CPU's engine: the same curve with the per-token work on worker threads, the jumps added in token order
  afterAll(closeCurvePool);
  const kinds: [LayerKind, number, number, number][] = [['relu', 37, 40, 13], ['silu', 29, 24, 8], ['zero-tokens', 31, 20, 6], ['ties', 26, 18, 5]];
  for (const [kind, tokens, f, d] of kinds)
    for (const mode of ['authors', 'exact'] as const)
      it(`on 1, 2, 3 and 7 threads: the single-threaded curve bit for bit (${kind}, ${mode})`, async () => {
        const inp = generatedLayer(kind.length * 7 + tokens, tokens, f, d, kind);
        const one = buildLayerCurve(inp, mode);
        const cs = [1e-12, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 0.99, 1.5];
        const ts = Array.from({ length: 40 }, (_, i) => (i / 40) * 3);
        for (const threads of [1, 2, 3, 7]) {
          const par = await buildLayerCurveParallel(inp, mode, threads);
          expect(par.zeroNormTokens).toBe(one.zeroNormTokens);
          for (const c of cs) expect(await par.threshold(c)).toEqual(await one.threshold(c));
          for (const t of ts) expect(Object.is(par.cettAt(t), one.cettAt(t))).toBe(true);
        }
        // and at the answers (grid points) the curve is CETT from its definition (float64 sums in another order)
        if (mode === 'authors')
          for (const c of cs) {
            const { eps } = await one.threshold(c);
            if (eps > 0) expect(one.cettAt(eps)).toBeCloseTo(cettDirect(inp, eps), 12);
          }
      });

  // the shared buffers of A's copy and N are kept between curves (curve-kernel.ts leaseShared): curves of one shape built
  // at the same time each get their own, and one built after them reuses one, all with the numbers of a curve built alone
  it('curves of one shape built at the same time and one after the other: each the curve built alone', async () => {
    const inps = [1, 2, 3].map((seed) => generatedLayer(seed, 33, 24, 7, 'relu'));
    const alone = inps.map((inp) => buildLayerCurve(inp, 'authors'));
    const together = await Promise.all(inps.map((inp) => buildLayerCurveParallel(inp, 'authors', 2)));
    const after = [];
    for (const inp of [...inps].reverse()) after.unshift(await buildLayerCurveParallel(inp, 'authors', 2));
    const ts = Array.from({ length: 30 }, (_, i) => (i / 30) * 2);
    for (let k = 0; k < inps.length; k++)
      for (const cv of [together[k], after[k]]) for (const t of ts) expect(Object.is(cv.cettAt(t), alone[k].cettAt(t))).toBe(true);
    // the three layers differ (else the test could not tell their buffers apart)
    expect(ts.some((t) => alone[0].cettAt(t) !== alone[1].cettAt(t))).toBe(true);
  });
});
