import { median } from './rng';

/**
 * Warm-up checkpoints are left out of the fits (METHOD.md §5; the paper does not say how many, notes/paper.md §9).
 * Automatic rule (stated exactly, used with `autoWarmup`):
 *   1. direction: the law's (relu falls, silu rises; log/sigmoid: sign of mean(last third) − mean(first third));
 *   2. among the first ⌈n/3⌉ points, k = the index of the point furthest against the direction (the maximum for
 *      a falling law, the minimum for a rising one), first index on ties;
 *   3. if that point differs from the first one by no more than the noise σ̂ (σ̂ = 1.4826·MAD of successive
 *      differences / √2), k = 0;
 *   4. k never leaves fewer than `minKeep` points.
 * Points before k move against the law (activation still settling after the learning-rate warm-up), as in the
 * 1.2B ReLU run whose first ~8 points rise (notes/paper.md §5.2). With `dropFirst` the user sets k instead.
 */
export function autoWarmup(y: number[], direction: 1 | -1, minKeep: number): { k: number; reason: string } {
  const n = y.length;
  const m = Math.ceil(n / 3);
  let k = 0;
  for (let i = 1; i < m; i++) if (direction * (y[k] - y[i]) > 0) k = i; // y[i] further against the direction
  const d = y.slice(1).map((v, i) => v - y[i]);
  const md = median(d);
  const sigma = d.length > 1 ? (1.4826 * median(d.map((v) => Math.abs(v - md)))) / Math.SQRT2 : 0;
  if (k > 0 && Math.abs(y[k] - y[0]) <= sigma) return { k: 0, reason: `no early point moves against the law by more than the noise (σ̂ = ${sigma.toExponential(2)})` };
  if (n - k < minKeep) k = Math.max(0, n - minKeep);
  return {
    k,
    reason: k === 0 ? 'the first point is already the extreme of the first third' : `the first ${k} point(s) come before the ${direction < 0 ? 'highest' : 'lowest'} point of the first third (index ${k}), i.e. move against the law`,
  };
}

export function trendDirection(y: number[]): 1 | -1 {
  const m = Math.max(1, Math.floor(y.length / 3));
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  return mean(y.slice(-m)) >= mean(y.slice(0, m)) ? 1 : -1;
}
