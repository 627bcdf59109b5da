import { z } from 'zod';

/**
 * Commands of the 'charts' domain. The engine owns ALL styling: `charts.config` returns the final,
 * JSON-serialisable chart.js configuration (built by main/charts/spec.ts, the same code the CLI export
 * uses), so the renderer only adds interaction (zoom/pan, tooltips). Kinds follow the paper's figures
 * (Sparsing Law, Luo et al., arXiv 2411.02335, Sec. 4–5; figure numbers in comments).
 */
export const CHART_KINDS = [
  'activation-vs-tokens', // Fig 4/11: activation ratio vs tokens per series, fitted curves, warm-up marked
  'limit-vs-params', // Fig 7: limit activation ratio A0 vs parameters
  'limit-vs-width-depth', // Fig 5: A0 vs d_h/L with the piecewise (bottleneck) fit
  'convergence', // Fig 8: derivative of the sparsity–data curve vs tokens/parameters
  'per-layer-activation', // activation ratio per layer
  'layer-token-heatmap', // layer × token activation ratio (README sample figure)
  'neuron-frequency', // Fig 9/16: sorted neuron activation frequency
  'pareto', // Fig 2: PPL vs activation ratio for CETT, Top-k, FAT-ε
  'cett-sweep', // Fig 15: PPL and activation ratio vs CETT
] as const;
export type ChartKind = (typeof CHART_KINDS)[number];

export const EXPORT_FORMATS = ['png', 'svg', 'pdf', 'csv', 'json', 'tex'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Paper presets: single column 3.5 in, double column 7 in (width; height follows the preset). */
export const chartOptionsSchema = z
  .object({
    preset: z.enum(['single', 'double']).optional(),
    fontFamily: z.string().min(1).max(80).optional(),
    /** font size in points (printed size) */
    fontSize: z.number().min(4).max(24).optional(),
    xScale: z.enum(['linear', 'log']).optional(),
    yScale: z.enum(['linear', 'log']).optional(),
    /** series ids to plot (default: all the session has) */
    series: z.array(z.string().max(200)).max(200).optional(),
    /**
     * a run id for the charts of run-level data (per-layer, heatmap, neuron frequency, Pareto): that run is plotted
     * (Pareto: the sweeps on its checkpoint), or an error says why it cannot be; default: the latest suitable run(s)
     */
    run: z.string().max(200).optional(),
    title: z.string().max(200).optional(),
    /** on-screen magnification: multiplies sizes, fonts and line widths alike (1 = printed size in pt) */
    scale: z.number().min(0.5).max(4).optional(),
  })
  .strict();
export type ChartOptions = z.infer<typeof chartOptionsSchema>;

const kind = z.enum(CHART_KINDS);
const sessionPath = z.string().min(1).max(4096);

export const chartsRequests = {
  'charts.kinds': z.object({}).strict(),
  'charts.config': z.object({ sessionPath: sessionPath.optional(), kind, options: chartOptionsSchema.optional() }).strict(),
  'charts.export': z
    .object({
      sessionPath: sessionPath.optional(),
      kind,
      format: z.enum(EXPORT_FORMATS),
      /** file to write; may be left out with returnData (e.g. copy to clipboard) */
      out: z.string().min(1).max(4096).optional(),
      preset: z.enum(['single', 'double']).optional(),
      dpi: z.number().int().min(36).max(1200).optional(),
      options: chartOptionsSchema.optional(),
      /** also return the file as base64 (clipboard in Electron); only for files under 20 MB */
      returnData: z.boolean().optional(),
      /** replace an existing file of the same type at `out` (otherwise an existing file is refused) */
      overwrite: z.boolean().optional(),
    })
    .strict()
    .refine((r) => r.out !== undefined || r.returnData === true, { message: 'give out (a file path) or returnData: true', path: ['out'] }),
  /** chart settings saved in the session (restored when the chart is reopened) */
  'charts.settings.get': z.object({ sessionPath: sessionPath.optional(), kind }).strict(),
  'charts.settings.save': z.object({ sessionPath: sessionPath.optional(), kind, options: chartOptionsSchema }).strict(),
  /**
   * the training series' points exactly as the activation-vs-tokens chart selects them (one measurement per line:
   * `run` picks it as the chart's options.run does), as stored: raw tokens trained and activation ratio fractions,
   * for the law fit (the Laws page)
   */
  'charts.seriesPoints': z.object({ sessionPath: sessionPath.optional(), run: z.string().max(200).optional(), series: z.array(z.string().max(200)).max(200).optional() }).strict(),
};

/** One training series' line for the law fit (charts.seriesPoints): its stored numbers and the measurement used. */
export interface SeriesPointsLine {
  series: string;
  activation?: string;
  /** which measurement the line is made of, e.g. 'relu-64x2: measure-series run r12; 3 other run(s) … not plotted' */
  note: string;
  /** the measure-series run the line is made of, if any */
  seriesRun?: string;
  /** tokens: raw count; activationRatio: fraction; run: the run id of that point; label: checkpoint · method · run */
  points: { tokens: number; activationRatio: number; run: string; checkpoint: string; label: string }[];
}

/** One plotted point. x/y are in plotted units (%, billions of tokens, …). */
export interface PlotPoint {
  x: number;
  y: number | null;
  /** heatmap value */
  v?: number;
  /** what produced the point, shown in tooltips: run id, checkpoint name, method */
  run?: string;
}

export type SeriesRole = 'measured' | 'fit' | 'band-low' | 'band-high' | 'dropped' | 'errorbar' | 'cells';

export interface PlotSeries {
  id: string;
  label: string;
  role: SeriesRole;
  /** index of the colour/marker group (series of one model share it) */
  group: number;
  /** 'y2' = right axis (cett-sweep) */
  axis?: 'y' | 'y2';
  points: PlotPoint[];
}

/** The plotted data of a chart, independent of chart.js: also what CSV/JSON/pgfplots export. */
export interface PlotData {
  kind: ChartKind;
  title: string;
  /** what a one-run or one-model figure shows ('relu · CETT-PPL-1% · run r1'; also after ' — ' in its title); the
   * window's caption under the kind's heading says it */
  subject?: string;
  xLabel: string;
  yLabel: string;
  y2Label?: string;
  xScale: 'linear' | 'log';
  yScale: 'linear' | 'log';
  /** x counts something in this many units per plotted 1 (1e9: billions of tokens or parameters); the figure picks
   * K/M/B for the axis from the data's range ("Tokens trained (M)") while the data and its CSV stay in billions. */
  xMagnitude?: number;
  series: PlotSeries[];
  /** vertical reference lines (e.g. the width-depth bottleneck) */
  vlines?: { x: number; label: string; lo?: number; hi?: number }[];
  /** heatmap extras */
  heatmap?: { rows: number; cols: number; min: number; max: number; vLabel: string };
  /** human notes (e.g. "no fit stored and none computed for series X") */
  notes: string[];
  /** ids the user may pick with options.series (series names, checkpoint names, method groups) */
  choices?: string[];
  /** runs the user may pick with options.run (run-level charts), newest last */
  runChoices?: { id: string; label: string }[];
  /** what the figure shows when no run is picked ('latest run', 'latest run per series', …): the picker's first entry */
  runDefault?: string;
  /** what the figure shows, embedded in every export (PDF info, SVG <metadata>, CSV/JSON/TeX header) */
  provenance?: ChartProvenance;
}

/** The session and the runs behind a chart's numbers. */
export interface ChartProvenance {
  session: string;
  /** the session file, when the chart was read from one */
  sessionFile?: string;
  runs: { id: string; checkpoint: string; method: string; p?: number; cett?: number; param?: number; label: string }[];
}

export interface ChartKindInfo {
  kind: ChartKind;
  title: string;
  needs: string;
}

export interface ChartConfigResult {
  plot: PlotData;
  /** chart.js configuration, JSON only (no functions); see main/charts/spec.ts for the `lab` hints */
  config: Record<string, unknown>;
  /** size in points at the chosen preset (1 CSS px of the config = 1 pt at scale 1) */
  widthPt: number;
  heightPt: number;
  options: ChartOptions;
}

export interface ChartExportResult {
  /** the file written; absent when only data was returned */
  path?: string;
  format: ExportFormat;
  bytes: number;
  widthPx?: number;
  heightPx?: number;
  base64?: string;
}

export interface ChartsResponses {
  'charts.kinds': ChartKindInfo[];
  'charts.config': ChartConfigResult;
  'charts.export': ChartExportResult;
  'charts.settings.get': { options: ChartOptions | null };
  'charts.settings.save': { saved: true };
  'charts.seriesPoints': { lines: SeriesPointsLine[]; runChoices: { id: string; label: string }[]; tokensUnknown: string[] };
}
