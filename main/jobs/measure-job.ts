/**
 * The work of a `runs.start` job: read the checkpoint(s) and the evaluation text (all validation before
 * any compute), then run CETT-PPL-p%, a baseline, a sweep or a training series (main/metrics).
 */
import { LabError } from '../api/errors';
import type { MeasureConfig, RunConfig, SeriesConfig } from '../api/domains/runs';
import type { LoadedCheckpoint } from '../checkpoint/types';
import { measureBaseline, sweepBaseline, sweepCett, baselineMask, type BaselineMethod } from '../metrics/baselines';
import { measureCettPpl, measureCettPplOverP, measureSeries, checkSameArchitecture, validateCettOptions } from '../metrics/cett-ppl';
import type { RunControl } from '../metrics/control';
import { loadEvalDataAsync, type EvalData } from '../metrics/data';
import type { MeasureTarget } from '../metrics/target';
import type { CettPplOptions, SearchState } from '../metrics/types';
import { defaultModelSource, type ModelSource, type OpenOptions } from './models';
import type { JobHooks } from './runner';
import { checkFiniteResult, refuseNonFiniteWeights } from './finite-result';
import { flagUnreachedTarget } from './target-reach';
import { checkSweepP, pSweepResult, pSweepResumeState, type PSweepState } from './p-sweep';
import { planPhases, withOverall } from './progress';
import { priorRates, rememberRates } from './cost-prior';

/** `signal`: the job's cancel, which also ends a graph build or session creation in progress (main/inference/graph-store.ts) */
export function openOpts(cfg: RunConfig, signal?: AbortSignal): OpenOptions {
  return {
    ...(signal ? { signal } : {}),
    provider: cfg.provider,
    seqLen: cfg.seqLen,
    batchSeqs: cfg.batch,
    ...(cfg.deviceMemory ? { deviceMemoryBytes: cfg.deviceMemory * 1024 ** 3 } : {}),
    ...(cfg.execution ? { execution: cfg.execution } : {}),
  };
}

/** says in the job's progress (the CLI's log, the run monitor) how the model runs and why (issue 15) */
export function announcePlan(target: MeasureTarget, ctl: RunControl): void {
  const p = target.runner.plan;
  if (p) ctl.progress?.({ phase: 'plan', step: 0, of: 1, tokensPerSec: 0, etaSec: null, message: `${p.mode} on ${p.device}: ${p.reason}` });
}

// (maxPositions 0 = unknown, e.g. an ONNX file: the graph itself decides)
// read and tokenized only as far as the token budget needs, yielding to the event loop, cancellable (issue 19)
async function dataFor(ckpt: LoadedCheckpoint, cfg: RunConfig, ctl: RunControl): Promise<EvalData> {
  if (ckpt.spec.maxPositions > 0 && cfg.seqLen > ckpt.spec.maxPositions)
    throw new LabError('BAD_REQUEST', `sequence length ${cfg.seqLen} is longer than the context of ${ckpt.path} (max_position_embeddings ${ckpt.spec.maxPositions}): choose ${ckpt.spec.maxPositions} or less`);
  if (!ckpt.tokenizer) throw new LabError('BAD_CHECKPOINT', `${ckpt.path} has no tokenizer (tokenizer.json or tokenizer.model) to read the evaluation text with`);
  return loadEvalDataAsync(cfg.data, ckpt.tokenizer, { tokens: cfg.tokens, seqLen: cfg.seqLen, batch: cfg.batch, bosPerSequence: cfg.bosPerSequence }, ctl.signal);
}

function cettOptions(cfg: RunConfig): CettPplOptions {
  const o = { p: cfg.p, tol: cfg.tol, thresholdMode: cfg.thresholdMode };
  validateCettOptions(o);
  return o;
}

export async function runMeasure(cfg: MeasureConfig, ctl: RunControl, hooks: JobHooks<SearchState>, src: ModelSource = defaultModelSource): Promise<unknown> {
  const ckpt = await src.loadCheckpoint(cfg.checkpoint, ctl.signal);
  refuseNonFiniteWeights(ckpt);
  if (cfg.sweepP) {
    if (cfg.method !== 'cett-ppl') throw new LabError('BAD_REQUEST', `a p% sweep measures CETT-PPL-p% (got method ${cfg.method}); sweep a baseline's parameter with sweep instead`);
    if (cfg.sweep) throw new LabError('BAD_REQUEST', 'a run sweeps either p (sweepP) or CETT / the parameter (sweep), not both');
    for (const p of checkSweepP(cfg.sweepP)) cettOptions({ ...cfg, p });
  }
  if (cfg.method === 'cett-ppl' && !cfg.sweep && !cfg.sweepP) cettOptions(cfg);
  if (cfg.method !== 'cett-ppl') for (const v of cfg.sweep ?? [cfg.param]) baselineMask(cfg.method as BaselineMethod, v, ckpt.spec);
  // a p% sweep resumes from its finished points and the search in progress (main/jobs/p-sweep.ts)
  const sweepState = cfg.sweepP ? pSweepResumeState(hooks.resume, hooks.children, cfg.sweepP) : undefined;
  const data = await dataFor(ckpt, cfg, ctl);
  const plan = planPhases(cfg, data.batches.length);
  // the finished points' search and final phases are done (the dense pass is not: it runs again)
  for (let i = 1; i <= 2 * (sweepState?.points.length ?? 0); i++) plan[i].done = true;
  // one progress figure across the phases, weighed by what a pass of each costs (known from an estimate or an earlier
  // run of this model and settings; this run's rates are kept for the next)
  const tracked = withOverall(ctl, plan, undefined, priorRates(cfg));
  ctl = tracked;
  if (sweepState && sweepState.points.length === cfg.sweepP!.length) return checkFiniteResult(pSweepResult(ckpt.path, sweepState.points.map((r) => flagUnreachedTarget(r))), ckpt.path);
  const target = await src.openTarget(ckpt, openOpts(cfg, ctl.signal));
  announcePlan(target, ctl);
  try {
    if (cfg.sweepP) {
      const done = sweepState?.points ?? [];
      const save = (st: PSweepState) => (hooks as unknown as JobHooks<PSweepState>).onStep(st);
      const runs = await measureCettPplOverP(target, data, cfg.sweepP, { tol: cfg.tol, thresholdMode: cfg.thresholdMode }, ctl, {
        done,
        // point i's search: from its saved step when it is the one that was interrupted; each step saves only that
        // search and the count of finished points before it
        point: (i) => ({ resume: i === done.length ? sweepState?.search : undefined, onStep: (search) => save({ kind: 'p-sweep', done: i, search }) }),
        // a finished point is saved once, whole, as it will be reported (flagged), then counted
        onPoint: async (r, i) => {
          await hooks.onChild?.(i, flagUnreachedTarget(r));
          await save({ kind: 'p-sweep', done: i + 1 });
        },
      });
      return checkFiniteResult(pSweepResult(ckpt.path, runs.map((r) => flagUnreachedTarget(r))), ckpt.path);
    }
    if (cfg.sweep) {
      const points =
        cfg.method === 'cett-ppl'
          ? await sweepCett(target, data, cfg.sweep, cfg.thresholdMode, ctl)
          : await sweepBaseline(target, data, cfg.method as BaselineMethod, cfg.sweep, ctl);
      return checkFiniteResult({
        kind: 'sweep',
        method: cfg.method,
        checkpoint: ckpt.path,
        points,
        provider: target.runner.provider,
        dtype: target.runner.dtype,
        tokens: data.tokens,
        ...(target.runner.plan ? { execution: target.runner.plan } : {}),
      }, ckpt.path);
    }
    if (cfg.method === 'cett-ppl') return flagUnreachedTarget(checkFiniteResult(await measureCettPpl(target, data, cettOptions(cfg), ctl, { resume: hooks.resume, onStep: hooks.onStep }), ckpt.path));
    return checkFiniteResult(await measureBaseline(target, data, cfg.method as BaselineMethod, cfg.param, ctl), ckpt.path);
  } finally {
    rememberRates(cfg, tracked.rates?.() ?? {});
    await target.runner.dispose();
  }
}

export async function runSeries(cfg: SeriesConfig, ctl: RunControl, hooks: JobHooks<SearchState>, src: ModelSource = defaultModelSource): Promise<unknown> {
  if (cfg.method !== 'cett-ppl') throw new LabError('BAD_REQUEST', `a training series is measured with cett-ppl (got ${cfg.method})`);
  const o = cettOptions(cfg);
  if (cfg.checkpoints.length < 2) throw new LabError('BAD_REQUEST', `a training series needs at least 2 checkpoints (got ${cfg.checkpoints.length})`);
  // read every config first: architectures and tokenizer checked before any compute
  const ckpts: LoadedCheckpoint[] = [];
  for (const c of cfg.checkpoints) ckpts.push(await src.loadCheckpoint(c.path, ctl.signal));
  for (const c of ckpts) refuseNonFiniteWeights(c);
  checkSameArchitecture(ckpts.map((c) => ({ id: c.path, runner: { spec: c.spec } }) as MeasureTarget));
  const data = await dataFor(ckpts[ckpts.length - 1], cfg, ctl);
  const tracked = withOverall(ctl, planPhases(cfg, data.batches.length), undefined, priorRates(cfg));
  ctl = tracked;
  const entries = ckpts.map((c, i) => ({
    id: c.path,
    tokensSeen: cfg.checkpoints[i].tokensSeen,
    spec: c.spec,
    open: () => src.openTarget(c, openOpts(cfg, ctl.signal), cfg.checkpoints[i].tokensSeen),
  }));
  try {
    return flagUnreachedTarget(checkFiniteResult(await measureSeries(entries, data, { ...o, lastK: cfg.lastK }, ctl, { resume: hooks.resume, onStep: hooks.onStep }), `series of ${ckpts.length} checkpoints`));
  } finally {
    rememberRates(cfg, tracked.rates?.() ?? {});
  }
}

export function workFor(cfg: RunConfig, src: ModelSource = defaultModelSource) {
  return (ctl: RunControl, hooks: JobHooks<unknown>) =>
    cfg.kind === 'measure' ? runMeasure(cfg, ctl, hooks as JobHooks<SearchState>, src) : runSeries(cfg, ctl, hooks as JobHooks<SearchState>, src);
}
