/**
 * Fitting a sparsity–data law to one series (paper Sec. 5.1, Eq. 4–5, Table 2): bounded LM from
 * several starts, best SSE kept, residual statistics, and a residual bootstrap for confidence intervals.
 */
import { LabError } from '../api/errors';
import { FORMS, formForActivation, type LawForm } from './forms';
import { lmFit } from './lm';
import { mulberry32, quantileSorted } from '../base/rng';
import { autoWarmup, trendDirection, warmupReason } from './warmup';
import type { FittedPoint, LawFitResult } from '../api/domains/laws';
export type { FittedPoint, LawFitResult };

export interface LawInputPoint {
  /** raw tokens trained */
  tokens: number;
  /** activation ratio, a fraction in [0, 1] */
  activationRatio: number;
}

export interface FitOptions {
  form?: LawForm;
  /** activation function of the series; picks the form when `form` is not given */
  activation?: string;
  dropFirst?: number;
  autoWarmup?: boolean;
  /** bootstrap resamples (0: none); default 200 */
  bootstrap?: number;
  seed?: number;
  /** confidence level of the intervals; default 0.95 */
  level?: number;
  /** samples of the fitted curve for charts; default 100 */
  curvePoints?: number;
}



const B = 1e9;

/** The largest token count accepted: 1e18 is ~10⁵× the longest published training runs; beyond it the column is not a token count. */
export const MAX_TOKENS = 1e18;

/** the details of the errors that say a series has too few points (or distinct token counts) for its form */
export const TOO_FEW_POINTS = { tooFewPoints: true } as const;

/**
 * Refuses points no law can be determined from (issue 19: fits "succeeded" on all-zero or 1e300 token counts):
 * token counts beyond MAX_TOKENS, or fewer distinct token counts than the form has parameters (a constant
 * ratio is fitted, with a warning: its A₀ is that constant, its shape parameters mean nothing). `pts` are the points that will be fitted (after the warm-up).
 */
export function checkFitPoints(pts: readonly { tokens: number; activationRatio: number }[], form: LawForm): void {
  const nTheta = FORMS[form].nTheta;
  for (const p of pts) if (p.tokens > MAX_TOKENS) throw new LabError('BAD_DATA', `tokens ${p.tokens} is beyond ${MAX_TOKENS.toExponential()} (no training run is that long): is the tokens column in another unit?`);
  const distinct = new Set(pts.map((p) => p.tokens)).size;
  if (distinct < nTheta)
    throw new LabError('BAD_DATA', `the ${form} form has ${nTheta} parameters but the points have only ${distinct} distinct token count(s)${distinct === 1 && pts.length ? ` (all ${pts[0].tokens})` : ''}: the law cannot be determined`, TOO_FEW_POINTS);
}

export function fitLaw(input: LawInputPoint[], o: FitOptions = {}): LawFitResult {
  const warnings: string[] = [];
  const pts = input.map((p) => ({ tokens: p.tokens, D: p.tokens / B, A: p.activationRatio })).sort((a, b) => a.D - b.D);
  for (const p of pts)
    if (!Number.isFinite(p.D) || p.D < 0 || !Number.isFinite(p.A) || p.A < 0 || p.A > 1)
      throw new LabError('BAD_DATA', `point (tokens ${p.tokens}, activation ratio ${p.A}) is invalid: tokens must be ≥ 0 and the ratio in [0, 1]`);
  const yAll = pts.map((p) => p.A);
  let form = o.form;
  let formPicked: LawFitResult['formPicked'] = 'user';
  if (!form) {
    form = formForActivation(o.activation);
    formPicked = 'activation';
  }
  if (!form) {
    form = pts.length > 1 && trendDirection(yAll) > 0 ? 'silu' : 'relu';
    formPicked = 'trend';
    warnings.push(`no activation function given: picked the ${form} form because the series ${form === 'relu' ? 'falls' : 'rises'}`);
  }
  const def = FORMS[form];
  const minKeep = def.nTheta + 1;

  // warm-up
  if (o.dropFirst !== undefined && o.autoWarmup) throw new LabError('BAD_REQUEST', 'give either dropFirst or autoWarmup, not both');
  let warmup: LawFitResult['warmup'] = { rule: 'none', k: 0, reason: warmupReason('none', 0, pts.length) };
  if (o.dropFirst !== undefined) {
    if (!Number.isInteger(o.dropFirst) || o.dropFirst < 0) throw new LabError('BAD_REQUEST', `dropFirst must be a whole number ≥ 0 (got ${o.dropFirst})`);
    warmup = { rule: 'first-k', k: o.dropFirst, reason: warmupReason('first-k', o.dropFirst, pts.length) };
  } else if (o.autoWarmup && pts.length >= minKeep) {
    const dir = form === 'relu' ? -1 : form === 'silu' ? 1 : trendDirection(yAll);
    warmup = { rule: 'auto', ...autoWarmup(yAll, dir, minKeep) };
  }
  const kept = pts.slice(warmup.k);
  if (kept.length < minKeep)
    throw new LabError('BAD_DATA', `the ${form} form has ${def.nTheta} parameters: its fit needs at least ${minKeep} points after the warm-up, got ${kept.length} (of ${pts.length})`, TOO_FEW_POINTS);
  checkFitPoints(kept.map((p) => ({ tokens: p.tokens, activationRatio: p.A })), form);
  if (form === 'silu' && kept[0].D <= 0) throw new LabError('BAD_DATA', 'the silu form −c/D^α + A₀ is infinite at 0 tokens: drop the point at 0 tokens or choose another form');

  const S = kept[kept.length - 1].D > 0 ? kept[kept.length - 1].D : 1;
  const x = kept.map((p) => p.D / S);
  const y = kept.map((p) => p.A);

  // several starts, best kept
  const starts = def.starts(x, y);
  let best = { theta: starts[0], sse: Infinity, iterations: 0 };
  let iterations = 0;
  // every start gets 30 iterations; the best three are then run to convergence
  const short = starts.map((s) => lmFit(def, x, y, s, 30)).sort((a, b) => a.sse - b.sse);
  for (const s of short) iterations += s.iterations;
  for (const s of short.slice(0, 3)) {
    const r = lmFit(def, x, y, s.theta);
    iterations += r.iterations;
    if (r.sse < best.sse) best = r;
  }
  const theta = best.theta;
  const fitted = x.map((v) => def.f(theta, v));
  const res = y.map((v, i) => v - fitted[i]);
  const n = y.length;
  const sse = res.reduce((s, r) => s + r * r, 0);
  const mean = y.reduce((s, v) => s + v, 0) / n;
  const sst = y.reduce((s, v) => s + (v - mean) ** 2, 0);
  const stats = { n, parameters: def.nTheta, sse, mae: res.reduce((s, r) => s + Math.abs(r), 0) / n, rmse: Math.sqrt(sse / n), r2: sst > n * (1e-12 * Math.max(Math.abs(mean), 1e-12)) ** 2 ? 1 - sse / sst : null };
  const pub = def.toPublic(theta, S);
  const bad = [...Object.entries(pub.params), ['A0', pub.A0] as const, ['sse', sse] as const].filter(([, v]) => !Number.isFinite(v));
  if (bad.length) throw new LabError('BAD_DATA', `the ${form} fit ended with non-finite ${bad.map(([k, v]) => `${k} = ${v}`).join(', ')}: no law reported`);

  // chart curve over every point (dropped ones included)
  const nc = Math.max(2, o.curvePoints ?? 100);
  const d0 = pts[0].D;
  const d1 = pts[pts.length - 1].D;
  const cx = Array.from({ length: nc }, (_, i) => d0 + ((d1 - d0) * i) / (nc - 1)).map((D) => (form === 'silu' && D <= 0 ? kept[0].D : D));
  const curveAt = (t: number[]) => cx.map((D) => def.f(t, D / S));

  // residual bootstrap: y* = ŷ + r*, r* drawn from the centred residuals scaled by √(n/(n−p)) (Davison & Hinkley
  // 1997, §6.2); x stays fixed, so the late points that pin the limit are in every resample.
  const samples = Math.max(0, Math.floor(o.bootstrap ?? 200));
  const seed = o.seed ?? 1;
  const level = o.level ?? 0.95;
  const ci: LawFitResult['ci'] = {};
  let band: LawFitResult['band'];
  let failed = 0;
  if (samples > 0) {
    const rand = mulberry32(seed);
    const rm = res.reduce((s, r) => s + r, 0) / n;
    const scale = Math.sqrt(n / Math.max(1, n - def.nTheta));
    const adj = res.map((r) => (r - rm) * scale);
    const draws: Record<string, number[]> = Object.fromEntries([...def.names, 'A0'].map((k) => [k, []]));
    const curves: number[][] = cx.map(() => []);
    const ys = new Array<number>(n);
    for (let b = 0; b < samples; b++) {
      for (let i = 0; i < n; i++) ys[i] = fitted[i] + adj[Math.floor(rand() * n)];
      const r = lmFit(def, x, ys, theta, 60, 1e-8); // warm start at the estimate
      if (!Number.isFinite(r.sse)) {
        failed++;
        continue;
      }
      const p = def.toPublic(r.theta, S);
      for (const k of def.names) draws[k].push(p.params[k]);
      draws.A0.push(p.A0);
      curveAt(r.theta).forEach((v, i) => curves[i].push(v));
    }
    const qa = (1 - level) / 2;
    for (const [k, v] of Object.entries(draws)) {
      const s = v.filter(Number.isFinite).sort((a, b) => a - b);
      if (s.length) ci[k] = { low: quantileSorted(s, qa), high: quantileSorted(s, 1 - qa) };
    }
    band = { x: cx, lo: [], hi: [] };
    for (const c of curves) {
      const s = c.filter(Number.isFinite).sort((a, b) => a - b);
      band.lo.push(s.length ? quantileSorted(s, qa) : NaN);
      band.hi.push(s.length ? quantileSorted(s, 1 - qa) : NaN);
    }
    if (band.lo.some((v) => !Number.isFinite(v)) || band.hi.some((v) => !Number.isFinite(v))) band = undefined;
  }

  // plain-language warnings for fits the numbers alone do not flag
  const atBound = theta.flatMap((v, i) => (i >= def.nTheta ? [] : Math.abs(v - def.min[i]) < 1e-9 ? [`${def.thetaLabels[i]} at its lower bound`] : Math.abs(v - def.max[i]) < 1e-9 ? [`${def.thetaLabels[i]} at its upper bound`] : []));
  if (atBound.length) warnings.push(`a parameter sits on its bound (${atBound.join(', ')}): the form may not suit these points (the fit is constrained, not free)`);
  const dir = trendDirection(y);
  if (form === 'relu' && dir > 0) warnings.push('the points rise but the relu form can only fall: consider the silu form');
  if (form === 'silu' && dir < 0) warnings.push('the points fall but the silu form can only rise: consider the relu form');
  if (def.hasLimit && Math.abs(pub.A0 - fitted[n - 1]) > 0.01) warnings.push(`the limit A₀ lies ${(100 * Math.abs(pub.A0 - fitted[n - 1])).toFixed(2)} points beyond the last fitted value: an extrapolation`);
  if (!def.hasLimit) warnings.push('the log form has no finite limit; its A₀ is A(0)');
  if (y.every((v) => v === y[0])) warnings.push(`every fitted activation ratio is ${y[0]}: only A₀ means something, the shape parameters are not determined`);

  return {
    form,
    formPicked,
    formula: def.formula(pub.params, pub.A0),
    params: pub.params,
    A0: pub.A0,
    A0IsLimit: def.hasLimit,
    A0Low: ci.A0?.low,
    A0High: ci.A0?.high,
    ci,
    level,
    stats,
    points: pts.map((p, i) => {
      const f = def.evalPublic(pub.params, pub.A0, p.D);
      return { tokens: p.tokens, D: p.D, A: p.A, dropped: i < warmup.k, fitted: Number.isFinite(f) ? f : null, residual: i < warmup.k ? null : res[i - warmup.k] };
    }),
    droppedTokens: pts.slice(0, warmup.k).map((p) => p.tokens),
    warmup,
    curve: { x: cx, y: curveAt(theta) },
    band,
    bootstrap: { method: 'residual', samples, seed, failed },
    optimizer: { library: 'own bounded Levenberg–Marquardt (main/laws/lm.ts)', starts: starts.length, iterations },
    warnings,
  };
}
