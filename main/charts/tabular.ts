/**
 * The plotted data as files: CSV (one row per point, long format), JSON (the PlotData itself) and a
 * pgfplots figure that compiles on its own (`pdflatex fig.tex`), data inline, same colours and markers
 * as the chart.js figure (anchors.md C.8: always ship the data with the figure).
 */
import type { PlotData, PlotSeries } from '../api/domains/charts';
import { PRESETS, xAxisUnit } from './spec';
import { seriesColor } from './palette';

const CSV_HEAD = ['series', 'label', 'role', 'axis', 'x', 'y', 'v', 'run'];

function csvField(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * The header lines that say what a figure shows: the session and every run behind its numbers (ids, checkpoint,
 * method, p). `prefix` makes them comments of the target format ('# ' for CSV, '% ' for TeX).
 */
export function provenanceLines(plot: PlotData, prefix: string): string[] {
  const p = plot.provenance;
  if (!p) return [];
  return [
    `${prefix}Sparsity Lab chart ${plot.kind}: ${plot.title}`,
    `${prefix}session: ${p.session}${p.sessionFile ? ` (${p.sessionFile})` : ''}`,
    ...p.runs.map((r) => `${prefix}run ${r.id}: ${r.label}`),
  ];
}

/** Numbers written with String(): the shortest text that parses back to the same double. Comment lines ('# ') first:
 * the session and the runs shown (pandas: read_csv(f, comment='#')). */
export function toCsv(plot: PlotData): string {
  const rows = [...provenanceLines(plot, '# ').map((l) => l.replace(/[\r\n]+/g, ' ')), CSV_HEAD.join(',')];
  for (const s of plot.series) for (const p of s.points) rows.push([s.id, s.label, s.role, s.axis ?? 'y', p.x, p.y, p.v, p.run].map(csvField).join(','));
  return rows.join('\n') + '\n';
}

export function toJson(plot: PlotData): string {
  return JSON.stringify({ format: 'sparsity-lab.chart-data', version: 1, ...plot }, null, 2) + '\n';
}

// ---- pgfplots ----

const TEX_MAP: Record<string, string> = {
  '\\': '\\textbackslash{}', '{': '\\{', '}': '\\}', $: '\\$', '&': '\\&', '#': '\\#', '^': '\\^{}', _: '\\_{}', '%': '\\%', '~': '\\~{}',
  '₀': '$_0$', 'ε': '$\\varepsilon$', '·': '$\\cdot$', '−': '$-$', '≥': '$\\geq$', '≤': '$\\leq$', '×': '$\\times$', '—': '---', '–': '--', '’': "'",
};
/** Text safe for pdflatex: TeX specials escaped, the few non-ASCII symbols we use mapped to math. */
export function texEscape(s: string): string {
  return [...s].map((ch) => TEX_MAP[ch] ?? (ch.charCodeAt(0) > 126 ? '?' : ch)).join('');
}

const MARKS = ['*', 'square*', 'triangle*', 'diamond*', 'x', 'star', 'pentagon*', '+'];
const texNum = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? 'nan' : String(v));

function colorName(g: number) {
  return `lab${g}`;
}

/** x as written in the figure: in the axis' K/M/B unit (xAxisUnit), rounded off float noise (0.002 × 1000 → 2) */
type XScale = (x: number) => number;
const inUnit = (factor: number): XScale => (factor === 1 ? (x) => x : (x) => (Number.isFinite(x) ? +(x * factor).toPrecision(15) : x));

function tableIn(s: PlotSeries, withMeta = false, sx: XScale = (x) => x): string {
  const head = withMeta ? 'x y v' : 'x y';
  const rows = s.points.map((p) => (withMeta ? `${texNum(sx(p.x))} ${texNum(p.y)} ${texNum(p.v)}` : `${texNum(sx(p.x))} ${texNum(p.y)}`));
  return `table[row sep=\\\\${withMeta ? ', meta=v' : ''}] {\n${head}\\\\\n${rows.map((r) => `${r}\\\\`).join('\n')}\n}`;
}

function plotLines(plot: PlotData, axisId: 'y' | 'y2', sx: XScale): string[] {
  const out: string[] = [];
  const table = (s: PlotSeries, withMeta = false) => tableIn(s, withMeta, sx);
  const lined = ['per-layer-activation', 'neuron-frequency', 'pareto', 'cett-sweep', 'limit-vs-params'].includes(plot.kind);
  plot.series.forEach((s, i) => {
    if ((s.axis ?? 'y') !== axisId) return;
    const c = colorName(s.group);
    const mark = MARKS[s.group % MARKS.length];
    const legend = `\\addlegendentry{${texEscape(s.label)}}`;
    switch (s.role) {
      case 'measured':
        out.push(`\\addplot[color=${c}, mark=${mark}, mark size=1.4pt, ${lined ? 'thick' : 'only marks'}] ${table(s)};`, legend);
        break;
      case 'dropped':
        // hollow: the filled mark's outline ('*' → 'o'; a bare '*' left an empty `mark=` that drew nothing)
        out.push(`\\addplot[color=${c}, mark=${mark === '*' ? 'o' : mark.replace('*', '')}, mark options={fill=white}, mark size=1.4pt, only marks, forget plot] ${table(s)};`);
        break;
      case 'fit':
        // as in the chart.js figure: per-series fits of activation-vs-tokens share one legend key
        if (plot.kind === 'activation-vs-tokens') out.push(`\\addplot[color=${c}, thick, no markers, forget plot] ${table(s)};`);
        else out.push(`\\addplot[color=${plot.kind === 'limit-vs-width-depth' ? 'black' : c}, ${plot.kind === 'cett-sweep' || plot.kind === 'limit-vs-width-depth' ? 'dashed, ' : ''}thick, no markers] ${table(s)};`, legend);
        break;
      case 'band-low':
        out.push(`\\addplot[draw=none, no markers, forget plot, name path=lo${i}] ${table(s)};`);
        break;
      case 'band-high':
        out.push(`\\addplot[draw=none, no markers, forget plot, name path=hi${i}] ${table(s)};`);
        if (plot.series[i - 1]?.role === 'band-low') out.push(`\\addplot[fill=${c}, fill opacity=0.18, draw=none, forget plot] fill between[of=lo${i - 1} and hi${i}];`);
        break;
      case 'errorbar':
        out.push(`\\addplot[color=${c}, no markers, forget plot, unbounded coords=jump] ${table(s)};`);
        break;
      case 'cells': {
        const h = plot.heatmap!;
        out.push(`\\addplot[matrix plot*, point meta=explicit, mesh/cols=${h.cols}, mesh/rows=${h.rows}] ${table(s, true)};`);
        break;
      }
    }
  });
  return out;
}

function axisOptions(plot: PlotData, axisId: 'y' | 'y2', widthIn: number, heightIn: number, fontSize: number, preset: 'single' | 'double', xLabel = plot.xLabel): string[] {
  const o = [`width=${widthIn}in`, `height=${heightIn}in`, 'scale only axis=false', `tick label style={font=\\fontsize{${fontSize * 0.9}}{${fontSize}}\\selectfont}`, `label style={font=\\fontsize{${fontSize}}{${fontSize * 1.2}}\\selectfont}`];
  if (axisId === 'y') {
    o.push(`xlabel={${texEscape(xLabel)}}`, `ylabel={${texEscape(plot.yLabel)}}`);
    if (plot.xScale === 'log') o.push('xmode=log');
    if (plot.yScale === 'log') o.push('ymode=log');
    o.push(`legend style={font=\\fontsize{${fontSize * 0.9}}{${fontSize}}\\selectfont, draw=none, fill=none, at={(0.5,1.02)}, anchor=south, legend columns=${preset === 'double' ? 3 : 2}}`, 'legend cell align=left');
    // layer 0 on top, as in the chart.js heatmap
    if (plot.heatmap) o.push('colormap name=viridis', 'colorbar', `colorbar style={ylabel={${texEscape(plot.heatmap.vLabel)}}}`, 'enlargelimits=false', 'y dir=reverse');
    if (plot.y2Label) o.push('axis y line*=left');
  } else {
    o.push('axis y line*=right', 'axis x line=none', `ylabel={${texEscape(plot.y2Label ?? '')}}`, `legend style={font=\\fontsize{${fontSize * 0.9}}{${fontSize}}\\selectfont, draw=none, fill=none, at={(0.5,-0.35)}, anchor=north, legend columns=2}`);
  }
  return o;
}

export function toPgfplots(plot: PlotData, preset: 'single' | 'double' = 'single', fontSize?: number): string {
  const p = PRESETS[preset];
  const fs = fontSize ?? p.fontSize;
  // pgfplots' width/height include labels only approximately; the axis box is set a little smaller
  const w = +(p.widthIn * 0.82).toFixed(2);
  const h = +(p.heightIn * 0.7).toFixed(2);
  // a count x axis (tokens, parameters) in the K/M/B the SVG/PDF figures use: data and label both in that unit
  const unit = xAxisUnit(plot);
  const sx = inUnit(unit?.factor ?? 1);
  const xLabel = unit?.label ?? plot.xLabel;
  const groups = [...new Set(plot.series.map((s) => s.group))];
  const colors = groups.map((g) => {
    const n = parseInt(seriesColor(g).slice(1), 16);
    return `\\definecolor{${colorName(g)}}{RGB}{${(n >> 16) & 255},${(n >> 8) & 255},${n & 255}}`;
  });
  const vl = (plot.vlines ?? []).map((v) => {
    const ys = plot.series.flatMap((s) => s.points.map((q) => q.y)).filter((y): y is number => y !== null && Number.isFinite(y));
    const lo = Math.min(...ys);
    const hi = Math.max(...ys);
    return `\\addplot[gray, dashed, no markers, forget plot] coordinates {(${sx(v.x)},${lo}) (${sx(v.x)},${hi})} node[pos=1, anchor=north west, font=\\scriptsize] {${texEscape(v.label)} ${+sx(v.x).toPrecision(3)}};`;
  });
  const lines = [
    `% ${texEscape(plot.title)} -- generated by Sparsity Lab (chart kind ${plot.kind}); data inline.`,
    '% Compile on its own: pdflatex figure.tex',
    ...(unit && unit.factor !== 1 ? [`% x values in the axis unit (${unit.suffix || 'plain counts'}); the CSV/JSON exports keep ${texEscape(plot.xLabel.match(/\(([KMBT])\)\s*$/)?.[1] ?? 'the plotted unit')}`] : []),
    ...provenanceLines(plot, '% ').slice(1).map((l) => `% ${texEscape(l.slice(2).replace(/[\r\n]+/g, ' '))}`),
    '\\documentclass[border=2pt]{standalone}',
    '\\usepackage{pgfplots}',
    '\\usepgfplotslibrary{fillbetween}',
    '\\pgfplotsset{compat=1.16}',
    ...colors,
    '\\begin{document}',
    '\\begin{tikzpicture}',
    `\\begin{axis}[\n  ${axisOptions(plot, 'y', w, h, fs, preset, xLabel).join(',\n  ')}\n]`,
    ...plotLines(plot, 'y', sx),
    ...(plot.kind === 'activation-vs-tokens' && plot.series.some((s) => s.role === 'fit') ? ['\\addlegendimage{gray, thick, no markers}', '\\addlegendentry{fitted curve}'] : []),
    ...(plot.series.some((s) => s.role === 'dropped') ? ['\\addlegendimage{gray, only marks, mark=o}', '\\addlegendentry{warm-up, not fitted}'] : []),
    ...vl,
    '\\end{axis}',
  ];
  if (plot.y2Label) lines.push(`\\begin{axis}[\n  ${axisOptions(plot, 'y2', w, h, fs, preset).join(',\n  ')}\n]`, ...plotLines(plot, 'y2', sx), '\\end{axis}');
  lines.push('\\end{tikzpicture}', '\\end{document}', '');
  return lines.join('\n');
}
