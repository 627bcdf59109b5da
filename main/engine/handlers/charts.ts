/**
 * The 'charts' domain: chart configs for the UI and file export, both through main/charts (one styling
 * path). A chart reads either the session file named in the request or the engine's open session.
 */
import type { HandlerMap } from '../engine';
import type { EngineContext } from '../context';
import { LabError } from '../../api/errors';
import { CHART_KINDS, chartOptionsSchema, type ChartOptions } from '../../api/domains/charts';
import { openChartSource } from '../../charts/open';
import { plotData, KIND_INFO, type DataDeps } from '../../charts/data';
import { buildChartConfig } from '../../charts/spec';
import { exportChart } from '../../charts/export';
import type { ChartSource } from '../../charts/source';

/**
 * The session store puts a function under this service key that returns a ChartSource over the session
 * open in this engine (undefined when none is open); `dataDeps` under CHART_DEPS_SERVICE (a fitter).
 */
export const OPEN_SESSION_SOURCE_SERVICE = 'charts.openSessionSource';
export const CHART_DEPS_SERVICE = 'charts.deps';

function withSource<T>(ctx: EngineContext, sessionPath: string | undefined, fn: (src: ChartSource) => T): T {
  if (sessionPath) {
    const src = openChartSource(sessionPath);
    try {
      return fn(src);
    } finally {
      src.close?.();
    }
  }
  const open = ctx.services.get(OPEN_SESSION_SOURCE_SERVICE) as (() => ChartSource | undefined) | undefined;
  const src = open?.();
  if (!src) throw new LabError('BAD_REQUEST', 'no session is open: open one, or pass sessionPath');
  return fn(src);
}

const deps = (ctx: EngineContext) => (ctx.services.get(CHART_DEPS_SERVICE) as DataDeps | undefined) ?? {};

export const chartsHandlers: HandlerMap = {
  'charts.kinds': () => CHART_KINDS.map((kind) => ({ kind, ...KIND_INFO[kind] })),
  'charts.config': (req, ctx) =>
    withSource(ctx, req.sessionPath, (src) => {
      const options: ChartOptions = req.options ?? {};
      const plot = plotData(req.kind, src, options, deps(ctx));
      return { plot, ...buildChartConfig(plot, options), options };
    }),
  'charts.export': async (req, ctx) => {
    // the source must stay open until the export finishes (it is async)
    const src = req.sessionPath ? openChartSource(req.sessionPath) : (ctx.services.get(OPEN_SESSION_SOURCE_SERVICE) as (() => ChartSource | undefined) | undefined)?.();
    if (!src) throw new LabError('BAD_REQUEST', 'no session is open: open one, or pass sessionPath');
    try {
      return await exportChart(src, { ...req, options: req.options }, deps(ctx));
    } finally {
      if (req.sessionPath) src.close?.();
    }
  },
  'charts.settings.get': (req, ctx) =>
    withSource(ctx, req.sessionPath, (src) => {
      const raw = src.chartSettings?.(req.kind);
      if (raw === undefined || raw === null) return { options: null };
      // settings in a session file are outside input: ignore (not crash on) a damaged entry
      const parsed = chartOptionsSchema.safeParse(raw);
      if (!parsed.success) ctx.log.warn(`saved settings of chart ${req.kind} are not valid and were ignored`);
      return { options: parsed.success ? parsed.data : null };
    }),
  'charts.settings.save': (req, ctx) =>
    withSource(ctx, req.sessionPath, (src) => {
      if (!src.saveChartSettings) throw new LabError('UNSUPPORTED', `${src.name}: this session cannot store chart settings`);
      src.saveChartSettings(req.kind, req.options);
      return { saved: true as const };
    }),
};
