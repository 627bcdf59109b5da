/**
 * Non-finite weights and losses never become a plain number (issue 19: NaN/Inf weights measured "activation 100%,
 * PPL NaN" with no warning). Two gates around a job's compute:
 *  - before: a checkpoint whose NaN/Inf scan (main/checkpoint/finite.ts, run when it is opened) found any is refused,
 *    naming the tensors: the scan's notice alone never reached the run;
 *  - after: every measured number of the result (perplexities, ratios, activation, CETT) must be finite, or the run
 *    fails naming the field, so a checkpoint too large for the scan, or an overflow in the forward, cannot report NaN.
 */
import { LabError } from '../api/errors';

/** the notice main/checkpoint/hf.ts writes for a tensor holding NaN/Inf values */
const NON_FINITE_NOTICE = /holds \d+ NaN\/Inf values/;

/** Refuses a checkpoint whose opening scan found NaN/Inf weights. */
export function refuseNonFiniteWeights(ckpt: { path: string; notices: readonly string[] }): void {
  const hits = ckpt.notices.filter((n) => NON_FINITE_NOTICE.test(n));
  if (hits.length)
    throw new LabError('BAD_CHECKPOINT', `${ckpt.path}: weights hold NaN/Inf values, so no measurement of it can be a number: ${hits.slice(0, 5).join('; ')}${hits.length > 5 ? `; … and ${hits.length - 5} more tensor(s)` : ''}`);
}

/** measured fields, wherever they sit in a result (a run, a series' checkpoints, a sweep's points, a search history) */
const MEASURED = new Set(['pplDense', 'pplSparse', 'pplRatio', 'pplRatioPooled', 'activationRatio', 'sparsity', 'cett', 'perLayerActivation', 'perCheckpoint']);
/** parts of a result that are settings or records, not measured numbers */
const SKIP = new Set(['options', 'timingsMs', 'execution', 'search', 'searchStats', 'tau']);

/** Paths (`checkpoints[1].pplDense`, `points[0].pplRatio`) of measured fields that are not finite numbers. */
export function nonFiniteFields(result: unknown): string[] {
  const out: string[] = [];
  const visit = (v: unknown, at: string, measured: boolean) => {
    if (out.length >= 20) return;
    if (Array.isArray(v)) v.forEach((x, i) => visit(x, `${at}[${i}]`, measured));
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) if (!SKIP.has(k)) visit(x, at ? `${at}.${k}` : k, MEASURED.has(k));
    } else if (measured && v !== undefined && !(typeof v === 'number' && Number.isFinite(v))) out.push(`${at} = ${String(v)}`); // undefined: an optional field not set
  };
  visit(result, '', false);
  return out;
}

/** Throws when a result carries a non-finite measured number; returns the result otherwise. */
export function checkFiniteResult<T>(result: T, checkpoint: string): T {
  const bad = nonFiniteFields(result);
  if (bad.length)
    throw new LabError(
      'BAD_CHECKPOINT',
      `${checkpoint}: the measurement gave non-finite numbers (${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', …' : ''}): the model's losses or activations are NaN/Inf (weights holding NaN/Inf, or an overflow in the forward pass); no result is reported`,
    );
  return result;
}
