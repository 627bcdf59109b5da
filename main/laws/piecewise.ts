/**
 * Width-depth ratio (paper Sec. 5.2, Fig. 5): the limit activation ratio rises linearly with
 * d_h/L below a bottleneck (≈114 for 0.1B ReLU) and is flat above it:  y = a + s·min(x, x_b).
 * For a fixed x_b the model is linear in (a, s), so x_b is found by profiling the SSE: a grid of 400 values
 * over [min x, max x] then golden-section refinement around the best. Uncertainty of x_b: residual bootstrap
 * (seeded), percentile interval.
 */
import { LabError } from '../api/errors';
import { mulberry32, quantileSorted } from '../base/rng';
import type { PiecewiseFit } from '../api/domains/laws';
export type { PiecewiseFit };


function linFit(x: number[], y: number[], xb: number): { a: number; s: number; sse: number } {
  const n = x.length;
  let mz = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mz += Math.min(x[i], xb);
    my += y[i];
  }
  mz /= n;
  my /= n;
  let szz = 0;
  let szy = 0;
  for (let i = 0; i < n; i++) {
    const z = Math.min(x[i], xb) - mz;
    szz += z * z;
    szy += z * (y[i] - my);
  }
  const s = szz > 0 ? szy / szz : 0;
  const a = my - s * mz;
  let sse = 0;
  for (let i = 0; i < n; i++) sse += (y[i] - a - s * Math.min(x[i], xb)) ** 2;
  return { a, s, sse };
}

function bestBreak(x: number[], y: number[]): { a: number; s: number; sse: number; xb: number } {
  const lo = Math.min(...x);
  const hi = Math.max(...x);
  const G = 400;
  let best = { ...linFit(x, y, hi), xb: hi };
  let bi = G;
  for (let g = 0; g <= G; g++) {
    const xb = lo + ((hi - lo) * g) / G;
    const r = linFit(x, y, xb);
    if (r.sse < best.sse - 1e-18) {
      best = { ...r, xb };
      bi = g;
    }
  }
  // golden section on [grid neighbour left, right]
  let a = lo + ((hi - lo) * Math.max(0, bi - 1)) / G;
  let b = lo + ((hi - lo) * Math.min(G, bi + 1)) / G;
  const phi = (Math.sqrt(5) - 1) / 2;
  for (let k = 0; k < 60; k++) {
    const c = b - phi * (b - a);
    const d = a + phi * (b - a);
    if (linFit(x, y, c).sse < linFit(x, y, d).sse) b = d;
    else a = c;
  }
  const xb = (a + b) / 2;
  const r = linFit(x, y, xb);
  return r.sse <= best.sse ? { ...r, xb } : best;
}

export function fitPiecewise(points: { x: number; y: number }[], o: { bootstrap?: number; seed?: number; level?: number; curvePoints?: number } = {}): PiecewiseFit {
  const pts = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  if (pts.length !== points.length) throw new LabError('BAD_DATA', 'width-depth points must be finite numbers');
  if (pts.length < 4) throw new LabError('BAD_DATA', `a rise-then-flat fit has 3 parameters and needs at least 4 points (got ${pts.length})`);
  if (new Set(pts.map((p) => p.x)).size < 3) throw new LabError('BAD_DATA', 'a rise-then-flat fit needs at least 3 distinct width-depth ratios');
  pts.sort((p, q) => p.x - q.x);
  const x = pts.map((p) => p.x);
  const y = pts.map((p) => p.y);
  const n = x.length;
  const best = bestBreak(x, y);
  const warnings: string[] = [];
  if (best.xb >= x[n - 1] - 1e-9 * Math.abs(x[n - 1])) warnings.push('no plateau within the data: the best break is the largest ratio');
  if (best.xb <= x[1]) warnings.push('no rise within the data: the break is at (or before) the second-smallest ratio');
  if (best.s < 0) warnings.push('the fitted rise is negative: the data do not rise before the break');
  const samples = Math.max(0, Math.floor(o.bootstrap ?? 200));
  const seed = o.seed ?? 1;
  const level = o.level ?? 0.95;
  const fitted = x.map((v) => best.a + best.s * Math.min(v, best.xb));
  const res = y.map((v, i) => v - fitted[i]);
  let bLow: number | undefined;
  let bHigh: number | undefined;
  if (samples > 0) {
    const rand = mulberry32(seed);
    const scale = Math.sqrt(n / Math.max(1, n - 3));
    const rm = res.reduce((s, r) => s + r, 0) / n;
    const draws: number[] = [];
    for (let b = 0; b < samples; b++) {
      const ys = fitted.map((f) => f + (res[Math.floor(rand() * n)] - rm) * scale);
      draws.push(bestBreak(x, ys).xb);
    }
    draws.sort((p, q) => p - q);
    bLow = quantileSorted(draws, (1 - level) / 2);
    bHigh = quantileSorted(draws, 1 - (1 - level) / 2);
  }
  const nc = Math.max(2, o.curvePoints ?? 100);
  const cx = Array.from({ length: nc }, (_, i) => x[0] + ((x[n - 1] - x[0]) * i) / (nc - 1));
  return {
    slope: best.s,
    intercept: best.a,
    bottleneck: best.xb,
    plateau: best.a + best.s * best.xb,
    bottleneckLow: bLow,
    bottleneckHigh: bHigh,
    level,
    sse: best.sse,
    rmse: Math.sqrt(best.sse / n),
    n,
    curve: { x: cx, y: cx.map((v) => best.a + best.s * Math.min(v, best.xb)) },
    bootstrap: { method: 'residual', samples, seed },
    warnings,
  };
}
