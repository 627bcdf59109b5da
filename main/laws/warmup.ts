import { median } from '../base/rng';

/**
 * Warm-up checkpoints are left out of the fits (paper App. E; the paper does not say how many).
 * Automatic rule (stated exactly, used with `autoWarmup`):
 *   1. direction: the law's (relu falls, silu rises; log/sigmoid: sign of mean(last third) − mean(first third));
 *   2. noise σ̂ = 1.4826·MAD(successive differences) / √2;
 *   3. k = the last index i < ⌈n/3⌉ whose point is still, within σ̂, at least as far against the direction as
 *      every point before it (for a falling law: y_i ≥ max(y_0..y_{i−1}) − σ̂); k = 0 if none;
 *   4. the points before k are warm-up; k never leaves fewer than `minKeep` points.
 * So a series that starts flat or moves against the law before it settles loses that start, and one that follows
 * the law from its first point loses nothing. On the authors' 1.2B ReLU run (first points 9.59, 9.41, 9.43, 9.51,
 * 9.51, 9.53, 9.56, 9.44 %…) it gives k = 6, the same 6 points the authors dropped (calc_sigmoid.py x[6:]).
 * With `dropFirst` the user sets k instead.
 */
export function autoWarmup(y: number[], direction: 1 | -1, minKeep: number): { k: number; reason: string } {
  const n = y.length;
  const m = Math.ceil(n / 3);
  const d = y.slice(1).map((v, i) => v - y[i]);
  const md = median(d);
  const sigma = d.length > 1 ? (1.4826 * median(d.map((v) => Math.abs(v - md)))) / Math.SQRT2 : 0;
  const z = y.map((v) => -direction * v); // larger z = further against the law
  let k = 0;
  let run = z[0];
  for (let i = 1; i < m; i++) {
    if (z[i] >= run - sigma) k = i;
    run = Math.max(run, z[i]);
  }
  if (n - k < minKeep) k = Math.max(0, n - minKeep);
  return {
    k,
    reason:
      k === 0
        ? `the series follows the law from its first point (σ̂ = ${sigma.toExponential(2)})`
        : `the first ${k} point(s) come before point ${k}, the last of the first third still as ${direction < 0 ? 'high' : 'low'} as all before it within σ̂ = ${sigma.toExponential(2)}: warm-up`,
  };
}

export function trendDirection(y: number[]): 1 | -1 {
  const m = Math.max(1, Math.floor(y.length / 3));
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  return mean(y.slice(-m)) >= mean(y.slice(0, m)) ? 1 : -1;
}
