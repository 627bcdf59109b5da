/**
 * The 'laws' domain's requests as pure functions of the request (main/engine/handlers/laws.ts runs them on the engine's
 * thread for small inputs, or in the laws worker, off-thread.ts, for large ones: both give the same answer).
 */
import path from 'node:path';
import { LabError } from '../api/errors';
import type { ParsedRequestOf, ResponseOf } from '../api/contract';
import { convergence, fitPiecewise, fitSeries, groupSeries, limitVsScale, readPointsFile, type FitOptions, type NotFittedSeries } from './index';

export type LawsCommand = 'laws.fit' | 'laws.importPoints' | 'laws.widthDepth' | 'laws.limitVsScale' | 'laws.convergence';

type Req = FitOptions & { series?: string[] };
const opts = (r: Req): FitOptions & { only?: string[] } => ({
  form: r.form,
  activation: r.activation,
  dropFirst: r.dropFirst,
  autoWarmup: r.autoWarmup,
  bootstrap: r.bootstrap,
  seed: r.seed,
  level: r.level,
  curvePoints: r.curvePoints,
  only: r.series,
});

export const lawsRequests: { [N in LawsCommand]: (req: ParsedRequestOf<N>) => ResponseOf<N> } = {
  'laws.fit': (req) => {
    const notFitted: NotFittedSeries[] = [];
    const fits = fitSeries(req.points, opts(req), notFitted);
    return { fits, ...(notFitted.length ? { notFitted } : {}) };
  },
  'laws.importPoints': (req) => {
    const file = path.resolve(req.path);
    const points = readPointsFile(file);
    const series = [...groupSeries(points)].map(([name, pts]) => ({
      name,
      n: pts.length,
      activation: pts.find((p) => p.activation)?.activation,
      params: pts.find((p) => p.params)?.params,
      widthDepthRatio: pts.find((p) => p.width && p.depth) ? pts.find((p) => p.width && p.depth)!.width! / pts.find((p) => p.width && p.depth)!.depth! : undefined,
    }));
    return { file, points, series };
  },
  'laws.widthDepth': (req) => {
    let limits = req.limits;
    let fits;
    if (req.points) {
      fits = fitSeries(req.points, opts(req));
      const noShape = fits.filter((f) => f.widthDepthRatio === undefined).map((f) => f.series);
      if (noShape.length) throw new LabError('BAD_DATA', `series ${noShape.join(', ')} lack width and depth columns (needed for d_h/L)`);
      limits = fits.map((f) => ({ series: f.series, ratio: f.widthDepthRatio!, A0: f.A0, A0Low: f.A0Low, A0High: f.A0High }));
    }
    const fit = fitPiecewise(limits!.map((l) => ({ x: l.ratio, y: l.A0 })), { bootstrap: req.bootstrap, seed: req.seed, level: req.level, curvePoints: req.curvePoints });
    return { limits: limits!, fit, fits };
  },
  'laws.limitVsScale': (req) => {
    if (req.limits) return limitVsScale(req.limits);
    const fits = fitSeries(req.points!, opts(req));
    const noParams = fits.filter((f) => f.parameters === undefined).map((f) => f.series);
    if (noParams.length) throw new LabError('BAD_DATA', `series ${noParams.join(', ')} lack a params column (parameter count)`);
    return { ...limitVsScale(fits.map((f) => ({ series: f.series, params: f.parameters!, A0: f.A0, A0Low: f.A0Low, A0High: f.A0High, activation: f.activation }))), fits };
  },
  'laws.convergence': (req) => {
    const r = req.ratios ?? { from: 20, to: 100, steps: 81 };
    if (r.to <= r.from) throw new LabError('BAD_REQUEST', `ratios.to (${r.to}) must exceed ratios.from (${r.from})`);
    const ratios = Array.from({ length: r.steps }, (_, i) => r.from + ((r.to - r.from) * i) / (r.steps - 1));
    if (req.fits) return { series: convergence(req.fits, ratios) };
    const fits = fitSeries(req.points!, opts(req));
    const noParams = fits.filter((f) => f.parameters === undefined).map((f) => f.series);
    if (noParams.length) throw new LabError('BAD_DATA', `series ${noParams.join(', ')} lack a params column (parameter count)`);
    return { series: convergence(fits.map((f) => ({ series: f.series, form: f.form, params: f.params, A0: f.A0, parameters: f.parameters! })), ratios), fits };
  },
};

export function runLawsRequest<N extends LawsCommand>(name: N, req: ParsedRequestOf<N>): ResponseOf<N> {
  return (lawsRequests[name] as (r: ParsedRequestOf<N>) => ResponseOf<N>)(req);
}
