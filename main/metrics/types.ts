/** Options and results of the measurements (issue 4 "Result"). Every choice is recorded with the result. */
import type { ActivationStats } from './stats';
import type { ThresholdMode } from './thresholds';
import type { SearchRecord } from '../api/domains/sessions';
import type { ExecutionPlan } from '../api/domains/runs';

export type Method = 'cett-ppl' | 'relu' | 'topk-token' | 'topk-batch' | 'fat';

export interface CettPplOptions {
  /** PPL may rise by p% (paper Sec. 4.2); any p > 0, presets 1/5/10 */
  p: number;
  /** outer bisection tolerance on CETT (1e-3 research code, 1e-6 demo code) */
  tol: number;
  thresholdMode: ThresholdMode;
  /** bytes of CETT curves kept between outer steps (else the dense pass is redone) */
  cacheBytes?: number;
  /** how CETT_l(t) is evaluated: 'js' one-pass curve (every core), 'ort' lazy probe graph, 'fused' search graph; 'auto': fused on a GPU, js on the CPU */
  curveEngine?: 'auto' | 'js' | 'ort' | 'fused';
  /**
   * fused engine: search the outer bisection's two possible next CETT targets in the same call, so the next step
   * needs no dense stream (one forward instead of two) at the price of three searches per call
   */
  speculate?: boolean;
  /**
   * CPU curve engine ('js'): build a batch's CETT curves while the next batch's dense forward runs, when the runner
   * runs in the inference worker (default on; the same numbers either way)
   */
  overlapCurves?: boolean;
}

/** Resumable state of the outer search, saved after every completed step. */
export interface SearchState {
  l: number;
  r: number;
  history: { c: number; pplRatio: number; perCheckpoint: number[] }[];
  /** series: results of checkpoints already measured at the final CETT */
  finals?: Record<string, CheckpointResult>;
}

export interface StepHooks {
  /** state to resume from (same job) */
  resume?: SearchState;
  /** called after each completed step with the whole state (the job persists it) */
  onStep?: (state: SearchState) => Promise<void> | void;
}

export interface CheckpointResult extends ActivationStats {
  checkpoint: string;
  tokensSeen?: number;
  method: Method;
  /** cett-ppl: p; baselines: undefined */
  p?: number;
  /** CETT found (cett-ppl) or applied (series / CETT sweep) */
  cett?: number;
  /** baseline parameter (fat ε, top-k fraction kept) */
  param?: number;
  /** per layer ε_l, averaged over batches as the authors' calc_threshold_for_each_layer.py does */
  thresholds: number[];
  /** per batch, per layer ε actually applied (authors' semantics: each batch its own thresholds) */
  thresholdsPerBatch: number[][];
  /** layers × batches where no candidate met the target: ε = 0 (the authors' code would wrap to q99) */
  clampedLow: { batch: number; layer: number }[];
  /** [L][F] τ_{l,i} = ε_l / ‖W_out[:, i]‖ from the averaged ε_l */
  tau: number[][];
  pplDense: number;
  pplSparse: number;
  /** mean over batches of exp(loss_sparse − loss_dense) (authors' semantics) */
  pplRatio: number;
  /** exp(mean loss_sparse − mean loss_dense) over all tokens */
  pplRatioPooled: number;
  tokens: number;
  sequences: number;
  seqLen: number;
  batch: number;
  bosPerSequence: boolean;
  provider: string;
  dtype: string;
  /** whole-model or streamed execution, the device and memory planned (main/inference/plan.ts) */
  execution?: ExecutionPlan;
  fallbackReasons: string[];
  /** cett: how the CETT curves were evaluated (js one-pass curve / ort probe) */
  curveEngine?: 'js' | 'ort' | 'fused';
  /** cett: the threshold search's choices that decide the number (PreparedTarget.searchRecord) */
  search?: SearchRecord;
}

/** What a CETT threshold search did, recorded with the run (issue 17); one definition, in the contract. */
export type { SearchRecord } from '../api/domains/sessions';

export interface MeasureResult extends CheckpointResult {
  tol?: number;
  thresholdMode?: ThresholdMode;
  /** outer bisection steps: CETT tried and the mean PPL ratio it gave */
  searchHistory?: SearchState['history'];
  forwardPasses: number;
  /** fused engine: graph calls and CETT candidate evaluations (per layer) of the threshold search */
  searchStats?: { calls: number; evaluations: number; iterations: number; targets: number; replays?: number };
  timingsMs: Record<string, number>;
  options: Record<string, unknown>;
}

export interface SeriesResult {
  method: 'cett-ppl';
  p: number;
  cett: number;
  tol: number;
  thresholdMode: ThresholdMode;
  /** checkpoints whose mean PPL ratio drove the search (the last k) */
  searchedOn: string[];
  searchHistory: SearchState['history'];
  checkpoints: CheckpointResult[];
  forwardPasses: number;
  timingsMs: Record<string, number>;
  options: Record<string, unknown>;
}

export interface SweepPoint {
  param: number;
  pplRatio: number;
  pplSparse: number;
  activationRatio: number;
}
