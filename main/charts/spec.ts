/**
 * THE styling code path: plotted data + paper options → a chart.js configuration. Used by the CLI/Node
 * export and (through `charts.config`) by the UI, so both draw the same figure. Pure and JSON-only (no
 * functions), so it crosses the contract. The few behaviours chart.js can only take as functions are
 * written as `lab` hints that a tiny runtime turns into functions (common/chart-runtime.ts, imported by both
 * the Node export and the UI):
 *   dataset.lab.legend = false        → the dataset is left out of the legend (bands, error bars)
 *   dataset.lab.cells = {cols, rows}  → matrix cells fill the chart area
 *   options.plugins.labColorbar       → a colour bar for the heatmap, drawn as vector rectangles + text
 * Units: 1 config px = 1 pt at scale 1, so a 3.5 in figure is 252 px wide and an 8 pt font is 8 px.
 */
import type { ChartOptions, PlotData, PlotSeries } from '../api/domains/charts';
import { seriesColor, seriesMarker, viridis, withAlpha } from './palette';
import { axisLabelWithUnit, axisUnit } from '../../common/chart-runtime';

export const PRESETS = {
  single: { widthIn: 3.5, heightIn: 2.6, fontSize: 8 },
  double: { widthIn: 7, heightIn: 3.2, fontSize: 9 },
} as const;

/** The default face: DejaVu Sans is registered for Node export (export.ts) and present on most Linux systems. */
export const DEFAULT_FONT = 'DejaVu Sans';
/**
 * Where the figure's face is missing (a co-author's machine opening the SVG, a journal's converter): sans faces of
 * about its widths first (Liberation Sans and Arial share metrics), then the generic family, never a serif default.
 */
export const FONT_FALLBACKS = ['Liberation Sans', 'Arial', 'Helvetica', 'sans-serif'];
const GENERIC = new Set(['serif', 'sans-serif', 'monospace', 'cursive', 'fantasy', 'system-ui']);
/** A CSS font-family list: `family` then FONT_FALLBACKS, names quoted with `q` (an SVG attribute in "…" takes '). */
export function fontStack(family: string, q: '"' | "'" = '"'): string {
  const name = (f: string) => (GENERIC.has(f) ? f : `${q}${f.replace(/["']/g, '')}${q}`);
  return [family, ...FONT_FALLBACKS.filter((f) => f !== family)].map(name).join(', ');
}
const FONT_STACK_TAIL = `, ${FONT_FALLBACKS.map((f) => (GENERIC.has(f) ? f : `"${f}"`)).join(', ')}`;

export interface Resolved {
  preset: 'single' | 'double';
  widthPt: number;
  heightPt: number;
  fontFamily: string;
  fontSize: number;
  scale: number;
}

export function resolveStyle(o: ChartOptions = {}): Resolved {
  const preset = o.preset ?? 'single';
  const p = PRESETS[preset];
  const scale = o.scale ?? 1;
  return { preset, widthPt: p.widthIn * 72 * scale, heightPt: p.heightIn * 72 * scale, fontFamily: o.fontFamily ?? DEFAULT_FONT, fontSize: (o.fontSize ?? p.fontSize) * scale, scale };
}

/** chart kinds whose measured series read as curves (lines through markers) rather than scatter clouds */
const LINED = new Set(['per-layer-activation', 'neuron-frequency', 'pareto', 'cett-sweep', 'limit-vs-params']);

type Json = Record<string, unknown>;

function dataset(s: PlotSeries, plot: PlotData, r: Resolved, index: number, all: PlotSeries[]): Json {
  const k = r.scale;
  const color = seriesColor(s.group);
  const common: Json = { label: s.label, data: s.points, yAxisID: s.axis ?? 'y', borderColor: color, backgroundColor: color, lab: { id: s.id, role: s.role } };
  const hide = { ...(common.lab as Json), legend: false };
  switch (s.role) {
    case 'measured': {
      const lined = LINED.has(plot.kind);
      const many = s.points.length > 60;
      return { ...common, showLine: lined, borderWidth: 1.1 * k, pointStyle: seriesMarker(s.group), pointRadius: (many ? 0 : 2.4) * k, pointHoverRadius: 3.5 * k, pointBorderWidth: 0.8 * k, order: 1 };
    }
    case 'dropped':
      // Warm-up points left out of the fit (paper Sec. 5.1, App. E): same marker, hollow.
      return { ...common, showLine: false, pointStyle: seriesMarker(s.group), backgroundColor: '#ffffff', pointRadius: 2.4 * k, pointBorderWidth: 0.9 * k, order: 1, lab: hide };
    case 'fit': {
      const dashed = plot.kind === 'cett-sweep' || plot.kind === 'limit-vs-width-depth';
      const fitColor = plot.kind === 'limit-vs-width-depth' ? '#000000' : color;
      // cett-sweep draws its right-axis series as hollow markers on a dashed line; other fits are plain curves
      const marked = plot.kind === 'cett-sweep';
      return { ...common, borderColor: fitColor, backgroundColor: marked ? '#ffffff' : fitColor, showLine: true, pointRadius: marked ? 2.4 * k : 0, pointBorderWidth: 0.9 * k, pointStyle: marked ? seriesMarker(s.group) : 'line', borderWidth: 1.1 * k, borderDash: dashed ? [4 * k, 2.5 * k] : [], order: 2, lab: plot.kind === 'activation-vs-tokens' ? hide : common.lab };
    }
    case 'band-low':
      return { ...common, showLine: true, borderWidth: 0, pointRadius: 0, fill: false, order: 3, lab: hide };
    case 'band-high': {
      // filled down to the band-low dataset just before it
      const prev = all[index - 1];
      return { ...common, showLine: true, borderWidth: 0, pointRadius: 0, backgroundColor: withAlpha(color, 0.18), fill: prev?.role === 'band-low' ? '-1' : false, order: 3, lab: hide };
    }
    case 'errorbar':
      return { ...common, showLine: true, spanGaps: false, borderWidth: 0.9 * k, pointRadius: 0, order: 2, lab: hide };
    case 'cells': {
      const h = plot.heatmap!;
      const span = h.max - h.min || 1;
      return { label: s.label, data: s.points, backgroundColor: s.points.map((p) => viridis(((p.v ?? h.min) - h.min) / span)), borderWidth: 0, lab: { id: s.id, role: s.role, legend: false, cells: { cols: h.cols, rows: h.rows } } };
    }
  }
}

/** Legend-only stand-ins, so one entry explains the fitted curves / hollow markers of every series. */
function legendKeys(plot: PlotData, r: Resolved): Json[] {
  const out: Json[] = [];
  const k = r.scale;
  if (plot.kind === 'activation-vs-tokens' && plot.series.some((s) => s.role === 'fit'))
    out.push({ label: 'fitted curve', data: [], borderColor: '#555555', backgroundColor: '#555555', showLine: true, borderWidth: 1.1 * k, pointRadius: 0, pointStyle: 'line', order: 9, lab: { role: 'key' } });
  if (plot.series.some((s) => s.role === 'dropped'))
    out.push({ label: 'warm-up, not fitted', data: [], borderColor: '#555555', backgroundColor: '#ffffff', showLine: false, pointStyle: 'circle', pointRadius: 2.4 * k, pointBorderWidth: 0.9 * k, order: 9, lab: { role: 'key' } });
  return out;
}

function axis(r: Resolved, title: string, type: 'linear' | 'log', extra: Json = {}): Json {
  const k = r.scale;
  const font = { family: r.fontFamily + FONT_STACK_TAIL, size: r.fontSize };
  return {
    type: type === 'log' ? 'logarithmic' : 'linear',
    title: { display: true, text: title, color: '#000000', font, padding: { top: 2 * k, bottom: 1 * k } },
    ticks: { color: '#000000', font: { ...font, size: r.fontSize * 0.9 }, maxTicksLimit: r.preset === 'single' ? 6 : 9, padding: 2 * k, maxRotation: 0 },
    grid: { color: '#e3e3e3', lineWidth: 0.5 * k, tickLength: 3 * k, tickColor: '#000000', drawTicks: true },
    border: { color: '#000000', width: 0.8 * k },
    ...extra,
  };
}

/**
 * The unit of a count x axis (tokens, parameters): K/M/B/T chosen from the data, so a tiny model's axis reads "10 M",
 * not "0.01 B". `factor` turns a plotted x into the displayed one; `label` is the x label with that unit. One choice for
 * every figure: the chart.js config (PNG/SVG/PDF, the window) and the pgfplots export. undefined: not a count axis.
 */
export function xAxisUnit(plot: PlotData): { suffix: string; factor: number; label: string } | undefined {
  if (!plot.xMagnitude) return undefined;
  const maxX = plot.series.reduce((m, s) => s.points.reduce((a, p) => (Number.isFinite(p.x) ? Math.max(a, Math.abs(p.x)) : a), m), 0);
  const u = axisUnit(maxX, plot.xMagnitude);
  return { ...u, label: axisLabelWithUnit(plot.xLabel, u.suffix) };
}

export function buildChartConfig(plot: PlotData, o: ChartOptions = {}): { config: Json; widthPt: number; heightPt: number } {
  const r = resolveStyle(o);
  const k = r.scale;
  const font = { family: r.fontFamily + FONT_STACK_TAIL, size: r.fontSize };
  const isMatrix = !!plot.heatmap;
  const datasets = isMatrix ? plot.series.map((s, i) => dataset(s, plot, r, i, plot.series)) : [...plot.series.map((s, i) => dataset(s, plot, r, i, plot.series)), ...legendKeys(plot, r)];
  const scales: Json = {
    x: axis(r, plot.xLabel, plot.xScale),
    y: axis(r, plot.yLabel, plot.yScale),
  };
  const u = xAxisUnit(plot);
  if (u) {
    ((scales.x as Json).title as Json).text = u.label;
    (scales.x as Json).lab = { unitFactor: u.factor };
  }
  if (isMatrix) {
    const h = plot.heatmap!;
    // cells are centred on integer token/layer indices; ticks only at integers (not at the ±0.5 bounds)
    const ints = (a: Json) => ({ ...a, ticks: { ...(a.ticks as Json), precision: 0, includeBounds: false }, grid: { display: false }, offset: false });
    scales.x = { ...ints(scales.x as Json), min: -0.5, max: h.cols - 0.5 };
    scales.y = { ...ints(scales.y as Json), min: -0.5, max: h.rows - 0.5, reverse: true };
  }
  // layer indices are integers: no 0.5 ticks
  if (plot.kind === 'per-layer-activation') scales.x = { ...(scales.x as Json), ticks: { ...((scales.x as Json).ticks as Json), precision: 0 } };
  if (plot.y2Label) scales.y2 = axis(r, plot.y2Label, 'linear', { position: 'right', grid: { drawOnChartArea: false, tickLength: 3 * k, tickColor: '#000000' } });

  const annotations: Json = {};
  for (const [i, v] of (plot.vlines ?? []).entries()) {
    if (v.lo !== undefined && v.hi !== undefined) annotations[`band${i}`] = { type: 'box', xMin: v.lo, xMax: v.hi, backgroundColor: 'rgba(0,0,0,0.07)', borderWidth: 0, drawTime: 'beforeDatasetsDraw' };
    annotations[`line${i}`] = {
      type: 'line', xMin: v.x, xMax: v.x, borderColor: '#555555', borderWidth: 0.8 * k, borderDash: [3 * k, 2 * k],
      label: { display: true, content: `${v.label} ${+v.x.toPrecision(3)}`, position: 'end', backgroundColor: 'rgba(255,255,255,0.85)', color: '#000000', font: { ...font, size: r.fontSize * 0.85, weight: 'normal' }, padding: 1.5 * k },
    };
  }

  const legendCount = datasets.filter((d) => (d.lab as Json | undefined)?.legend !== false).length;
  const options: Json = {
    animation: false,
    responsive: false,
    maintainAspectRatio: false,
    normalized: !isMatrix,
    color: '#000000',
    font,
    layout: { padding: { top: 2 * k, right: (isMatrix ? 46 : plot.y2Label ? 2 : 6) * k, bottom: 1 * k, left: 2 * k } },
    interaction: { mode: 'nearest', intersect: false },
    elements: { line: { tension: 0, borderCapStyle: 'round', borderJoinStyle: 'round' }, point: { hitRadius: 4 * k } },
    scales,
    plugins: {
      title: { display: !!o.title, text: plot.title, color: '#000000', font: { ...font, size: r.fontSize * 1.1, weight: 'normal' }, padding: { top: 0, bottom: 3 * k } },
      legend: {
        // a single series is left unlabelled, except a run's (per-layer, frequency): the legend names the run
        display: !isMatrix && legendCount > 0 && !(legendCount === 1 && plot.series.length === 1 && plot.kind !== 'per-layer-activation' && plot.kind !== 'neuron-frequency'),
        position: 'top',
        align: 'center',
        labels: { color: '#000000', font: { ...font, size: r.fontSize * 0.9 }, usePointStyle: true, boxWidth: 7 * k, boxHeight: 3.4 * k, padding: 5 * k },
      },
      tooltip: { enabled: true },
      annotation: { annotations },
      ...(isMatrix ? { labColorbar: { min: plot.heatmap!.min, max: plot.heatmap!.max, label: plot.heatmap!.vLabel, width: 7 * k, gap: 6 * k, fontFamily: font.family, fontSize: r.fontSize * 0.9, stops: Array.from({ length: 48 }, (_, i) => viridis(i / 47)) } } : {}),
    },
  };
  const legend = (options.plugins as Json).legend as Json;
  const extra = legend.display ? legendOverflow(datasets, r) : 0;
  return { config: { type: isMatrix ? 'matrix' : 'line', data: { datasets }, options }, widthPt: r.widthPt, heightPt: r.heightPt + extra };
}

/** legend rows a figure of the preset's height holds beside a readable plot (activation-vs-tokens' six series: 3) */
const LEGEND_ROWS_IN_HEIGHT = 3;

/**
 * Points the figure grows by so that a long legend does not squeeze the plot: six runs' labels in a single-column
 * figure took six rows and left the plot 73 pt high, shorter than its axis title. Rows are packed as chart.js packs
 * them, from label widths estimated at 0.6 em a character (DejaVu Sans' digits and lower case are 0.55–0.63 em).
 */
function legendOverflow(datasets: Json[], r: Resolved): number {
  const k = r.scale;
  const size = r.fontSize * 0.9;
  const [box, pad] = [7 * k, 5 * k];
  const room = r.widthPt - 8 * k;
  let rows = 0;
  let used = Infinity;
  for (const d of datasets) {
    if ((d.lab as Json | undefined)?.legend === false || typeof d.label !== 'string') continue;
    const w = box + size / 2 + d.label.length * 0.6 * size + pad;
    if (used + w > room) {
      rows++;
      used = 0;
    }
    used += w;
  }
  return Math.max(0, rows - LEGEND_ROWS_IN_HEIGHT) * (size + pad);
}
