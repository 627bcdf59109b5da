/**
 * Baselines (paper Sec. 4.1) and sweeps (Fig. 2: PPL vs activation ratio; Fig. 15: PPL and
 * activation vs CETT). Every baseline zeroes a_i before down_proj; its "PPL ratio" is the mean over
 * batches of exp(L_sparse − L_dense), as for CETT.
 */
import { LabError } from '../api/errors';
import { paramProblem } from '../api/domains/runs';
import type { ModelSpec } from '../checkpoint/types';
import type { MaskMode } from '../inference/runner-types';
import { baseResult, evaluateAtCett, DEFAULT_CACHE_BYTES } from './cett-ppl';
import { Meter, type RunControl } from './control';
import type { EvalData } from './data';
import { StatsAccumulator } from './stats';
import { PreparedTarget, type MeasureTarget } from './target';
import type { CheckpointResult, MeasureResult, Method, SweepPoint } from './types';
import type { ThresholdMode } from './thresholds';

export type BaselineMethod = Exclude<Method, 'cett-ppl'>;

const RELU_FAMILY = new Set(['relu', 'relu2', 'fatrelu']);

/** The mask for a baseline and its parameter; param = ε for FAT, the fraction of neurons kept for Top-k. */
export function baselineMask(method: BaselineMethod, param: number | undefined, spec: ModelSpec): MaskMode {
  switch (method) {
    case 'relu':
      if (!RELU_FAMILY.has(spec.activation))
        throw new LabError('UNSUPPORTED', `straightforward ReLU sparsity needs a ReLU-family activation; this model uses ${spec.activation} (use cett-ppl, fat or topk)`);
      return { kind: 'relu' };
    case 'fat':
      // the parameter's range: one definition with the run config's check (main/api/domains/runs.ts paramProblem)
      if (param === undefined || paramProblem(method, param)) throw new LabError('BAD_REQUEST', paramProblem(method, param)!);
      return { kind: 'fat', eps: param };
    case 'topk-token':
    case 'topk-batch':
      if (param === undefined || paramProblem(method, param)) throw new LabError('BAD_REQUEST', paramProblem(method, param)!);
      return method === 'topk-token'
        ? { kind: 'topk-token', k: Math.max(1, Math.round(param * spec.intermediateSize)) }
        : { kind: 'topk-batch', fraction: param };
    default:
      throw new LabError('BAD_REQUEST', `unknown method ${String(method)}`);
  }
}

async function denseOnly(target: MeasureTarget, data: EvalData, meter: Meter): Promise<PreparedTarget> {
  meter.enter('dense', data.batches.length);
  // losses only: a zero cache budget keeps no curves (baselines need none)
  const pt = new PreparedTarget(target, data.batches, 'authors', meter, 0);
  for (let b = 0; b < data.batches.length; b++) {
    const bt = data.batches[b];
    const res = await target.runner.forward({ ids: bt.ids, batch: bt.batch, seqLen: bt.seqLen, mode: { kind: 'dense' } });
    meter.pass(bt.batch * bt.seqLen);
    let s = 0;
    for (const x of res.nll) s += x;
    pt.denseLoss[b] = s / res.nll.length;
    meter.step();
  }
  return pt;
}

async function evaluateMask(pt: PreparedTarget, mask: MaskMode, data: EvalData, meter: Meter): Promise<Omit<CheckpointResult, 'method'>> {
  const { spec } = pt;
  const acc = new StatsAccumulator(spec.numLayers, spec.intermediateSize);
  const ratios: number[] = [];
  const losses: number[] = [];
  for (let b = 0; b < pt.batches.length; b++) {
    const { res, loss, ratio } = await pt.sparsePass(b, mask);
    acc.add(res, pt.batches[b].batch, pt.batches[b].seqLen);
    ratios.push(ratio);
    losses.push(loss);
  }
  meter.step();
  return { ...baseResult(pt, data, ratios, losses, acc), thresholds: [], thresholdsPerBatch: [], clampedLow: [], tau: [] };
}

export async function measureBaseline(target: MeasureTarget, data: EvalData, method: BaselineMethod, param: number | undefined, ctl: RunControl = {}): Promise<MeasureResult> {
  const mask = baselineMask(method, param, target.runner.spec); // errors before any compute
  const meter = new Meter(ctl);
  const pt = await denseOnly(target, data, meter);
  meter.enter('sparse', 1);
  const res = await evaluateMask(pt, mask, data, meter);
  meter.closePhase();
  return {
    ...res,
    method,
    param,
    forwardPasses: meter.forwardPasses,
    timingsMs: { ...meter.phaseMs, total: meter.totalMs() },
    options: { method, param, mask, tokens: data.tokens, seqLen: data.seqLen, batch: data.batch, bosPerSequence: data.bosPerSequence, data: data.file },
  };
}

/** A baseline's parameter over a range → (activation ratio, PPL ratio) points (Fig. 2). One dense pass. */
export async function sweepBaseline(target: MeasureTarget, data: EvalData, method: BaselineMethod, params: number[], ctl: RunControl = {}): Promise<SweepPoint[]> {
  const masks = params.map((p) => baselineMask(method, p, target.runner.spec));
  const meter = new Meter(ctl);
  const pt = await denseOnly(target, data, meter);
  meter.enter('sweep', masks.length);
  const out: SweepPoint[] = [];
  for (let i = 0; i < masks.length; i++) {
    const r = await evaluateMask(pt, masks[i], data, meter);
    out.push({ param: params[i], pplRatio: r.pplRatio, pplSparse: r.pplSparse, activationRatio: r.activationRatio });
  }
  return out;
}

/** CETT over a range → PPL and activation vs CETT (Fig. 15). One dense pass and one curve build per batch. */
export async function sweepCett(target: MeasureTarget, data: EvalData, cetts: number[], mode: ThresholdMode = 'authors', ctl: RunControl = {}): Promise<SweepPoint[]> {
  for (const c of cetts) if (!(c >= 0 && c <= 1)) throw new LabError('BAD_REQUEST', `CETT values must lie in [0, 1] (got ${c})`);
  const meter = new Meter(ctl);
  meter.enter('dense', data.batches.length);
  const pt = new PreparedTarget(target, data.batches, mode, meter, DEFAULT_CACHE_BYTES);
  await pt.prepare();
  meter.enter('sweep', cetts.length);
  const out: SweepPoint[] = [];
  try {
    for (const c of cetts) {
      const r = await evaluateAtCett(pt, c, data);
      out.push({ param: c, pplRatio: r.pplRatio, pplSparse: r.pplSparse, activationRatio: r.activationRatio });
      meter.step(`CETT ${c}`);
    }
  } finally {
    await pt.dispose();
  }
  return out;
}
