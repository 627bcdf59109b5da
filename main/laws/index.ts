/** Laws: sparsity–data fits, warm-up, limit vs scale, width-depth, convergence, import (paper Sec. 5). */
import { LabError } from '../api/errors';
import type { SourceFit } from '../charts/source';
import { fitLaw, TOO_FEW_POINTS, type FitOptions, type LawFitResult } from './fit';
import type { LawPoint } from './import';

export { checkFitPoints, fitLaw, MAX_TOKENS, TOO_FEW_POINTS, type FitOptions, type LawFitResult } from './fit';
export { FORMS, LAW_FORMS, formForActivation, type LawForm } from './forms';
export { pointsFromCsv, pointsFromJson, readPointsFile, type LawPoint, type RowError } from './import';
export { fitPiecewise, type PiecewiseFit } from './piecewise';
export { limitVsScale, convergence, type ScalePoint, type ScaleTrend, type ConvergenceSeries } from './scale';

import type { NotFittedSeries, SeriesLawFit } from '../api/domains/laws';
export type { NotFittedSeries, SeriesLawFit };

/** Points grouped by series (unnamed points form the series 'series'), in first-seen order. */
export function groupSeries(points: LawPoint[]): Map<string, LawPoint[]> {
  const g = new Map<string, LawPoint[]>();
  for (const p of points) {
    const k = p.series ?? 'series';
    const list = g.get(k);
    if (list) list.push(p); // push, not a spread copy per point: that was O(n²) (issue 19: 1e6 rows never returned)
    else g.set(k, [p]);
  }
  return g;
}

function one<T>(values: (T | undefined)[], what: string, series: string): T | undefined {
  const set = [...new Set(values.filter((v) => v !== undefined))];
  if (set.length > 1) throw new LabError('BAD_DATA', `series ${series} has ${set.length} different ${what} values (${set.slice(0, 4).join(', ')}): one series is one model`);
  return set[0];
}

/**
 * Fit every series (or only `only`); the form follows each series' activation unless `form` is given. With `notFitted`,
 * a series with too few points (or distinct token counts) for its form is named there and the others are fitted; unless
 * no series could be fitted (its error is then thrown). Without it (laws fitted across series: width-depth, limit vs
 * scale, convergence, which need every series) such a series refuses the request.
 */
export function fitSeries(points: LawPoint[], o: FitOptions & { only?: string[] } = {}, notFitted?: NotFittedSeries[]): SeriesLawFit[] {
  let short: LabError | undefined;
  const out: SeriesLawFit[] = [];
  for (const [series, pts] of groupSeries(points)) {
    if (o.only && o.only.length && !o.only.includes(series)) continue;
    const activation = o.activation ?? one(pts.map((p) => p.activation), 'activation', series);
    const parameters = one(pts.map((p) => p.params), 'params', series);
    const width = one(pts.map((p) => p.width), 'width', series);
    const depth = one(pts.map((p) => p.depth), 'depth', series);
    let fit: LawFitResult;
    try {
      fit = fitLaw(pts, { ...o, activation });
    } catch (e) {
      if (!(e instanceof LabError)) throw e;
      const named = new LabError(e.code, `series ${series}: ${e.message}`, e.details, e.reason);
      if (!notFitted || e.details !== TOO_FEW_POINTS) throw named;
      notFitted.push({ series, points: pts.length, reason: e.message });
      short ??= named;
      continue;
    }
    out.push({ ...fit, series, activation, parameters, widthDepthRatio: width !== undefined && depth !== undefined ? width / depth : undefined });
  }
  if (short && out.length === 0) throw short;
  if (o.only?.length && out.length === 0) throw new LabError('NOT_FOUND', `no series named ${o.only.join(', ')} among the points`);
  return out;
}

/**
 * For main/charts (DataDeps.fitter): a series without a stored fit is fitted here with the Laws page's defaults (form by
 * activation, warm-up detected, 200 bootstraps), so a figure's A₀ is the one the Laws page shows
 * (test/integration/charts-laws-agree.test.ts); the warm-up points are drawn as such.
 */
export function seriesFitter(series: string, points: { D: number; A: number }[], activation?: string): SourceFit | undefined {
  try {
    const f = fitLaw(points.map((p) => ({ tokens: p.D * 1e9, activationRatio: p.A })), { activation, autoWarmup: true });
    return { series, form: f.form, params: f.params, A0: f.A0, A0Low: f.A0Low, A0High: f.A0High, droppedTokens: f.droppedTokens, band: f.band };
  } catch {
    return undefined; // too few points for the form: the chart notes 'no fit'
  }
}
