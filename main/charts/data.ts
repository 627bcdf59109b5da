/**
 * Chart data: what each chart kind plots, read from a session (ChartSource) in plotted units
 * (ratios in %, tokens in billions). Pure: no DOM, no files. A kind the session has no data for throws a
 * LabError('NOT_FOUND') that says what is missing.
 */
import { LabError } from '../api/errors';
import type { ChartKind, ChartOptions, PlotData, PlotPoint, PlotSeries, SeriesPointsLine } from '../api/domains/charts';
import type { ChartSource, SourceCheckpoint, SourceFit, SourceRun, SourceWidthDepthFit } from './source';
import { evalFit, fitDerivative, sampleRange } from './curves';
import { methodFamily, runMethodText } from '../../common/run-label';

/** Fits a series when the session has no stored fit (main/laws); points: D in billions, A a fraction. */
export type SeriesFitter = (series: string, points: { D: number; A: number }[], activation?: string) => SourceFit | undefined;

export interface DataDeps {
  fitter?: SeriesFitter;
  /** piecewise-linear fit of A0 (fraction) against d_h/L when the session stores none (main/laws) */
  widthDepthFitter?: (points: { x: number; y: number }[]) => SourceWidthDepthFit | undefined;
}

const FAILED = new Set(['failed', 'error', 'cancelled', 'canceled', 'running', 'queued', 'pending']);
const usable = (r: SourceRun) => !FAILED.has(r.status.toLowerCase());
const pct = (x: number) => x * 100;
const B = 1e9;

/** checkpoint · method as the runs table names it (common/run-label.ts) · run id */
function runLabel(r: SourceRun, c?: SourceCheckpoint): string {
  // a p% target no CETT met is said wherever the run is named (tooltips, captions, legends), never shown as met
  return `${c?.name ?? r.checkpointId} · ${runMethodText(r)}${r.targetNotMet ? ' (target not met)' : ''} · run ${r.id}`;
}

class Ctx {
  readonly ckpts: Map<string, SourceCheckpoint>;
  readonly runs: SourceRun[];
  constructor(
    readonly src: ChartSource,
    readonly opts: ChartOptions,
    readonly deps: DataDeps,
  ) {
    this.ckpts = new Map(src.checkpoints().map((c) => [c.id, c]));
    this.runs = src.runs().filter(usable);
  }
  /** the runs whose numbers the chart shows (for titles and export metadata) */
  readonly used = new Map<string, SourceRun>();
  /** a run's label (checkpoint · method p · run id); the run is recorded as shown */
  runLabel(r: SourceRun, c: SourceCheckpoint | undefined = this.ckpts.get(r.checkpointId)): string {
    this.used.set(r.id, r);
    return runLabel(r, c);
  }
  /** the user's series pick matches a series name, checkpoint id/name or run id */
  /** what the user may pick for this chart (the first id of every candidate seen) */
  readonly choices = new Set<string>();
  picked(...ids: (string | undefined)[]): boolean {
    const first = ids.find((id) => id !== undefined);
    if (first !== undefined) this.choices.add(first);
    const s = this.opts.series;
    return !s || s.length === 0 || ids.some((id) => id !== undefined && s.includes(id));
  }
  /** checkpoints grouped by training series, in order of tokens trained */
  seriesGroups(): Map<string, SourceCheckpoint[]> {
    const g = new Map<string, SourceCheckpoint[]>();
    for (const c of this.ckpts.values()) {
      if (!c.series || !this.picked(c.series)) continue;
      g.set(c.series, [...(g.get(c.series) ?? []), c]);
    }
    for (const list of g.values()) list.sort((a, b) => (a.tokensTrained ?? 0) - (b.tokensTrained ?? 0));
    return g;
  }
  /** measured checkpoints left off a tokens axis because their tokens trained are unknown (said in the chart's notes) */
  readonly tokensUnknown: string[] = [];
  /** labels of runs named in the metadata other than by their checkpoint (a measure-series run names its series) */
  readonly usedLabels = new Map<string, string>();
  /** per series: which measurement its line is made of (said in the chart's notes) */
  readonly lineNotes: string[] = [];
  /**
   * The ONE measurement a series line is made of (paper Sec. 5.1, Fig. 4: one CETT applied to every checkpoint):
   * the points of one measure-series run (the one the explicit `run` names, else the latest), never mixed with
   * single runs on its checkpoints; a series without a measure-series run: the runs of one method, p/CETT and token
   * budget (the explicit run's, else CETT-PPL-p% before fixed CETT, the one that measured the most checkpoints, then the
   * latest), the latest of them per checkpoint. A run whose p% target was not met never stands for its checkpoint.
   */
  seriesLine(series: string, ckpts: SourceCheckpoint[]): Map<string, SourceRun> {
    const ids = new Set(ckpts.map((c) => c.id));
    const order = new Map(this.runs.map((r, i) => [r.id, i]));
    const later = (a: SourceRun, b: SourceRun) => (a.createdAt && b.createdAt && a.createdAt !== b.createdAt ? a.createdAt > b.createdAt : order.get(a.id)! > order.get(b.id)!);
    const cand = this.runs.filter((r) => ids.has(r.checkpointId) && r.activationRatio !== undefined && !r.targetNotMet);
    const groups = new Map<string, SourceRun[]>();
    for (const r of cand) {
      const key = r.seriesRun !== undefined ? `series ${r.seriesRun}` : r.method === 'cett-ppl' ? `cett-ppl|${r.p}|${r.tokens}` : r.method === 'cett' ? `cett|${r.cett}|${r.tokens}` : undefined;
      if (key) groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    const latestOf = (rs: SourceRun[]) => rs.reduce((a, b) => (later(b, a) ? b : a));
    const parent = (rs: SourceRun[]) => (rs[0].seriesRun !== undefined ? this.src.runs().find((q) => q.id === rs[0].seriesRun) : undefined);
    const when = (rs: SourceRun[]) => parent(rs) ?? latestOf(rs);
    const keyOf = (id: string) => [...groups].find(([k, rs]) => k === `series ${id}` || rs.some((r) => r.id === id))?.[0];
    const explicit = this.opts.run ? keyOf(this.opts.run) : undefined;
    const series_ = [...groups].filter(([k]) => k.startsWith('series '));
    const rank = (k: string) => (k.startsWith('cett-ppl') ? 1 : 0);
    let chosen: [string, SourceRun[]] | undefined = explicit ? [explicit, groups.get(explicit)!] : undefined;
    if (!chosen && series_.length) chosen = series_.reduce((a, b) => (later(when(b[1]), when(a[1])) ? b : a));
    if (!chosen)
      chosen = [...groups].reduce<[string, SourceRun[]] | undefined>((a, b) => {
        if (!a) return b;
        const cov = (rs: SourceRun[]) => new Set(rs.map((r) => r.checkpointId)).size;
        const d = rank(b[0]) - rank(a[0]) || cov(b[1]) - cov(a[1]);
        return d > 0 || (d === 0 && later(latestOf(b[1]), latestOf(a[1]))) ? b : a;
      }, undefined);
    const out = new Map<string, SourceRun>();
    if (!chosen) return out;
    for (const r of chosen[1]) if (!out.has(r.checkpointId) || later(r, out.get(r.checkpointId)!)) out.set(r.checkpointId, r);
    const left = cand.filter((r) => ![...out.values()].includes(r)).length;
    const what = (r: SourceRun) => `${runMethodText(r)}${r.method === 'cett-ppl' && r.p !== undefined && r.cett !== undefined ? ` (CETT ${+r.cett.toPrecision(4)})` : ''}${r.tokens !== undefined ? `, ${r.tokens} tokens` : ''}`;
    const par = parent(chosen[1]);
    if (par) {
      this.usedLabels.set(par.id, `series ${series} · measure-series ${what({ ...par, method: 'cett-ppl', tokens: par.tokens ?? chosen[1][0].tokens })} · run ${par.id}`);
      this.used.set(par.id, par);
    }
    const sample = [...out.values()][0];
    this.lineNotes.push(
      `${series}: ${par ? `measure-series run ${par.id}` : `runs of one measurement (${what(sample)})`}${left ? `; ${left} other run(s) on its checkpoints not plotted` : ''}`,
    );
    return out;
  }
  seriesFits(): { series: string; ckpts: SourceCheckpoint[]; pts: { D: number; A: number; run: SourceRun; c: SourceCheckpoint }[]; fit?: SourceFit; activation?: string }[] {
    const stored = this.src.fits();
    const out = [];
    for (const [series, ckpts] of this.seriesGroups()) {
      const pts = [];
      const line = this.seriesLine(series, ckpts);
      for (const c of ckpts) {
        const run = line.get(c.id);
        if (run && c.tokensTrained !== undefined && c.tokensTrained > 0) pts.push({ D: c.tokensTrained / B, A: run.activationRatio!, run, c });
        else if (run && !this.tokensUnknown.includes(c.name)) this.tokensUnknown.push(c.name);
      }
      const activation = ckpts.find((c) => c.activation)?.activation;
      let fit = stored.filter((f) => f.series === series).at(-1);
      if (!fit && pts.length >= 3 && this.deps.fitter) fit = this.deps.fitter(series, pts.map(({ D, A }) => ({ D, A })), activation);
      out.push({ series, ckpts, pts, fit, activation });
    }
    return out;
  }
}

function missing(what: string): never {
  throw new LabError('NOT_FOUND', what);
}

/** checkpoint · method p (no run id): what a legend entry or title says of a run */
function shortRunLabel(r: SourceRun, c?: SourceCheckpoint): string {
  return runLabel(r, c).replace(/ · run .*/, '');
}

/**
 * The run the user asked for (options.run), checked: in this session, completed, and holding what the chart plots.
 * undefined when none was asked for. Unlike a default pick, an explicit run is never silently replaced by another.
 */
function explicitRun(x: Ctx, has: (r: SourceRun) => boolean, what: string): SourceRun | undefined {
  const id = x.opts.run;
  if (!id) return undefined;
  const r = x.src.runs().find((q) => q.id === id);
  if (!r) throw new LabError('NOT_FOUND', `run ${id} is not in this session`);
  if (!usable(r)) throw new LabError('NOT_FOUND', `run ${id} has not completed (status ${r.status})`);
  if (!has(r)) throw new LabError('NOT_FOUND', `run ${id} (${shortRunLabel(r, x.ckpts.get(r.checkpointId))}) has no ${what}`);
  return r;
}

/** the runs a run picker offers for a chart: every completed run with the data it plots */
function runChoices(x: Ctx, has: (r: SourceRun) => boolean, d: PlotData, runDefault: string): void {
  d.runChoices = x.runs.filter(has).map((r) => ({ id: r.id, label: runLabel(r, x.ckpts.get(r.checkpointId)) }));
  d.runDefault = runDefault;
}

function base(kind: ChartKind, o: ChartOptions, p: Omit<PlotData, 'kind' | 'xScale' | 'yScale' | 'notes' | 'series'> & { xScale?: 'linear' | 'log'; yScale?: 'linear' | 'log' }): PlotData {
  return { kind, ...p, title: o.title ?? p.title, xScale: o.xScale ?? p.xScale ?? 'linear', yScale: o.yScale ?? p.yScale ?? 'linear', series: [], notes: [] };
}

/**
 * The run picker of the series lines: a measure-series run (its id stands for all its points) or a single run (its
 * method, p/CETT and token budget make the line); an explicit run that is not in the session, not completed or not
 * such a run is an error.
 */
function seriesRunChoices(x: Ctx): { id: string; label: string }[] {
  const parents = new Set(x.runs.map((r) => r.seriesRun).filter((id) => id !== undefined));
  const inSeries = (r: SourceRun) => !!x.ckpts.get(r.checkpointId)?.series;
  const has = (r: SourceRun) => parents.has(r.id) || (inSeries(r) && r.activationRatio !== undefined && (r.seriesRun !== undefined || r.method === 'cett-ppl' || r.method === 'cett'));
  const choices = x.runs
    .filter((r) => has(r) && (parents.has(r.id) || r.seriesRun === undefined))
    .map((r) => ({ id: r.id, label: parents.has(r.id) ? `series ${x.ckpts.get(r.checkpointId)?.series} · measure-series · run ${r.id}` : runLabel(r, x.ckpts.get(r.checkpointId)) }));
  explicitRun(x, has, 'activation ratio of a training series checkpoint');
  return choices;
}

/**
 * The points of every series line exactly as the activation-vs-tokens chart selects them (Ctx.seriesLine: one
 * measurement per line), with the stored numbers unconverted: what the Laws page fits. `opts.run` picks the
 * measurement as in the chart; `opts.series` limits the series.
 */
export function seriesLines(src: ChartSource, opts: Pick<ChartOptions, 'run' | 'series'> = {}): { lines: SeriesPointsLine[]; runChoices: { id: string; label: string }[]; tokensUnknown: string[] } {
  const x = new Ctx(src, opts, {});
  const runChoices = seriesRunChoices(x);
  const lines = x
    .seriesFits()
    .filter((s) => s.pts.length > 0)
    .map((s) => {
      const note = x.lineNotes.find((n) => n.startsWith(`${s.series}: `)) ?? '';
      const parent = s.pts[0].run.seriesRun;
      return {
        series: s.series,
        ...(s.activation ? { activation: s.activation } : {}),
        note,
        ...(parent !== undefined ? { seriesRun: parent } : {}),
        points: s.pts.map((p) => ({ tokens: p.c.tokensTrained!, activationRatio: p.run.activationRatio!, run: p.run.id, checkpoint: p.c.name, label: runLabel(p.run, p.c) })),
      };
    });
  return { lines, runChoices, tokensUnknown: x.tokensUnknown };
}

function activationVsTokens(x: Ctx, o: ChartOptions): PlotData {
  const d = base('activation-vs-tokens', o, { title: 'Activation ratio vs training tokens', xLabel: 'Tokens trained (B)', yLabel: 'Activation ratio (%)' });
  d.xMagnitude = B;
  d.runChoices = seriesRunChoices(x);
  d.runDefault = 'latest measurement per series';
  const all = x.seriesFits().filter((s) => s.pts.length >= 3);
  if (x.tokensUnknown.length) d.notes.push(`tokens trained unknown, not plotted: ${x.tokensUnknown.join(', ')} (give them when loading the checkpoint)`);
  if (all.length === 0) missing('no training series with ≥ 3 measured checkpoints in this session (checkpoints need a series name, tokens trained and a completed CETT-PPL-p% or CETT run)');
  all.forEach((s, g) => {
    const label = s.activation ? `${s.series} (${s.activation})` : s.series;
    const dropped = new Set((s.fit?.droppedTokens ?? []).map((t) => Math.round(t)));
    const isDropped = (c: SourceCheckpoint) => dropped.has(Math.round(c.tokensTrained ?? -1));
    const pt = (p: (typeof s.pts)[number]): PlotPoint => ({ x: p.D, y: pct(p.A), run: x.runLabel(p.run, p.c) });
    d.series.push({ id: s.series, label, role: 'measured', group: g, points: s.pts.filter((p) => !isDropped(p.c)).map(pt) });
    const dr = s.pts.filter((p) => isDropped(p.c));
    if (dr.length) d.series.push({ id: `${s.series}:dropped`, label: `${label}, warm-up (not fitted)`, role: 'dropped', group: g, points: dr.map(pt) });
    if (!s.fit) return void d.notes.push(`no fit stored or computed for series ${s.series}`);
    const fit = s.fit;
    const Ds = sampleRange(s.pts[0].D, s.pts.at(-1)!.D, 100, d.xScale === 'log');
    const ys = Ds.map((D) => evalFit(fit, D));
    if (ys.some((y) => y === undefined)) return void d.notes.push(`fit form '${fit.form}' of series ${s.series} cannot be drawn`);
    d.series.push({ id: `${s.series}:fit`, label: `${s.series} fit (A₀ = ${(100 * fit.A0).toFixed(2)}%)`, role: 'fit', group: g, points: Ds.map((D, i) => ({ x: D, y: pct(ys[i]!) })) });
    if (fit.band && fit.band.x.length === fit.band.lo.length && fit.band.x.length === fit.band.hi.length) {
      const b = fit.band;
      d.series.push({ id: `${s.series}:lo`, label: `${s.series} fit, lower 95%`, role: 'band-low', group: g, points: b.x.map((X, i) => ({ x: X, y: pct(b.lo[i]) })) });
      d.series.push({ id: `${s.series}:hi`, label: `${s.series} fit, upper 95%`, role: 'band-high', group: g, points: b.x.map((X, i) => ({ x: X, y: pct(b.hi[i]) })) });
    }
  });
  return d;
}

/** error bar segments as one line series broken by nulls: (x, lo) – (x, hi), gap, … */
function errorBars(id: string, label: string, g: number, bars: { x: number; lo?: number; hi?: number }[]): PlotSeries | undefined {
  const pts: PlotPoint[] = [];
  for (const b of bars) if (b.lo !== undefined && b.hi !== undefined) pts.push({ x: b.x, y: b.lo }, { x: b.x, y: b.hi }, { x: b.x, y: null });
  return pts.length ? { id, label, role: 'errorbar', group: g, points: pts } : undefined;
}

function limitPoints(x: Ctx, need: (c: SourceCheckpoint) => number | undefined) {
  return x
    .seriesFits()
    .filter((s) => s.fit)
    .map((s) => ({ s, v: need(s.ckpts.at(-1)!) }))
    .filter((e): e is typeof e & { v: number } => e.v !== undefined && Number.isFinite(e.v));
}

function byActivation<T extends { s: { activation?: string } }>(items: T[]): [string, T[]][] {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = it.s.activation ? it.s.activation.replace(/^./, (ch) => ch.toUpperCase()).replace(/^Relu/, 'ReLU').replace(/^Silu/, 'SiLU') : 'all';
    m.set(k, [...(m.get(k) ?? []), it]);
  }
  return [...m];
}

function limitVsParams(x: Ctx, o: ChartOptions): PlotData {
  const d = base('limit-vs-params', o, { title: 'Limit activation ratio vs parameters', xLabel: 'Non-embedding parameters (B)', yLabel: 'Limit activation ratio A₀ (%)' });
  d.xMagnitude = B;
  const items = limitPoints(x, (c) => (c.nonEmbeddingParams ?? c.params) && (c.nonEmbeddingParams ?? c.params)! / B);
  if (items.length < 2) missing('needs ≥ 2 training series with a fit and a parameter count (a limit activation ratio A₀ per model size); this session has ' + items.length);
  if (!items.every((e) => e.s.ckpts.at(-1)!.nonEmbeddingParams)) d.xLabel = 'Parameters (B)';
  byActivation(items).forEach(([act, list], g) => {
    list.sort((a, b) => a.v - b.v);
    d.series.push({ id: act, label: act, role: 'measured', group: g, points: list.map((e) => ({ x: e.v, y: pct(e.s.fit!.A0), run: `series ${e.s.series}` })) });
    const eb = errorBars(`${act}:ci`, `${act} 95% CI`, g, list.map((e) => ({ x: e.v, lo: e.s.fit!.A0Low && pct(e.s.fit!.A0Low), hi: e.s.fit!.A0High && pct(e.s.fit!.A0High) })));
    if (eb) d.series.push(eb);
  });
  return d;
}

function limitVsWidthDepth(x: Ctx, o: ChartOptions): PlotData {
  const d = base('limit-vs-width-depth', o, { title: 'Limit activation ratio vs width-depth ratio', xLabel: 'Width-depth ratio d_h / L', yLabel: 'Limit activation ratio A₀ (%)' });
  const items = limitPoints(x, (c) => (c.hiddenSize && c.numLayers ? c.hiddenSize / c.numLayers : undefined));
  if (new Set(items.map((e) => e.v)).size < 2) return widthDepthFromFinals(x, d);
  byActivation(items).forEach(([act, list], g) => {
    list.sort((a, b) => a.v - b.v);
    d.series.push({ id: act, label: act === 'all' ? 'A₀' : act, role: 'measured', group: g, points: list.map((e) => ({ x: e.v, y: pct(e.s.fit!.A0), run: `series ${e.s.series}` })) });
    const eb = errorBars(`${act}:ci`, `${act} 95% CI`, g, list.map((e) => ({ x: e.v, lo: e.s.fit!.A0Low && pct(e.s.fit!.A0Low), hi: e.s.fit!.A0High && pct(e.s.fit!.A0High) })));
    if (eb) d.series.push(eb);
  });
  // one activation family only: the bottleneck law is fitted per family (paper Sec. 5.2, Fig. 5 is ReLU)
  const fams = byActivation(items);
  const wd = x.src.widthDepthFit?.() ?? (fams.length === 1 ? x.deps.widthDepthFitter?.(items.map((e) => ({ x: e.v, y: e.s.fit!.A0 }))) : undefined);
  if (wd) {
    const xs = items.map((e) => e.v);
    const lo = Math.min(...xs);
    const hi = Math.max(...xs);
    const f = (r: number) => pct(wd.slope * Math.min(r, wd.bottleneck) + wd.intercept);
    const grid = [...new Set([lo, Math.max(lo, Math.min(hi, wd.bottleneck)), hi])].sort((a, b) => a - b);
    d.series.push({ id: 'piecewise', label: `piecewise fit (bottleneck ${wd.bottleneck.toFixed(0)})`, role: 'fit', group: 0, points: grid.map((r) => ({ x: r, y: f(r) })) });
    d.vlines = [{ x: wd.bottleneck, label: 'bottleneck', lo: wd.bottleneckLow, hi: wd.bottleneckHigh }];
  } else d.notes.push('no width-depth fit stored in this session');
  return d;
}

/**
 * Fallback when the shapes were measured as single (final) checkpoints, not as fitted series: plot each
 * checkpoint's CETT-PPL-p% activation ratio against d_h/L, said plainly in the axis label and notes (A₀ is not
 * estimated from one checkpoint).
 */
function widthDepthFromFinals(x: Ctx, d: PlotData): PlotData {
  const cks = new Map(x.src.checkpoints().map((c) => [c.id, c]));
  const pts: { s: { activation?: string }; v: number; a: number; run: string }[] = [];
  for (const r of x.src.runs()) {
    if (r.method !== 'cett-ppl' || r.status !== 'done' || r.activationRatio === undefined) continue;
    const c = cks.get(r.checkpointId);
    if (!c || c.series || !c.hiddenSize || !c.numLayers) continue;
    x.used.set(r.id, r);
    pts.push({ s: { activation: c.activation }, v: c.hiddenSize / c.numLayers, a: r.activationRatio, run: `${c.name} (${r.id})` });
  }
  if (new Set(pts.map((e) => e.v)).size < 2)
    missing('needs ≥ 2 training series with a fit, or ≥ 2 single checkpoints measured with CETT-PPL-p%, with different width-depth ratios (hidden size and layer count of their checkpoints)');
  // short enough for the single-column figure's height (it said 'Activation ratio of the final checkpoint (%)', which ran
  // past the plot's top into the legend); the legend and the note say these are final checkpoints, not limits
  d.yLabel = 'Activation ratio (%)';
  d.notes.push('single checkpoints, not fitted series: each point is the measured activation ratio, not a limit A₀');
  const fams = byActivation(pts);
  fams.forEach(([act, list], g) => {
    list.sort((p, q) => p.v - q.v);
    d.series.push({ id: act, label: act === 'all' ? 'final checkpoint' : `${act} · final checkpoint`, role: 'measured', group: g, points: list.map((e) => ({ x: e.v, y: pct(e.a), run: e.run })) });
  });
  const wd = fams.length === 1 ? x.deps.widthDepthFitter?.(pts.map((e) => ({ x: e.v, y: e.a }))) : undefined;
  if (wd) {
    const xs = pts.map((e) => e.v);
    const lo = Math.min(...xs);
    const hi = Math.max(...xs);
    const f = (r: number) => pct(wd.slope * Math.min(r, wd.bottleneck) + wd.intercept);
    const grid = [...new Set([lo, Math.max(lo, Math.min(hi, wd.bottleneck)), hi])].sort((p, q) => p - q);
    d.series.push({ id: 'piecewise', label: `piecewise fit (bottleneck ${wd.bottleneck.toFixed(0)})`, role: 'fit', group: 0, points: grid.map((r) => ({ x: r, y: f(r) })) });
    d.vlines = [{ x: wd.bottleneck, label: 'bottleneck', lo: wd.bottleneckLow, hi: wd.bottleneckHigh }];
  }
  return d;
}

function convergence(x: Ctx, o: ChartOptions): PlotData {
  const d = base('convergence', o, { title: 'Derivative of the sparsity–data curve', xLabel: 'Training tokens / parameters', yLabel: 'd(1 − A)/dD (per B tokens)' });
  const list = x.seriesFits().filter((s) => s.fit && s.pts.length >= 2);
  let g = 0;
  for (const s of list) {
    const N = s.ckpts.at(-1)!.nonEmbeddingParams ?? s.ckpts.at(-1)!.params;
    if (!N) continue;
    const Ds = sampleRange(s.pts[0].D, s.pts.at(-1)!.D, 80, d.xScale === 'log');
    const ys = Ds.map((D) => fitDerivative(s.fit!, D));
    if (ys.some((y) => y === undefined || !Number.isFinite(y))) continue;
    // x = D / N with both in raw units (paper Fig. 8); y = −dA/dD, the derivative of sparsity 1 − A.
    d.series.push({ id: s.series, label: s.activation ? `${s.series} (${s.activation})` : s.series, role: 'fit', group: g++, points: Ds.map((D, i) => ({ x: (D * B) / N, y: -ys[i]! })) });
  }
  if (d.series.length === 0) missing('needs a training series with a fit and a parameter count (the derivative of its fitted sparsity–data curve is plotted)');
  return d;
}

const MAX_RUNS = 6;
/** Runs for the per-run charts: the user's pick, else the latest suitable run on the most-trained checkpoint of each series. */
function perRun(x: Ctx, has: (r: SourceRun) => boolean, d: PlotData): SourceRun[] {
  const picked = x.runs.filter((r) => has(r) && x.picked(x.ckpts.get(r.checkpointId)?.name ?? r.checkpointId, r.id, r.checkpointId, x.ckpts.get(r.checkpointId)?.series));
  let out: SourceRun[];
  if (x.opts.series?.length) out = picked;
  else {
    const best = new Map<string, SourceRun>();
    for (const r of picked) {
      const c = x.ckpts.get(r.checkpointId);
      const key = c?.series ?? r.checkpointId;
      const prev = best.get(key);
      if (!prev || (c?.tokensTrained ?? 0) >= (x.ckpts.get(prev.checkpointId)?.tokensTrained ?? 0)) best.set(key, r);
    }
    out = [...best.values()];
  }
  if (out.length > MAX_RUNS) d.notes.push(`showing ${MAX_RUNS} of ${out.length} runs; pick series to see others`);
  return out.slice(0, MAX_RUNS);
}

/** legend label of a run: checkpoint · method p (the run id too where two runs would read the same) */
function shortLabels(x: Ctx, runs: SourceRun[]): string[] {
  const short = runs.map((r) => shortRunLabel(r, x.ckpts.get(r.checkpointId)));
  return runs.map((r, i) => (short.indexOf(short[i]) !== short.lastIndexOf(short[i]) ? x.runLabel(r) : short[i]));
}

/** a figure of one run or model names it: its subject, and after ' — ' in its title (unless the user set one) */
function about(x: Ctx, d: PlotData, subject: string): void {
  d.subject = subject;
  if (!x.opts.title) d.title = `${d.title} — ${subject}`;
}

/** a one-run chart's title names the run */
function titleFor(x: Ctx, d: PlotData, runs: SourceRun[]): void {
  if (runs.length === 1) about(x, d, x.runLabel(runs[0]));
}

function perLayer(x: Ctx, o: ChartOptions): PlotData {
  const d = base('per-layer-activation', o, { title: 'Activation ratio per layer', xLabel: 'Layer', yLabel: 'Activation ratio (%)' });
  const has = (r: SourceRun) => !!r.perLayer?.length;
  runChoices(x, has, d, 'latest run per series');
  const one = explicitRun(x, has, 'per-layer activation ratios');
  const runs = one ? [one] : perRun(x, has, d);
  if (!runs.length) missing('no completed run with per-layer activation ratios in this session');
  titleFor(x, d, runs);
  const labels = shortLabels(x, runs);
  runs.forEach((r, g) => d.series.push({ id: r.id, label: labels[g], role: 'measured', group: g, points: r.perLayer!.map((v, l) => ({ x: l, y: pct(v), run: x.runLabel(r, x.ckpts.get(r.checkpointId)) })) }));
  return d;
}

const MAX_TOKENS = 256;
function heatmap(x: Ctx, o: ChartOptions): PlotData {
  const d = base('layer-token-heatmap', o, { title: 'Activation ratio per layer and token', xLabel: 'Token', yLabel: 'Layer' });
  const has = (r: SourceRun) => !!r.layerToken;
  runChoices(x, has, d, 'latest run');
  const r = explicitRun(x, has, 'layer × token activation matrix') ?? x.runs.filter(has).at(-1);
  if (!r) missing('no completed run with a layer × token activation matrix in this session');
  const m = r.layerToken!;
  const T = Math.min(m.tokens, MAX_TOKENS);
  if (T < m.tokens) d.notes.push(`showing the first ${T} of ${m.tokens} tokens`);
  const pts: PlotPoint[] = [];
  let min = Infinity;
  let max = -Infinity;
  for (let l = 0; l < m.layers; l++)
    for (let t = 0; t < T; t++) {
      const v = pct(m.values[l * m.tokens + t]);
      min = Math.min(min, v);
      max = Math.max(max, v);
      pts.push({ x: t, y: l, v, run: m.tokenLabels?.[t] });
    }
  about(x, d, x.runLabel(r, x.ckpts.get(r.checkpointId)));
  d.series.push({ id: r.id, label: x.runLabel(r, x.ckpts.get(r.checkpointId)), role: 'cells', group: 0, points: pts });
  d.heatmap = { rows: m.layers, cols: T, min, max, vLabel: 'Activation ratio (%)' };
  return d;
}

/** at most n evenly spaced indices of 0..len−1, both ends included */
function evenly(len: number, n: number): number[] {
  if (len <= n) return [...Array(len).keys()];
  return [...new Set(Array.from({ length: n }, (_, i) => Math.round((i * (len - 1)) / (n - 1))))];
}

function neuronFrequency(x: Ctx, o: ChartOptions): PlotData {
  const d = base('neuron-frequency', o, { title: 'Neuron activation frequency', xLabel: 'Neurons, sorted by frequency (%)', yLabel: 'Activation frequency (%)' });
  const has = (r: SourceRun) => !!r.neuronFrequency?.length;
  runChoices(x, has, d, 'latest run per series');
  const one = explicitRun(x, has, 'per-neuron activation frequencies');
  const runs = one ? [one] : perRun(x, has, d);
  if (!runs.length) missing('no completed run with per-neuron activation frequencies in this session');
  titleFor(x, d, runs);
  const labels = shortLabels(x, runs);
  runs.forEach((r, g) => {
    const f = [...r.neuronFrequency!].sort((a, b) => b - a);
    const n = f.length;
    const label = x.runLabel(r, x.ckpts.get(r.checkpointId));
    d.series.push({ id: r.id, label: labels[g], role: 'measured', group: g, points: evenly(n, 400).map((i) => ({ x: n === 1 ? 0 : (100 * i) / (n - 1), y: pct(f[i]), run: label })) });
  });
  return d;
}

function pareto(x: Ctx, o: ChartOptions): PlotData {
  const d = base('pareto', o, { title: 'Perplexity vs activation ratio', xLabel: 'Activation ratio (%)', yLabel: 'Perplexity' });
  const has = (r: SourceRun) => r.activationRatio !== undefined && (r.ppl !== undefined || r.pplRatio !== undefined);
  runChoices(x, has, d, 'the model with the most methods');
  // an explicit run: the sweeps on its checkpoint
  const one = explicitRun(x, has, 'activation ratio and perplexity');
  const runs = x.runs.filter((r) => has(r) && (!one || r.checkpointId === one.checkpointId));
  if (one) about(x, d, x.ckpts.get(one.checkpointId)?.name ?? one.checkpointId);
  const usePpl = runs.every((r) => r.ppl !== undefined);
  if (!usePpl) d.yLabel = 'PPL ratio (sparse / dense)';
  // one line per checkpoint, method and token budget: perplexities measured on different evaluation tokens are not
  // points of one trade-off curve (a single CETT-PPL-1% run on 16K tokens beside a p% sweep on 32K tokens)
  const groups = new Map<string, { key: string; ckpt: string; tokens?: number; rs: SourceRun[] }>();
  for (const r of runs) {
    const c = x.ckpts.get(r.checkpointId);
    const key = `${c?.name ?? r.checkpointId} · ${methodFamily(r.method)}`;
    if (!x.picked(key, r.checkpointId, c?.name, c?.series, r.method)) continue;
    const k = `${key}\u0000${r.tokens ?? ''}`;
    const grp = groups.get(k) ?? groups.set(k, { key, ckpt: r.checkpointId, tokens: r.tokens, rs: [] }).get(k)!;
    grp.rs.push(r);
  }
  const drawn = (grp: { rs: SourceRun[] }) => grp.rs.length >= 2 || grp.rs[0].method === 'relu';
  // The paper's Fig. 2 has one panel per model. Without a run or series picked, the figure is ONE checkpoint's
  // trade-off (the one with the most method lines, then runs): it drew every model's curves on one perplexity axis (the
  // demo: the SiLU model's points beside the ReLU model's sweeps). The others are named in the notes.
  if (!one && !o.series?.length) {
    const lines = new Map<string, { n: number; runs: number }>();
    for (const grp of groups.values())
      if (drawn(grp)) {
        const l = lines.get(grp.ckpt) ?? { n: 0, runs: 0 };
        lines.set(grp.ckpt, { n: l.n + 1, runs: l.runs + grp.rs.length });
      }
    if (lines.size > 1) {
      const best = [...lines].reduce((a, b) => (b[1].n > a[1].n || (b[1].n === a[1].n && b[1].runs > a[1].runs) ? b : a))[0];
      for (const [k, grp] of groups) if (grp.ckpt !== best) groups.delete(k);
      const name = (id: string) => x.ckpts.get(id)?.name ?? id;
      d.notes.push(`one model per figure, as the paper's Fig. 2 panels: ${name(best)}, the checkpoint with the most methods; also measured: ${[...lines.keys()].filter((k) => k !== best).map(name).join(', ')} (pick one under Series, or a run)`);
    }
  }
  const budgets = new Map<string, number>(); // how many token budgets each checkpoint · method line has
  for (const grp of groups.values()) if (drawn(grp)) budgets.set(grp.key, (budgets.get(grp.key) ?? 0) + 1);
  const shown = [...groups.values()].filter(drawn);
  const ckptCount = new Set((shown.length ? shown.flatMap((grp) => grp.rs) : runs).map((r) => r.checkpointId)).size;
  const first = shown[0]?.rs[0] ?? runs[0];
  if (!one && ckptCount === 1 && first) about(x, d, x.ckpts.get(first.checkpointId)?.name ?? first.checkpointId);
  let g = 0;
  for (const { key: base, tokens, rs } of groups.values()) {
    if (!drawn({ rs })) continue;
    const key = (budgets.get(base) ?? 0) > 1 && tokens !== undefined ? `${base} · ${tokens} tokens` : base;
    rs.sort((a, b) => a.activationRatio! - b.activationRatio!);
    const missed = rs.filter((r) => r.targetNotMet).map((r) => (r.p !== undefined ? `p=${r.p}%` : r.id));
    const name = ckptCount > 1 ? key : key.replace(/^[^·]* · /, '');
    d.series.push({ id: key, label: missed.length ? `${name} (target not met: ${missed.join(', ')})` : name, role: 'measured', group: g++, points: rs.map((r) => ({ x: pct(r.activationRatio!), y: usePpl ? r.ppl! : r.pplRatio!, run: x.runLabel(r, x.ckpts.get(r.checkpointId)) })) });
  }
  if (!d.series.length) missing('needs a sweep: ≥ 2 completed runs of one method (CETT, Top-k or FAT-ε) on one checkpoint, with activation ratio and perplexity');
  return d;
}

function cettSweep(x: Ctx, o: ChartOptions): PlotData {
  const d = base('cett-sweep', o, { title: 'Perplexity and activation ratio vs CETT', xLabel: 'CETT', yLabel: 'Perplexity', y2Label: 'Activation ratio (%)' });
  const groups = new Map<string, SourceRun[]>();
  for (const r of x.runs) {
    if (r.method !== 'cett' || r.cett === undefined || r.activationRatio === undefined) continue;
    const c = x.ckpts.get(r.checkpointId);
    if (x.picked(c?.name ?? r.checkpointId, r.checkpointId, c?.series)) groups.set(r.checkpointId, [...(groups.get(r.checkpointId) ?? []), r]);
  }
  let g = 0;
  for (const [id, rs] of groups) {
    if (rs.length < 2) continue;
    rs.sort((a, b) => a.cett! - b.cett!);
    const name = x.ckpts.get(id)?.name ?? id;
    const withPpl = rs.filter((r) => r.ppl !== undefined);
    if (withPpl.length) d.series.push({ id: `${id}:ppl`, label: `${name} PPL`, role: 'measured', group: g, axis: 'y', points: withPpl.map((r) => ({ x: r.cett!, y: r.ppl!, run: x.runLabel(r, x.ckpts.get(id)) })) });
    d.series.push({ id: `${id}:act`, label: `${name} activation`, role: 'fit', group: g, axis: 'y2', points: rs.map((r) => ({ x: r.cett!, y: pct(r.activationRatio!), run: x.runLabel(r, x.ckpts.get(id)) })) });
    g++;
  }
  if (!d.series.length) missing('needs a CETT sweep: ≥ 2 completed fixed-CETT runs on one checkpoint');
  return d;
}

const BUILDERS: Record<ChartKind, (x: Ctx, o: ChartOptions) => PlotData> = {
  'activation-vs-tokens': activationVsTokens,
  'limit-vs-params': limitVsParams,
  'limit-vs-width-depth': limitVsWidthDepth,
  convergence,
  'per-layer-activation': perLayer,
  'layer-token-heatmap': heatmap,
  'neuron-frequency': neuronFrequency,
  pareto,
  'cett-sweep': cettSweep,
};

export function plotData(kind: ChartKind, src: ChartSource, opts: ChartOptions = {}, deps: DataDeps = {}): PlotData {
  const ctx = new Ctx(src, opts, deps);
  const d = BUILDERS[kind](ctx, opts);
  d.choices = [...ctx.choices];
  // which measurement each series line is made of (the caption says it; the metadata names the runs)
  d.notes.push(...ctx.lineNotes.filter((n) => d.series.some((s) => n.startsWith(`${s.id}: `))));
  d.provenance = {
    session: src.name,
    ...(src.file ? { sessionFile: src.file } : {}),
    runs: [...ctx.used.values()].map((r) => {
      const c = ctx.ckpts.get(r.checkpointId);
      return { id: r.id, checkpoint: c?.name ?? r.checkpointId, method: r.method, p: r.p, cett: r.cett, param: r.param, label: ctx.usedLabels.get(r.id) ?? runLabel(r, c) };
    }),
  };
  // a log axis cannot show values ≤ 0: say so rather than silently dropping them
  for (const [axis, key] of [['x', 'xScale'], ['y', 'yScale']] as const) {
    if (d[key] !== 'log') continue;
    const bad = d.series.some((s) => s.points.some((p) => { const v = axis === 'x' ? p.x : p.y; return v !== null && v <= 0; }));
    if (bad) {
      d[key] = 'linear';
      d.notes.push(`${axis} axis kept linear: some values are ≤ 0`);
    }
  }
  return d;
}

export const KIND_INFO: Record<ChartKind, { title: string; needs: string }> = {
  'activation-vs-tokens': { title: 'Activation ratio vs training tokens (Fig. 4)', needs: 'a training series: ≥ 3 checkpoints with tokens trained, each with a CETT-PPL-p% run' },
  'limit-vs-params': { title: 'Limit activation ratio vs parameters (Fig. 7)', needs: '≥ 2 fitted series of different sizes' },
  'limit-vs-width-depth': { title: 'Limit activation ratio vs width-depth ratio (Fig. 5)', needs: '≥ 2 fitted series with different d_h/L' },
  convergence: { title: 'Derivative of the sparsity–data curve (Fig. 8)', needs: 'a fitted series with a parameter count' },
  'per-layer-activation': { title: 'Activation ratio per layer', needs: 'a run with per-layer results' },
  'layer-token-heatmap': { title: 'Layer × token activation heatmap', needs: 'a run with a layer × token matrix' },
  'neuron-frequency': { title: 'Neuron activation frequency (Fig. 9)', needs: 'a run with per-neuron frequencies' },
  pareto: { title: 'PPL vs activation ratio: CETT, Top-k, FAT-ε (Fig. 2)', needs: 'sweeps of ≥ 2 runs per method on a checkpoint' },
  'cett-sweep': { title: 'PPL and activation ratio vs CETT (Fig. 15)', needs: '≥ 2 fixed-CETT runs on a checkpoint' },
};
