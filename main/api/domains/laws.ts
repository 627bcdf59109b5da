import { z } from 'zod';
import { cancelIdSchema } from './runs';

/**
 * Commands of the 'laws' domain (issue 6; Sparsing Law, Luo et al., arXiv 2411.02335, Sec. 5): fitting the sparsity–data laws, limit vs scale,
 * width-depth bottleneck, convergence speed, and importing points measured elsewhere. Tokens are raw counts
 * in requests; the laws use D = tokens / 1e9 (billions). Activation ratios are fractions in [0, 1].
 */
export const LAW_FORM_NAMES = ['relu', 'silu', 'log', 'sigmoid'] as const;
export type LawForm = (typeof LAW_FORM_NAMES)[number];

const finite = z.number().finite();
const text = z.string().max(200);
export const lawPointSchema = z
  .object({
    tokens: finite.nonnegative(),
    activationRatio: finite.min(0).max(1),
    series: text.optional(),
    params: finite.positive().optional(),
    width: finite.positive().optional(),
    depth: finite.positive().optional(),
    activation: z.string().max(64).optional(),
    source: z.string().max(4096).optional(),
  })
  .strict();
/** the most points one request (and one imported file) may carry */
export const MAX_LAW_POINTS = 200_000;
const points = z.array(lawPointSchema).min(1).max(MAX_LAW_POINTS);

/** options of the sparsity–data fit shared by every command that fits series */
const fitOptions = {
  /** law form; default: relu-family activation → relu, other activation → silu, none → by the trend */
  form: z.enum(LAW_FORM_NAMES).optional(),
  /** activation function for every series (overrides the points' column) */
  activation: z.string().max(64).optional(),
  dropFirst: z.number().int().min(0).max(100_000).optional(),
  autoWarmup: z.boolean().optional(),
  /** bootstrap resamples (0: no intervals); default 200 */
  bootstrap: z.number().int().min(0).max(5000).optional(),
  seed: z.number().int().min(0).max(2 ** 32 - 1).optional(),
  level: z.number().min(0.5).max(0.999).optional(),
  curvePoints: z.number().int().min(2).max(5000).optional(),
};

/** a name the client gives the request to cancel it with laws.cancel (main/engine/cancellable.ts) */
const cancel = { cancelId: cancelIdSchema.optional() };

export const lawsRequests = {
  'laws.fit': z.object({ points, series: z.array(text).max(1000).optional(), ...fitOptions, ...cancel }).strict(),
  'laws.importPoints': z.object({ path: z.string().min(1).max(4096), ...cancel }).strict(),
  /** limits of each series (fitted from `points` with width and depth, or given in `limits`) against d_h/L */
  'laws.widthDepth': z
    .object({
      points: points.optional(),
      limits: z.array(z.object({ ratio: finite.positive(), A0: finite.min(0).max(1), series: text.optional() }).strict()).max(10_000).optional(),
      ...fitOptions,
      ...cancel,
    })
    .strict()
    .refine((r) => !!r.points !== !!r.limits, { message: 'give either points or limits' }),
  /** limits of each series (fitted from `points` with params, or given in `limits`) against parameter count */
  'laws.limitVsScale': z
    .object({
      points: points.optional(),
      limits: z
        .array(z.object({ series: text, params: finite.positive(), A0: finite.min(0).max(1), A0Low: finite.optional(), A0High: finite.optional(), activation: z.string().max(64).optional() }).strict())
        .max(10_000)
        .optional(),
      ...fitOptions,
      ...cancel,
    })
    .strict()
    .refine((r) => !!r.points !== !!r.limits, { message: 'give either points or limits' }),
  /** derivative of the fitted sparsity–data curves against tokens/parameters (Fig. 8) */
  'laws.convergence': z
    .object({
      points: points.optional(),
      fits: z
        .array(z.object({ series: text, form: z.enum(LAW_FORM_NAMES), params: z.record(z.string(), finite), A0: finite, parameters: finite.positive() }).strict())
        .max(1000)
        .optional(),
      /** tokens/parameters ratios: from..to in `steps` steps; default 20..100, 81 steps (paper Fig. 8) */
      ratios: z.object({ from: finite.positive(), to: finite.positive(), steps: z.number().int().min(2).max(10_000) }).strict().optional(),
      ...fitOptions,
      ...cancel,
    })
    .strict()
    .refine((r) => !!r.points !== !!r.fits, { message: 'give either points or fits' }),
  /**
   * cancels the laws request sent with this cancelId: one running in the laws worker (a large import or fit) ends at
   * once, the worker terminated; a small one on the engine's thread is short by construction (off-thread.ts) and is
   * over before the cancel is read ({ cancelled: false })
   */
  'laws.cancel': z.object({ id: cancelIdSchema }).strict(),
} satisfies Record<string, z.ZodType>;

export type LawPointInput = z.infer<typeof lawPointSchema>;

export interface FittedPoint {
  tokens: number;
  /** billions of tokens */
  D: number;
  A: number;
  dropped: boolean;
  fitted: number | null;
  /** A − fitted, for points in the fit */
  residual: number | null;
}

export interface LawFitResult {
  form: LawForm;
  formPicked: 'user' | 'activation' | 'trend';
  formula: string;
  params: Record<string, number>;
  A0: number;
  /** whether A0 is the limit for D → ∞ (false for the log form, where A0 = A(0)) */
  A0IsLimit: boolean;
  A0Low?: number;
  A0High?: number;
  /** percentile intervals (residual bootstrap) for every parameter and A0 */
  ci: Record<string, { low: number; high: number }>;
  level: number;
  stats: { n: number; parameters: number; sse: number; mae: number; rmse: number; r2: number | null };
  points: FittedPoint[];
  droppedTokens: number[];
  warmup: { rule: 'none' | 'first-k' | 'auto'; k: number; reason: string };
  curve: { x: number[]; y: number[] };
  band?: { x: number[]; lo: number[]; hi: number[] };
  bootstrap: { method: 'residual'; samples: number; seed: number; failed: number };
  optimizer: { library: string; starts: number; iterations: number };
  warnings: string[];
}

export interface LawPoint {
  tokens: number;
  activationRatio: number;
  series?: string;
  params?: number;
  width?: number;
  depth?: number;
  activation?: string;
  /** where the row came from: file:line (CSV) or file[index] (JSON) */
  source?: string;
}

export interface RowError {
  file: string;
  /** 1-based line (CSV) */
  line?: number;
  /** 0-based row index (JSON) */
  index?: number;
  column: string;
  value: string;
  problem: string;
}

export interface PiecewiseFit {
  slope: number;
  intercept: number;
  bottleneck: number;
  /** the plateau level a + s·x_b */
  plateau: number;
  bottleneckLow?: number;
  bottleneckHigh?: number;
  level: number;
  sse: number;
  rmse: number;
  n: number;
  curve: { x: number[]; y: number[] };
  bootstrap: { method: 'residual'; samples: number; seed: number };
  warnings: string[];
}

export interface ScalePoint {
  series: string;
  params: number;
  A0: number;
  A0Low?: number;
  A0High?: number;
  activation?: string;
}

export interface ScaleTrend {
  activation: string;
  /** least-squares slope of A0 against log10(params): change of A0 per tenfold parameters */
  slopePerDecade: number;
  intercept: number;
  n: number;
}

export interface ConvergenceSeries {
  series: string;
  /** tokens / parameters */
  ratio: number[];
  /** D = ratio·N, billions of tokens */
  D: number[];
  /** d(1 − A)/dD per billion tokens (the paper's sign: ReLU positive) */
  dSparsity: number[];
}

export type SeriesLawFit = LawFitResult & { series: string; activation?: string; parameters?: number; widthDepthRatio?: number };

/** a series laws.fit left out: too few points (or distinct token counts) for its form; `reason` says how many it needs */
export interface NotFittedSeries {
  series: string;
  points: number;
  reason: string;
}

export interface ImportedPoints {
  file: string;
  points: LawPoint[];
  series: { name: string; n: number; activation?: string; params?: number; widthDepthRatio?: number }[];
}

export interface WidthDepthResult {
  limits: { series?: string; ratio: number; A0: number; A0Low?: number; A0High?: number }[];
  fit: PiecewiseFit;
  fits?: SeriesLawFit[];
}

export interface LawsResponses {
  /** notFitted: the series with too few points, named (the others are fitted); absent when every series was */
  'laws.fit': { fits: SeriesLawFit[]; notFitted?: NotFittedSeries[] };
  'laws.importPoints': ImportedPoints;
  'laws.widthDepth': WidthDepthResult;
  'laws.limitVsScale': { points: ScalePoint[]; trends: ScaleTrend[]; fits?: SeriesLawFit[] };
  'laws.convergence': { series: ConvergenceSeries[]; fits?: SeriesLawFit[] };
  'laws.cancel': { cancelled: boolean };
}
