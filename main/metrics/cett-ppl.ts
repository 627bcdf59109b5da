/**
 * CETT-PPL-p% (Sparsing Law, Luo et al., arXiv 2411.02335, Sec. 4.2 / App. F Algorithm 1) and the training-series
 * strategy (Sec. 5.1, App. E).
 *
 * Same decisions as the authors' calc_threshold_for_each_layer.py: outer bisection on c ∈ [0, 1]
 * (`ratio < 1 + p/100 ? l = c : r = c` while r − l > tol), ratio = mean over batches of
 * exp(loss_sparse − loss_dense) with per-batch thresholds, result c = (l + r)/2 and one more sparse
 * measurement at c (calc_activation.py). The difference is cost: the dense pass and every layer's
 * CETT(t) curve are computed once per batch (PreparedTarget), so each outer step is one sparse pass
 * per batch instead of a dense pass, 16 matrix products per layer and a sparse pass.
 */
import os from 'node:os';
import { LabError } from '../api/errors';
import type { ModelSpec } from '../checkpoint/types';
import { Meter, type RunControl } from './control';
import type { EvalData } from './data';
import { StatsAccumulator, mean } from './stats';
import { PreparedTarget, type MeasureTarget } from './target';
import type { CettPplOptions, CheckpointResult, MeasureResult, SearchState, SeriesResult, StepHooks } from './types';
import { outerMid, outerNarrow, outerSteps } from '../base/authors-search';

/** CETT curves (or the probe's A and N) kept between outer steps: a quarter of RAM, at most 16 GiB */
export const DEFAULT_CACHE_BYTES = Math.min(os.totalmem() / 4, 16 * 2 ** 30);

export function validateCettOptions(o: CettPplOptions): void {
  if (!(typeof o.p === 'number' && Number.isFinite(o.p) && o.p > 0)) throw new LabError('BAD_REQUEST', `p must be a number > 0 (got ${o.p})`);
  if (!(o.tol > 0 && o.tol < 0.5)) throw new LabError('BAD_REQUEST', `tolerance must be in (0, 0.5) (got ${o.tol})`);
  if (o.thresholdMode !== 'authors' && o.thresholdMode !== 'exact') throw new LabError('BAD_REQUEST', `threshold mode must be authors or exact (got ${o.thresholdMode})`);
}

/** Same architecture = same layer count and widths (a series is one training run). */
export function checkSameArchitecture(targets: MeasureTarget[]): void {
  const a = targets[0].runner.spec;
  for (const t of targets.slice(1)) {
    const b = t.runner.spec;
    if (a.numLayers !== b.numLayers || a.hiddenSize !== b.hiddenSize || a.intermediateSize !== b.intermediateSize || a.family !== b.family || a.activation !== b.activation)
      throw new LabError(
        'BAD_REQUEST',
        `checkpoints of different architectures in one series: ${targets[0].id} (${a.family}/${a.activation}, L=${a.numLayers}, d=${a.hiddenSize}, F=${a.intermediateSize}) vs ${t.id} (${b.family}/${b.activation}, L=${b.numLayers}, d=${b.hiddenSize}, F=${b.intermediateSize})`,
      );
  }
}

/** Mean over batches of the PPL ratio at CETT c (thresholds per batch); `next`: the targets that can follow. */
async function pplRatioAt(pt: PreparedTarget, c: number, next: number[] = []): Promise<number> {
  const ratios: number[] = [];
  for (let b = 0; b < pt.batches.length; b++) ratios.push((await pt.step(b, c, next)).ratio);
  return mean(ratios);
}

/** The full result of one checkpoint at a given CETT (the final measurement). */
export async function evaluateAtCett(pt: PreparedTarget, c: number, data: EvalData): Promise<CheckpointResult> {
  const { spec } = pt;
  const acc = new StatsAccumulator(spec.numLayers, spec.intermediateSize);
  const ratios: number[] = [];
  const sparseLosses: number[] = [];
  const perBatch: number[][] = [];
  const clampedLow: { batch: number; layer: number }[] = [];
  for (let b = 0; b < pt.batches.length; b++) {
    const { th, res, loss, ratio } = await pt.step(b, c);
    th.clampedLow.forEach((x, layer) => x && clampedLow.push({ batch: b, layer }));
    perBatch.push(th.eps);
    acc.add(res, pt.batches[b].batch, pt.batches[b].seqLen);
    ratios.push(ratio);
    sparseLosses.push(loss);
  }
  const thresholds = Array.from({ length: spec.numLayers }, (_, l) => mean(perBatch.map((e) => e[l])));
  return {
    ...baseResult(pt, data, ratios, sparseLosses, acc),
    curveEngine: pt.engine,
    search: pt.searchRecord(),
    method: 'cett-ppl',
    cett: c,
    thresholds,
    thresholdsPerBatch: perBatch,
    clampedLow,
    tau: pt.tau(thresholds).map((t) => Array.from(t)),
  };
}

export function baseResult(pt: PreparedTarget, data: EvalData, ratios: number[], sparseLosses: number[], acc: StatsAccumulator) {
  const r = pt.target.runner;
  // pooled losses weight batches by their token count (the last batch may be smaller)
  const w = pt.batches.map((b) => b.batch * (b.seqLen - 1));
  const W = w.reduce((a, b) => a + b, 0);
  const dense = pt.denseLoss.reduce((s, x, i) => s + x * w[i], 0) / W;
  const sparse = sparseLosses.reduce((s, x, i) => s + x * w[i], 0) / W;
  return {
    ...acc.finish(),
    checkpoint: pt.target.id,
    tokensSeen: pt.target.tokensSeen,
    pplDense: Math.exp(dense),
    pplSparse: Math.exp(sparse),
    pplRatio: mean(ratios),
    pplRatioPooled: Math.exp(sparse - dense),
    tokens: data.tokens,
    sequences: data.sequences,
    seqLen: data.seqLen,
    batch: data.batch,
    bosPerSequence: data.bosPerSequence,
    provider: r.provider,
    dtype: r.dtype,
    ...(r.plan ? { execution: r.plan } : {}),
    fallbackReasons: pt.fallbackReason ? [...r.fallbackReasons, pt.fallbackReason] : r.fallbackReasons,
  };
}

/**
 * The run monitor's line for an outer step (app and CLI progress): which step, the CETT tried, its mean PPL ratio against
 * the bound 1 + p/100 and what the bisection does with it (Algorithm 1: below the bound c is kept as the new lower end
 * and the next CETT is higher; at or above it, lower). E.g. `step 3: CETT 0.250000 → PPL ratio 1.182203 ≥ 1.01 (1 + 1%):
 * over, CETT lowered`. A NaN ratio is not below the bound (outerNarrow's comparison), so it reads as over.
 */
export function outerStepLine(step: number, c: number, ratio: number, p: number): string {
  const bound = 1 + p / 100;
  const kept = ratio < bound;
  return `step ${step}: CETT ${c.toFixed(6)} → PPL ratio ${ratio.toFixed(6)} ${kept ? '<' : '≥'} ${+bound.toFixed(6)} (1 + ${p}%): ${kept ? 'kept, CETT raised' : 'over, CETT lowered'}`;
}

/** Algorithm 1's outer bisection over the prepared targets (mean PPL ratio across them; main/base/authors-search.ts). */
async function outerSearch(pts: PreparedTarget[], o: CettPplOptions, meter: Meter, hooks: StepHooks): Promise<SearchState> {
  const state: SearchState = hooks.resume ? structuredClone(hooks.resume) : { l: 0, r: 1, history: [] };
  meter.enter('search', outerSteps(o.tol, state));
  while (state.r - state.l > o.tol) {
    const { c, next } = outerMid(state);
    const per: number[] = [];
    for (const pt of pts) per.push(await pplRatioAt(pt, c, next));
    const ratio = mean(per);
    outerNarrow(state, c, ratio, o.p);
    state.history.push({ c, pplRatio: ratio, perCheckpoint: per });
    await hooks.onStep?.(state);
    meter.step(outerStepLine(state.history.length, c, ratio, o.p));
  }
  return state;
}

async function prepareAll(targets: MeasureTarget[], data: EvalData, o: CettPplOptions, meter: Meter): Promise<PreparedTarget[]> {
  meter.enter('dense', targets.length * data.batches.length);
  const pts: PreparedTarget[] = [];
  const budget = (o.cacheBytes ?? DEFAULT_CACHE_BYTES) / targets.length;
  for (const t of targets) {
    const pt = new PreparedTarget(t, data.batches, o.thresholdMode, meter, budget, o.curveEngine);
    pt.speculative = o.speculate ?? false;
    pt.overlapCurves = o.overlapCurves ?? true;
    await pt.prepare();
    pts.push(pt);
  }
  return pts;
}

function options(o: CettPplOptions, data: EvalData): Record<string, unknown> {
  return { ...o, cacheBytes: o.cacheBytes ?? DEFAULT_CACHE_BYTES, tokens: data.tokens, seqLen: data.seqLen, batch: data.batch, bosPerSequence: data.bosPerSequence, data: data.file };
}

/** CETT-PPL-p% of one checkpoint. */
export async function measureCettPpl(target: MeasureTarget, data: EvalData, o: CettPplOptions, ctl: RunControl = {}, hooks: StepHooks = {}): Promise<MeasureResult> {
  validateCettOptions(o);
  const meter = new Meter(ctl);
  meter.check();
  const [pt] = await prepareAll([target], data, o, meter);
  meter.closePhase();
  try {
    const r = await searchAndMeasure(pt, data, o, meter, hooks, { passes: meter.forwardPasses, ms: { ...meter.phaseMs } });
    return { ...r, timingsMs: { ...r.timingsMs, total: meter.totalMs() } };
  } finally {
    await pt.dispose();
  }
}

/**
 * The final measurement at given CETT values, without the outer search: PPL ratio, activation ratio and thresholds at
 * each c, as another implementation computes them at the same c (a fixed-c comparison against the reference, where
 * its outer search and ours branch differently because the PPL ratio is nearly flat in c).
 */
export async function measureAtCetts(target: MeasureTarget, data: EvalData, o: CettPplOptions, cs: number[], ctl: RunControl = {}): Promise<CheckpointResult[]> {
  validateCettOptions(o);
  for (const c of cs) if (!(Number.isFinite(c) && c >= 0 && c <= 1)) throw new LabError('BAD_REQUEST', `CETT ${c} is outside [0, 1]`);
  const meter = new Meter(ctl);
  const [pt] = await prepareAll([target], data, o, meter);
  try {
    const out: CheckpointResult[] = [];
    for (const c of cs) out.push(await evaluateAtCett(pt, c, data));
    return out;
  } finally {
    await pt.dispose();
  }
}

/**
 * CETT-PPL-p% for several p on one checkpoint (the paper's trade-off; the lab's p% sweep): one dense pass (its kept
 * curves, or the fused search's memo of evaluated candidates, serve every p), then per p the outer search and the
 * final measurement — each p the numbers measureCettPpl gives for it alone. Resuming (main/jobs/p-sweep.ts keeps the
 * state): `done` are the results of the first points, kept as they are; `point(i)` gives point i's search its saved
 * state and step hook; `onPoint` hears each p as it finishes (awaited: the job saves it before the next p starts).
 */
export async function measureCettPplOverP(
  target: MeasureTarget,
  data: EvalData,
  ps: readonly number[],
  o: Omit<CettPplOptions, 'p'>,
  ctl: RunControl = {},
  sweep: { done?: MeasureResult[]; point?: (i: number) => StepHooks; onPoint?: (r: MeasureResult, i: number) => Promise<void> | void } = {},
): Promise<MeasureResult[]> {
  for (const p of ps) validateCettOptions({ ...o, p });
  const out: MeasureResult[] = [...(sweep.done ?? [])];
  if (out.length >= ps.length) return out.slice(0, ps.length);
  const meter = new Meter(ctl);
  meter.check();
  const [pt] = await prepareAll([target], data, { ...o, p: ps[out.length] }, meter);
  meter.closePhase();
  const dense = { passes: meter.forwardPasses, ms: { ...meter.phaseMs } };
  try {
    for (let i = out.length; i < ps.length; i++) {
      out.push(await searchAndMeasure(pt, data, { ...o, p: ps[i] }, meter, sweep.point?.(i) ?? {}, dense));
      await sweep.onPoint?.(out[i], i);
    }
  } finally {
    await pt.dispose();
  }
  return out;
}

/** The outer search and the final measurement at o.p on a prepared target; passes and timings: `dense`'s plus this p's own. */
async function searchAndMeasure(pt: PreparedTarget, data: EvalData, o: CettPplOptions, meter: Meter, hooks: StepHooks, dense: { passes: number; ms: Record<string, number> }): Promise<MeasureResult> {
  const passes0 = meter.forwardPasses;
  const ms0 = { ...meter.phaseMs };
  const stats0 = { ...pt.fusedStats };
  const state = await outerSearch([pt], o, meter, hooks);
  meter.enter('final', 1);
  const res = await evaluateAtCett(pt, (state.l + state.r) / 2, data);
  meter.step();
  meter.closePhase();
  const ms: Record<string, number> = { ...dense.ms };
  for (const [k, v] of Object.entries(meter.phaseMs)) if (k !== 'dense') ms[k] = (ms[k] ?? 0) + v - (ms0[k] ?? 0);
  const fs = pt.fusedStats;
  return {
    ...res,
    p: o.p,
    tol: o.tol,
    thresholdMode: o.thresholdMode,
    searchHistory: state.history,
    forwardPasses: dense.passes + meter.forwardPasses - passes0,
    ...(pt.engine === 'fused' ? { searchStats: { calls: fs.calls - stats0.calls, evaluations: fs.evaluations - stats0.evaluations, iterations: fs.iterations - stats0.iterations, targets: fs.targets - stats0.targets } } : {}),
    // 'curves' (CETT curve / probe building, inside 'dense' and 'search') is reported apart
    timingsMs: { ...ms, curves: pt.curveMs, total: Object.values(ms).reduce((a, b) => a + b, 0) },
    options: options(o, data),
  };
}

/**
 * Training series (paper Sec. 5.1, App. E): one CETT from the last k checkpoints together (mean PPL ratio across
 * them), then that CETT applied to every checkpoint. Targets are in training order.
 * `open` creates a checkpoint's runner when needed; runners of the last k stay open during the search,
 * the others are opened one at a time for the final phase and closed after.
 */
export async function measureSeries(
  targets: { id: string; tokensSeen?: number; spec?: ModelSpec; open: () => Promise<MeasureTarget> }[],
  data: EvalData,
  o: CettPplOptions & { lastK?: number },
  ctl: RunControl = {},
  hooks: StepHooks = {},
): Promise<SeriesResult> {
  validateCettOptions(o);
  if (targets.length < 2) throw new LabError('BAD_REQUEST', `a training series needs at least 2 checkpoints (got ${targets.length})`);
  const k = Math.min(o.lastK ?? 5, targets.length);
  if (!(Number.isInteger(k) && k >= 1)) throw new LabError('BAD_REQUEST', `lastK must be an integer ≥ 1 (got ${o.lastK})`);
  // architectures compared before any compute when the caller read the configs up front
  const specs = targets.filter((t) => t.spec);
  if (specs.length > 1) checkSameArchitecture(specs.map((t) => ({ id: t.id, runner: { spec: t.spec } }) as MeasureTarget));
  const meter = new Meter(ctl);
  const searchOn = targets.slice(-k);
  const open: MeasureTarget[] = [];
  try {
    for (const t of searchOn) open.push(await t.open());
    checkSameArchitecture(open);
    let state = hooks.resume;
    let pts: PreparedTarget[] | undefined;
    if (!state || state.r - state.l > o.tol) {
      pts = await prepareAll(open, data, o, meter);
      state = await outerSearch(pts, o, meter, hooks);
    }
    const c = (state.l + state.r) / 2;
    const finals: Record<string, CheckpointResult> = { ...(state.finals ?? {}) };
    meter.enter('final', targets.length);
    for (const t of targets) {
      if (finals[t.id]) continue;
      const idx = searchOn.indexOf(t);
      let pt = idx >= 0 && pts ? pts[idx] : undefined;
      /** a runner opened for this checkpoint's final measurement only: released whatever happens (a different
       * architecture, a failed dense pass, a cancel), the search's own stay open until the end */
      let own: MeasureTarget | undefined;
      try {
        if (!pt) {
          const mt = idx >= 0 ? open[idx] : (own = await t.open());
          if (own) checkSameArchitecture([open[0], own]);
          pt = new PreparedTarget(mt, data.batches, o.thresholdMode, meter, o.cacheBytes ?? DEFAULT_CACHE_BYTES, o.curveEngine);
          await pt.prepare();
        }
        finals[t.id] = { ...(await evaluateAtCett(pt, c, data)), tokensSeen: t.tokensSeen, p: o.p };
      } finally {
        await pt?.dispose();
        if (own) await own.runner.dispose();
      }
      state = { ...state, finals };
      await hooks.onStep?.(state);
      meter.step(t.id);
    }
    meter.closePhase();
    return {
      method: 'cett-ppl',
      p: o.p,
      cett: c,
      tol: o.tol,
      thresholdMode: o.thresholdMode,
      searchedOn: searchOn.map((t) => t.id),
      searchHistory: state.history,
      checkpoints: targets.map((t) => finals[t.id]),
      forwardPasses: meter.forwardPasses,
      timingsMs: { ...meter.phaseMs, total: meter.totalMs() },
      options: { ...options(o, data), lastK: k },
    };
  } finally {
    for (const t of open) await t.runner.dispose();
  }
}
