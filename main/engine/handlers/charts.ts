/**
 * The 'charts' domain: chart configs for the UI and file export, both through main/charts (one styling
 * path). A chart reads the engine's open session, or the session file (or chart snapshot JSON) named in
 * the request.
 */
import path from 'node:path';
import type { HandlerMap } from '../engine';
import type { EngineContext } from '../context';
import { LabError } from '../../api/errors';
import { CHART_KINDS, chartOptionsSchema, type ChartOptions } from '../../api/domains/charts';
import { openChartSource } from '../../charts/open';
import { plotData, seriesLines, KIND_INFO, type DataDeps } from '../../charts/data';
import { buildChartConfig } from '../../charts/spec';
import { exportChart } from '../../charts/export';
import type { ChartSource, SourceWidthDepthFit } from '../../charts/source';
import { sessionChartSource } from '../../store/index';
import { currentSession } from './sessions';
import { writableOut } from './output';
import { seriesFitter, fitPiecewise } from '../../laws/index';

/** A test may put other `DataDeps` (a fitter for series without a stored fit) under this key. */
export const CHART_DEPS_SERVICE = 'charts.deps';

/**
 * The chart source for a request: the session open in this engine when no path is given or the path is
 * that session's file (same connection, sees unsaved-by-nobody writes at once), else the named file.
 * `owned` sources are closed after the call.
 */
function sourceFor(ctx: EngineContext, sessionPath: string | undefined, write: boolean): { src: ChartSource; owned: boolean } {
  const open = currentSession(ctx);
  if (open && (!sessionPath || path.resolve(sessionPath) === open.file)) return { src: sessionChartSource(open, false), owned: false };
  if (!sessionPath) throw new LabError('BAD_REQUEST', 'no session is open: open one, or pass sessionPath');
  return { src: openChartSource(sessionPath, { write }), owned: true };
}

/** `write`: only saving settings opens a named file for writing; reading and exporting never change it (issue 19) */
async function withSource<T>(ctx: EngineContext, sessionPath: string | undefined, fn: (src: ChartSource) => T | Promise<T>, write = false): Promise<T> {
  const { src, owned } = sourceFor(ctx, sessionPath, write);
  try {
    return await fn(src);
  } finally {
    if (owned) src.close?.();
  }
}

/** Series without a stored fit are fitted by the laws module (same code as `laws.*`), unless a test swaps it. */
const deps = (ctx: EngineContext): DataDeps => (ctx.services.get(CHART_DEPS_SERVICE) as DataDeps | undefined) ?? { fitter: seriesFitter, widthDepthFitter };

function widthDepthFitter(points: { x: number; y: number }[]): SourceWidthDepthFit | undefined {
  try {
    const f = fitPiecewise(points);
    return { slope: f.slope, intercept: f.intercept, bottleneck: f.bottleneck, bottleneckLow: f.bottleneckLow, bottleneckHigh: f.bottleneckHigh };
  } catch {
    return undefined; // too few or degenerate points: the chart notes that no fit is stored
  }
}

export const chartsHandlers: HandlerMap = {
  'charts.kinds': () => CHART_KINDS.map((kind) => ({ kind, ...KIND_INFO[kind] })),
  'charts.config': (req, ctx) =>
    withSource(ctx, req.sessionPath, (src) => {
      const options: ChartOptions = req.options ?? {};
      const plot = plotData(req.kind, src, options, deps(ctx));
      return { plot, ...buildChartConfig(plot, options), options };
    }),
  'charts.export': (req, ctx) => withSource(ctx, req.sessionPath, (src) => exportChart(src, req.out === undefined ? req : { ...req, out: writableOut(req.out, req.format, req.overwrite) }, deps(ctx))),
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
    }, true),
  'charts.seriesPoints': (req, ctx) => withSource(ctx, req.sessionPath, (src) => seriesLines(src, { ...(req.run ? { run: req.run } : {}), ...(req.series ? { series: req.series } : {}) })),
};
