/**
 * What the charts read from a session: a narrow view over the session store (main/store), so chart code
 * does not depend on the store's tables. `fromSnapshot` builds one from plain data (a JSON snapshot,
 * tests); `openChartSource` (open.ts) adapts a session file.
 * Units here are the stored ones: ratios as fractions in [0, 1], tokens as raw token counts.
 */
import { z } from 'zod';

export interface SourceCheckpoint {
  id: string;
  name: string;
  /** training run the checkpoint belongs to (paper Sec. 5.1, App. E) */
  series?: string;
  /** FFN activation function, e.g. 'relu', 'silu' */
  activation?: string;
  tokensTrained?: number;
  params?: number;
  nonEmbeddingParams?: number;
  /** d_h and L, for the width-depth ratio d_h/L */
  hiddenSize?: number;
  numLayers?: number;
}

/** One layer × token matrix of activation ratios, row-major [layers, tokens]. */
export interface LayerTokenMatrix {
  layers: number;
  tokens: number;
  values: number[];
  tokenLabels?: string[];
}

export interface SourceRun {
  id: string;
  checkpointId: string;
  /** 'cett-ppl' (CETT-PPL-p%), 'cett' (fixed CETT), 'topk', 'fat', 'relu' (paper Sec. 4.1–4.2) */
  method: string;
  status: string;
  p?: number;
  cett?: number;
  /** method parameter: k fraction for top-k, ε for FAT */
  param?: number;
  activationRatio?: number;
  ppl?: number;
  densePpl?: number;
  pplRatio?: number;
  perLayer?: number[];
  layerToken?: LayerTokenMatrix;
  /** share of tokens on which each neuron is active, all layers concatenated [layers × d_f] */
  neuronFrequency?: number[];
  createdAt?: string;
  /** a CETT-PPL-p% run whose p% target no CETT met (its numbers are the edge of the search): why */
  targetNotMet?: string;
  /**
   * the measure-series run this run is one checkpoint's point of (paper Sec. 5.1: one CETT, searched on the series'
   * last checkpoints, applied to every checkpoint); undefined for a run of its own
   */
  seriesRun?: string;
  /** evaluation tokens the run measured on (its token budget) */
  tokens?: number;
}

/** A sparsity–data fit of one series (laws, paper Sec. 5.1, Eq. 4–5), in the law's units: D in billions of tokens. */
export interface SourceFit {
  series: string;
  form: string;
  params: Record<string, number>;
  /** limit activation ratio (fraction) and its confidence interval */
  A0: number;
  A0Low?: number;
  A0High?: number;
  /** tokens (raw) of the warm-up points left out of the fit */
  droppedTokens?: number[];
  /** pointwise band of the fitted curve (bootstrap), D in billions, A as fraction */
  band?: { x: number[]; lo: number[]; hi: number[] };
}

/** Piecewise-linear fit of A0 against d_h/L (paper Sec. 5.2, Fig. 5): rise until the bottleneck, then flat. */
export interface SourceWidthDepthFit {
  slope: number;
  intercept: number;
  bottleneck: number;
  bottleneckLow?: number;
  bottleneckHigh?: number;
}

export interface ChartSource {
  name: string;
  /** the session (or snapshot) file, named in export metadata */
  file?: string;
  checkpoints(): SourceCheckpoint[];
  runs(): SourceRun[];
  fits(): SourceFit[];
  widthDepthFit?(): SourceWidthDepthFit | undefined;
  chartSettings?(kind: string): unknown;
  saveChartSettings?(kind: string, options: unknown): void;
  close?(): void;
}

const num = z.number().finite();
const snapshotSchema = z.object({
  name: z.string().optional(),
  checkpoints: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      series: z.string().optional(),
      activation: z.string().optional(),
      tokensTrained: num.nonnegative().optional(),
      params: num.positive().optional(),
      nonEmbeddingParams: num.positive().optional(),
      hiddenSize: z.number().int().positive().optional(),
      numLayers: z.number().int().positive().optional(),
    }),
  ),
  runs: z.array(
    z.object({
      id: z.string(),
      checkpointId: z.string(),
      method: z.string(),
      status: z.string(),
      p: num.optional(),
      cett: num.optional(),
      param: num.optional(),
      activationRatio: num.min(0).max(1).optional(),
      ppl: num.positive().optional(),
      densePpl: num.positive().optional(),
      pplRatio: num.positive().optional(),
      perLayer: z.array(num).optional(),
      layerToken: z
        .object({ layers: z.number().int().positive(), tokens: z.number().int().positive(), values: z.array(num), tokenLabels: z.array(z.string()).optional() })
        .refine((m) => m.values.length === m.layers * m.tokens, 'layerToken.values must have layers × tokens entries')
        .optional(),
      neuronFrequency: z.array(num.min(0).max(1)).optional(),
      createdAt: z.string().optional(),
      seriesRun: z.string().optional(),
      tokens: num.positive().optional(),
    }),
  ),
  fits: z
    .array(
      z.object({
        series: z.string(),
        form: z.string(),
        params: z.record(z.string(), num),
        A0: num,
        A0Low: num.optional(),
        A0High: num.optional(),
        droppedTokens: z.array(num).optional(),
        band: z.object({ x: z.array(num), lo: z.array(num), hi: z.array(num) }).optional(),
      }),
    )
    .default([]),
  widthDepthFit: z.object({ slope: num, intercept: num, bottleneck: num, bottleneckLow: num.optional(), bottleneckHigh: num.optional() }).optional(),
  chartSettings: z.record(z.string(), z.unknown()).default({}),
});
export type ChartSnapshot = z.input<typeof snapshotSchema>;

/** Validates plain data (e.g. a JSON file's content); `where` names the file in error messages. */
export function parseSnapshot(data: unknown, where: string): ChartSnapshot {
  const r = snapshotSchema.safeParse(data);
  if (!r.success) {
    const first = r.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`${where} is not a valid chart snapshot: ${first.join('; ')}`);
  }
  return r.data;
}

/** An in-memory ChartSource over a snapshot (settings saved in memory; `onSave` persists them). */
export function fromSnapshot(snap: ChartSnapshot, onSave?: (s: ChartSnapshot) => void): ChartSource {
  const s = snapshotSchema.parse(snap);
  return {
    name: s.name ?? 'session',
    checkpoints: () => s.checkpoints,
    runs: () => s.runs,
    fits: () => s.fits,
    widthDepthFit: () => s.widthDepthFit,
    chartSettings: (kind) => s.chartSettings[kind],
    saveChartSettings(kind, options) {
      s.chartSettings[kind] = options;
      onSave?.(s);
    },
  };
}
