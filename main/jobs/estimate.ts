/**
 * runs.estimate (the wizard's "Estimate time", the CLI's `measure --estimate`): a short timed pilot on this machine and
 * provider, then the measurement's own counts. The pilot does what the run does, on the first batch (from 16 batches on, also the middle one) of the real
 * evaluation text: read and check the checkpoint, tokenize, open the model, the dense pass (with the CETT curves or
 * the fused search's set-up, whichever engine the run will use), outer-search steps and a final measurement at a CETT.
 * First calls carry one-off costs (graph warm-up), so each is timed twice where the run repeats it: the first call
 * counts once, the steady one scales by the run's counts — batches (by tokens), outer steps (from the tolerance), sweep
 * points, p values, checkpoints of a series. Same code paths as the run (PreparedTarget, evaluateAtCett), so the
 * estimate follows the engine, the provider and the curve cache of the real run.
 */
import type { RunConfig, RunEstimate } from '../api/domains/runs';
import { loadEvalDataAsync, type EvalBatch, type EvalData } from '../metrics/data';
import { LabError } from '../api/errors';
import { Meter } from '../metrics/control';
import { PreparedTarget, type MeasureTarget } from '../metrics/target';
import type { MaskMode } from '../inference/runner-types';
import { DEFAULT_CACHE_BYTES, evaluateAtCett } from '../metrics/cett-ppl';
import { baselineMask, type BaselineMethod } from '../metrics/baselines';
import { defaultModelSource, type ModelSource } from './models';
import { openOpts } from './measure-job';
import { refuseNonFiniteWeights } from './finite-result';
import { outerMid, outerNarrow, outerSteps } from '../base/authors-search';
import { ratesFromEstimate, rememberRates } from './cost-prior';

// the outer search's step count (Algorithm 1: main/base/authors-search.ts), as the run's progress plan counts it
export { outerSteps };

/** Forward passes of a measurement: dense pass per batch, one sparse pass per batch per outer step, final pass. */
export function forwardPassCount(cfg: RunConfig, batches: number, checkpoints = 1): number {
  if (cfg.sweep) return batches * (1 + cfg.sweep.length);
  if (cfg.method !== 'cett-ppl') return 2 * batches;
  const steps = outerSteps(cfg.tol);
  if (cfg.kind === 'measure') return batches * (1 + (cfg.sweepP?.length ?? 1) * (1 + steps));
  const k = Math.min(cfg.lastK, checkpoints);
  return batches * (k * (1 + steps) + 2 * checkpoints);
}

/**
 * What the pilot times with: 'wall' (seconds on the clock: the estimate a user reads) or 'cpu' (CPU seconds of this
 * process, all its threads: what the accuracy test compares, since on a shared, loaded machine the clock also counts
 * other programs' time while CPU seconds count only the work itself).
 */
export type PilotClock = 'wall' | 'cpu';
export function clockSeconds(clock: PilotClock): number {
  if (clock === 'wall') return performance.now() / 1000;
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** The pilot's timings (seconds) that the estimate scales; exported for the accuracy test and the benchmark. */
export interface PilotTimings {
  /** read the checkpoint's config/weights and check them for non-finite values (one checkpoint) */
  load: number;
  /** read and tokenize the evaluation text (only what the token budget needs) */
  data: number;
  /** open the model on the provider (one checkpoint) */
  open: number;
  /** the dense phase on the pilot batches: the first call of a freshly opened model with its graphs cached, and steady */
  denseFirst: number;
  denseSteady: number;
  /**
   * CETT-PPL: the whole outer search (every step down to the tolerance, for each p of a p% sweep) on the pilot batches.
   * Each step's cost falls as the search narrows (the ORT probe and the fused search remember what they evaluated),
   * so the pilot walks the whole path, as every batch of the run will (the graphs are warm from the dense phase).
   * Baselines: one masked pass (first and steady).
   */
  search: number;
  /** the one-off cost of the first sparse pass (its graph's warm-up): a pass timed twice before the search */
  sparseWarmup: number;
  stepFirst: number;
  stepSteady: number;
  /** the final measurement(s) at a CETT (per p, or per sweep value) on the pilot batches */
  final: number;
  /** tokens of the pilot batch, and of all batches of the run */
  pilotTokens: number;
  runTokens: number;
  batches: number;
}

const tokensOf = (b: EvalBatch) => b.batch * b.seqLen;

/** Scales the pilot by the run's counts. Pure: the accuracy test checks it on measured timings. */
export function scalePilot(cfg: RunConfig, t: PilotTimings, checkpoints = 1): { total: number; setup: number; dense: number; search: number; final: number } {
  const r = t.runTokens / t.pilotTokens; // run in units of the pilot batch
  const dense1 = t.denseFirst + t.denseSteady * Math.max(0, r - 1); // one target's dense phase, warm-up once
  // n steady calls after a first one: the first call's extra cost counts once
  const calls = (n: number) => (n <= 0 ? 0 : t.stepFirst + t.stepSteady * (n - 1));
  // the pilot batch's whole search, for every batch (by tokens)
  const searchAll = t.search * r;
  if (cfg.kind === 'measure') {
    const setup = t.load + t.data + t.open;
    if (cfg.method !== 'cett-ppl') {
      // baselines: a dense pass per batch, then a masked pass per batch per value
      const values = cfg.sweep?.length ?? 1;
      const search = calls(r * values);
      return { setup, dense: dense1, search, final: 0, total: setup + dense1 + search };
    }
    const final = t.sparseWarmup + t.final * r; // the pilot measured every sweep value / every p on its batch
    const search = cfg.sweep ? 0 : searchAll;
    return { setup, dense: dense1, search, final, total: setup + dense1 + search + final };
  }
  // a series: the last k checkpoints searched together, then every checkpoint measured at the CETT found
  const n = checkpoints;
  const k = Math.min(cfg.lastK, n);
  const setup = n * t.load + t.data + n * t.open;
  const dense = n * dense1; // the searched k once, each other one for its final measurement
  const search = k * searchAll; // each step measures each of the k on every batch
  const final = t.sparseWarmup + n * t.final * r;
  return { setup, dense, search, final, total: setup + dense + search + final };
}

/**
 * Times the pilot (see the file's note) for `cfg` on its first (measure) or last (series) checkpoint. `signal` cancels
 * it (CANCELLED) the way it cancels a run (metrics/control.ts): checked between phases and after every forward call,
 * and handed to the checkpoint's open, the tokenizer and the graph builds and session creations (a cache entry being
 * written is removed); what the pilot opened is released before it rejects.
 */
export async function runPilot(cfg: RunConfig, src: ModelSource = defaultModelSource, clock: PilotClock = 'wall', signal?: AbortSignal): Promise<{ timings: PilotTimings; target: MeasureTarget; close: () => Promise<void> }> {
  const meter = new Meter({ signal });
  const timed = async <T>(f: () => Promise<T> | T): Promise<[T, number]> => {
    meter.check();
    const t0 = clockSeconds(clock);
    const r = await f();
    const sec = clockSeconds(clock) - t0;
    meter.check();
    return [r, sec];
  };
  const path = cfg.kind === 'measure' ? cfg.checkpoint : cfg.checkpoints[cfg.checkpoints.length - 1]?.path;
  if (!path) throw new LabError('BAD_REQUEST', 'no checkpoint given');
  const [ckpt, tLoad] = await timed(async () => {
    const c = await src.loadCheckpoint(path, signal);
    refuseNonFiniteWeights(c);
    return c;
  });
  if (!ckpt.tokenizer) throw new LabError('BAD_CHECKPOINT', `${ckpt.path} has no tokenizer (tokenizer.json or tokenizer.model) to read the evaluation text with`);
  if (ckpt.spec.maxPositions > 0 && cfg.seqLen > ckpt.spec.maxPositions)
    throw new LabError('BAD_REQUEST', `sequence length ${cfg.seqLen} is longer than the context of ${ckpt.path} (max_position_embeddings ${ckpt.spec.maxPositions}): choose ${ckpt.spec.maxPositions} or less`);
  const tokenizer = ckpt.tokenizer;
  const [data, tData] = await timed(() => loadEvalDataAsync(cfg.data, tokenizer, { tokens: cfg.tokens, seqLen: cfg.seqLen, batch: cfg.batch, bosPerSequence: cfg.bosPerSequence }, signal));
  let [target] = await timed(() => src.openTarget(ckpt, openOpts(cfg, signal)));
  let open = true;
  const close = async () => {
    if (open) await target.runner.dispose();
    open = false;
  };
  // the curves' sessions of a PreparedTarget in use, released on the way out whatever ends the pilot
  let prepared: PreparedTarget | undefined;
  const release = async () => {
    const p = prepared;
    prepared = undefined;
    await p?.dispose();
  };
  try {
    // the slice: the first batch, and from 16 batches on also the middle one (another stretch of text; and one batch's
    // timing scatters on a busy machine)
    const B = data.batches.length;
    const slice = B >= 16 ? [data.batches[0], data.batches[Math.floor(B / 2)]] : [data.batches[0]];
    const pilot: EvalData = { ...data, batches: slice };
    const denseForward = async () => {
      for (const b of slice) {
        await target.runner.forward({ ids: b.ids, batch: b.batch, seqLen: b.seqLen, mode: { kind: 'dense' } });
        meter.check();
      }
    };
    const baseline = cfg.method !== 'cett-ppl';
    const pt = (prepared = new PreparedTarget(target, pilot.batches, cfg.thresholdMode, meter, baseline ? 0 : DEFAULT_CACHE_BYTES));
    const dense = async () => {
      if (!baseline) return pt.prepare();
      for (const [i, b] of slice.entries()) {
        const res = await target.runner.forward({ ids: b.ids, batch: b.batch, seqLen: b.seqLen, mode: { kind: 'dense' } });
        meter.check();
        pt.denseLoss[i] = res.nll.reduce((s, x) => s + x, 0) / res.nll.length;
      }
    };
    const sparseAll = async (mask: MaskMode) => {
      for (let i = 0; i < slice.length; i++) await pt.sparsePass(i, mask);
    };
    await dense(); // cold: builds the graphs the run will find cached
    const denseSteady = (await timed(dense))[1];
    let stepFirst = 0;
    let stepSteady = 0;
    let search = 0;
    let final = 0;
    let sparseWarmup = 0;
    let sparseSteady = 0;
    if (!baseline && pt.engine !== 'fused') {
      // the sparse graph's first call (its build and warm-up) before the timed search, so that search is what every
      // batch repeats; the steady pass is what the warm first call below is compared with
      const tau0 = pt.tau(new Array<number>(target.runner.spec.numLayers).fill(0));
      await pt.sparsePass(0, { kind: 'cett', tau: tau0 });
      sparseSteady = (await timed(() => pt.sparsePass(0, { kind: 'cett', tau: tau0 })))[1]; // one batch: the warm-up is per graph
    }
    if (baseline) {
      const mask = baselineMask(cfg.method as BaselineMethod, cfg.sweep?.[0] ?? (cfg.kind === 'measure' ? cfg.param : undefined), target.runner.spec);
      stepFirst = (await timed(() => sparseAll(mask)))[1];
      stepSteady = (await timed(() => sparseAll(mask)))[1];
    } else if (cfg.sweep) {
      for (const c of cfg.sweep) final += (await timed(() => evaluateAtCett(pt, c, pilot)))[1];
    } else {
      // Algorithm 1 on the pilot batch alone: the same bisection (its path close to the run's), step by step
      const ps = cfg.kind === 'measure' && cfg.sweepP ? cfg.sweepP : [cfg.p];
      const stepTimes: number[] = [];
      for (const p of ps) {
        const s = { l: 0, r: 1 };
        while (s.r - s.l > cfg.tol) {
          const { c, next } = outerMid(s);
          const [ratios, sec] = await timed(async () => {
            const out: number[] = [];
            for (let i = 0; i < slice.length; i++) out.push((await pt.step(i, c, next)).ratio);
            return out;
          });
          stepTimes.push(sec);
          outerNarrow(s, c, ratios.reduce((a, x) => a + x, 0) / ratios.length, p);
        }
        final += (await timed(() => evaluateAtCett(pt, outerMid(s).c, pilot)))[1];
      }
      search = stepTimes.reduce((a, b) => a + b, 0);
    }
    await release();
    // The run comes after the pilot: its graphs are built and cached by then (the graph cache), so its open and first
    // calls are the warm ones. Open again and time those, instead of the pilot's cold first calls.
    await close();
    const [again, tOpen] = await timed(() => src.openTarget(ckpt, openOpts(cfg, signal)));
    target = again;
    open = true;
    const warm = (prepared = new PreparedTarget(target, pilot.batches, cfg.thresholdMode, meter, baseline ? 0 : DEFAULT_CACHE_BYTES));
    const denseFirst = (
      await timed(async () => {
        if (baseline) await denseForward();
        else await warm.prepare();
      })
    )[1];
    if (!baseline && warm.engine !== 'fused') {
      const tau0 = warm.tau(new Array<number>(target.runner.spec.numLayers).fill(0));
      sparseWarmup = Math.max(0, (await timed(() => warm.sparsePass(0, { kind: 'cett', tau: tau0 })))[1] - sparseSteady);
    }
    await release();
    const timings: PilotTimings = {
      load: tLoad,
      data: tData,
      open: tOpen,
      denseFirst,
      denseSteady,
      search,
      sparseWarmup,
      stepFirst,
      stepSteady,
      final,
      pilotTokens: slice.reduce((s, b) => s + tokensOf(b), 0),
      runTokens: data.batches.reduce((s, b) => s + tokensOf(b), 0),
      batches: data.batches.length,
    };
    return { timings, target, close };
  } catch (e) {
    await release().catch(() => undefined);
    await close();
    throw e;
  }
}

/**
 * The time a run of `cfg` will take on this machine and provider, from a short timed pilot (see the file's note);
 * within ±30% of the real run on the demo models (test/integration/estimate-accuracy.test.ts). Used by `runs.estimate`
 * (the wizard, the checkpoint card) and the CLI; `signal` cancels it (runPilot), which then leaves nothing open.
 */
export async function estimateRun(cfg: RunConfig, src: ModelSource = defaultModelSource, signal?: AbortSignal): Promise<RunEstimate> {
  const t0 = performance.now();
  const { timings: t, target, close } = await runPilot(cfg, src, 'wall', signal);
  const pilotSeconds = (performance.now() - t0) / 1000;
  try {
    const checkpoints = cfg.kind === 'measure' ? 1 : cfg.checkpoints.length;
    const s = scalePilot(cfg, t, checkpoints);
    const passes = forwardPassCount(cfg, t.batches, checkpoints);
    // a run of this model and settings started next weighs its progress bar's phases by these costs from the start
    rememberRates(cfg, ratesFromEstimate(cfg, t.batches, s));
    return {
      forwardPasses: passes,
      secondsPerPass: (s.total - s.setup) / Math.max(1, passes),
      curveSeconds: 0,
      totalSeconds: s.total,
      breakdown: { setupSeconds: s.setup, denseSeconds: s.dense, searchSeconds: s.search, finalSeconds: s.final },
      pilotSeconds,
      provider: target.runner.provider,
      dtype: target.runner.dtype,
      ...(target.runner.plan ? { execution: target.runner.plan } : {}),
    };
  } finally {
    await close();
  }
}

