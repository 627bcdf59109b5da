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
  const kRule = k;
  if (n - k < minKeep) k = Math.max(0, n - minKeep);
  return { k, reason: autoWarmupReason({ n, k, kRule, minKeep, direction, sigma }) };
}

/** "point 1 of 9" / "points 1–3 of 9": the first k of n points, numbered from 1 as the points table lists them. */
export function firstPoints(k: number, n: number): string {
  return k === 1 ? `point 1 of ${n}` : `points 1–${k} of ${n}`;
}

/** Why the fit leaves out what it leaves out, read after "warm-up: " (Laws page, `fit` CLI). */
export function warmupReason(rule: 'none' | 'first-k', k: number, n: number): string {
  if (rule === 'none' || k === 0) return `none, all ${n} points fitted`;
  return `${firstPoints(k, n)} left out, as asked`;
}

const PAPER = 'the paper (App. E) likewise leaves out the checkpoints of the warm-up stage, before the power law holds';

/** The automatic rule's reason (see autoWarmup): which points are warm-up, and why, in words. */
export function autoWarmupReason(r: { n: number; k: number; kRule: number; minKeep: number; direction: 1 | -1; sigma: number }): string {
  const noise = `within the noise σ̂ = ${r.sigma.toExponential(2)}`;
  const moves = r.direction < 0 ? 'fall' : 'rise';
  const far = r.direction < 0 ? 'high' : 'low';
  if (r.kRule === 0) return `none: the series follows the law from its first point (${noise}), so all ${r.n} points are fitted`;
  const notYet = `the series does not ${moves} yet: point ${r.kRule + 1} is still as ${far} as every point before it (${noise})`;
  if (r.k === r.kRule) return `${firstPoints(r.k, r.n)} left out because ${notYet}, so the fit starts at point ${r.k + 1}; ${PAPER}`;
  const looks = `${firstPoints(r.kRule, r.n)} ${r.kRule === 1 ? 'looks' : 'look'} like warm-up (${notYet})`;
  if (r.k === 0) return `none: ${looks}, but this form's fit needs at least ${r.minKeep} points, so all ${r.n} are fitted`;
  return `${firstPoints(r.k, r.n)} left out: ${looks}, but this form's fit needs at least ${r.minKeep} points, so only ${r.k} can go; ${PAPER}`;
}

export function trendDirection(y: number[]): 1 | -1 {
  const m = Math.max(1, Math.floor(y.length / 3));
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  return mean(y.slice(-m)) >= mean(y.slice(0, m)) ? 1 : -1;
}
