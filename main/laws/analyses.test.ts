import { describe, expect, it } from 'vitest';
import { fitPiecewise } from './piecewise';
import { convergence, limitVsScale } from './scale';
import { gaussian, mulberry32 } from '../base/rng';

// the 0.1B width-depth variants (paper Sec. 5.2), d_h/L
const RATIOS = [1.8, 6.0, 14.2, 48, 74.7, 113.8, 164.6, 213.3, 281.6, 384, 597.3];

describe('width-depth bottleneck (paper Sec. 5.2, Fig. 5)', () => {
  it('recovers a known bottleneck from exact points', () => {
    const xb = 114;
    const pts = RATIOS.map((x) => ({ x, y: 0.06 + (0.02 / xb) * Math.min(x, xb) }));
    const f = fitPiecewise(pts, { bootstrap: 0 });
    expect(f.bottleneck).toBeGreaterThan(113.8 - 1e-6);
    expect(f.bottleneck).toBeLessThan(114.5);
    expect(f.slope).toBeCloseTo(0.02 / xb, 8);
    expect(f.intercept).toBeCloseTo(0.06, 8);
    expect(f.plateau).toBeCloseTo(0.06 + (0.02 / xb) * f.bottleneck, 8);
    expect(f.sse).toBeLessThan(1e-12);
  });
  it('with noise: estimate near the truth, and the bootstrap interval covers it', () => {
    const g = gaussian(mulberry32(3));
    const xs = Array.from({ length: 40 }, (_, i) => 5 + i * 15);
    const pts = xs.map((x) => ({ x, y: 0.06 + (0.02 / 150) * Math.min(x, 150) + 5e-4 * g() }));
    const f = fitPiecewise(pts, { bootstrap: 200, seed: 2 });
    expect(Math.abs(f.bottleneck - 150)).toBeLessThan(25);
    expect(f.bottleneckLow!).toBeLessThan(150);
    expect(f.bottleneckHigh!).toBeGreaterThan(150);
    expect(fitPiecewise(pts, { bootstrap: 50, seed: 2 })).toEqual(fitPiecewise(pts, { bootstrap: 50, seed: 2 }));
  });
  it('says so when there is no plateau, and refuses too few points', () => {
    const f = fitPiecewise([1, 2, 3, 4, 5].map((x) => ({ x, y: 0.01 * x })), { bootstrap: 0 });
    expect(f.warnings.join(' ')).toMatch(/no plateau/);
    expect(() => fitPiecewise([{ x: 1, y: 1 }, { x: 2, y: 2 }, { x: 3, y: 3 }])).toThrow(/at least 4 points/);
    expect(() => fitPiecewise([1, 1, 2, 2].map((x) => ({ x, y: x })))).toThrow(/3 distinct/);
  });
});

describe('limit vs scale and convergence (Figs. 7, 8)', () => {
  const N01 = 11.5 * 768 ** 2 * 16; // non-embedding parameters of 0.1B (11.5·d_h²·L, the paper's 0.1B config, Table 3)
  it("reproduces the Fig. 8 derivatives from Table 2 at tokens/parameters = 20", () => {
    const [relu, silu] = convergence(
      [
        { series: '0.1B ReLU', form: 'relu', params: { alpha: 0.101, b: -0.0151, c: 3.2 }, A0: 0.0614, parameters: N01 },
        { series: '0.1B SiLU', form: 'silu', params: { alpha: 0.479, c: 0.102 }, A0: 0.409, parameters: N01 },
      ],
      [20, 40],
    );
    expect(relu.D[0]).toBeCloseTo((20 * N01) / 1e9, 12);
    // read off the paper's Fig. 8: +0.0050 (ReLU) and −0.0156 (SiLU)
    expect(relu.dSparsity[0]).toBeCloseTo(0.005, 3);
    expect(silu.dSparsity[0]).toBeCloseTo(-0.0156, 3);
    // independent: central difference of 1 − A
    const A = (D: number) => Math.exp(-3.2 * D ** 0.101 - 0.0151) + 0.0614;
    const D = relu.D[1];
    expect(relu.dSparsity[1]).toBeCloseTo(-(A(D + 1e-5) - A(D - 1e-5)) / 2e-5, 6);
  });
  it("limit vs scale: Table 2 limits give ReLU rising and SiLU falling with size", () => {
    const P = [0.1, 0.2, 0.4, 0.8, 1.2].map((b) => b * 1e9);
    const relu = [0.0614, 0.0674, 0.069, 0.0721, 0.0782];
    const silu = [0.409, 0.39, 0.385, 0.383, 0.382];
    const r = limitVsScale([...P.map((p, i) => ({ series: `r${i}`, params: p, A0: relu[i], activation: 'relu' })), ...P.map((p, i) => ({ series: `s${i}`, params: p, A0: silu[i], activation: 'silu' }))]);
    expect(r.points.map((p) => p.params)).toEqual([...P, ...P].sort((a, b) => a - b));
    const tr = Object.fromEntries(r.trends.map((t) => [t.activation, t]));
    expect(tr.relu.slopePerDecade).toBeGreaterThan(0);
    expect(tr.silu.slopePerDecade).toBeLessThan(0);
    expect(tr.relu.n).toBe(5);
  });
});

describe('charts fitter', () => {
  it('returns a SourceFit with the law fit, or undefined when the points cannot be fitted', async () => {
    const { seriesFitter } = await import('./index');
    const pts = Array.from({ length: 12 }, (_, i) => ({ D: 5 + i * 20, A: -0.42 / (5 + i * 20) ** 1.03 + 0.385 }));
    const f = seriesFitter('s', pts, 'silu')!;
    expect(f).toMatchObject({ series: 's', form: 'silu' });
    expect(f.A0).toBeCloseTo(0.385, 6);
    expect(f.band!.x.length).toBe(100);
    expect(seriesFitter('s', pts.slice(0, 2), 'silu')).toBeUndefined();
  });
});
