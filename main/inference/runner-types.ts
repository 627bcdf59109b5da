/**
 * The seam between the instrumented graphs (main/graph, main/inference) and the measurements
 * (main/metrics). Shapes are named in comments: B sequences of S tokens, L layers, F = d_f neurons.
 * Batches are never padded: every sequence is exactly S real tokens (the last batch may have fewer
 * sequences), so every token position counts.
 */
import type { ModelSpec } from '../checkpoint/types';
import type { ProviderName } from './providers';
import type { ExecutionPlan } from './plan';

/** Which neurons are zeroed before down_proj (paper Sec. 4.1–4.2). `s` = σ(W_gate x) (non-gated: s = a). */
export type MaskMode =
  | { kind: 'dense' }
  /** CETT: skip iff |a_i| < tau[l][i], tau = ε_l / ‖W_out[:, i]‖₂ (the authors' form). tau: L arrays of F. */
  | { kind: 'cett'; tau: Float32Array[] }
  /** FAT-ε: skip iff |s_i| < eps (+1e-18 as the authors' code) */
  | { kind: 'fat'; eps: number }
  /** straightforward ReLU: skip iff s_i == 0 (|s| < 1e-18) */
  | { kind: 'relu' }
  /** Top-k per token: keep the k largest |s_i| of each token */
  | { kind: 'topk-token'; k: number }
  /** Top-k per batch (authors' code): per layer, zero the int(numel·(1−fraction)) smallest |s| of the batch */
  | { kind: 'topk-batch'; fraction: number };

export interface ForwardRequest {
  /** [B, S] token ids */
  ids: Int32Array;
  batch: number; // B
  seqLen: number; // S
  mode: MaskMode;
  /** also return the dense gated intermediates a per layer (needed by the CETT threshold search) */
  captureActivations?: boolean;
}

export interface ForwardResult {
  /** [B, S-1]: NLL of token j+1 given tokens ≤ j, natural log, fp32 */
  nll: Float32Array;
  /** [L, B, S]: number of active (not skipped) neurons per token and layer; dense = F (or counts of a≠0) */
  activeCounts: Float32Array;
  /** [L, F]: for each neuron, on how many of the B·S tokens it was active */
  neuronActiveCounts: Float32Array;
  /** per layer [B·S, F] gated intermediate a, fp32 (only with captureActivations) */
  activations?: Float32Array[];
}

/**
 * One step of the authors' CETT search on one batch in a single call (main/graph/search-graph.ts): dense pass,
 * per-layer bisection over the 65,536-candidate grid for target c resumed from [lo, hi) for `iters` iterations,
 * sparse pass at the resulting thresholds.
 */
export interface SearchStepRequest {
  ids: Int32Array;
  batch: number;
  seqLen: number;
  /**
   * CETT targets (compared in fp32), each with the per-layer bisection interval to resume from (0 and 65535 for a
   * fresh search). The first drives the sparse pass; the others are only searched (their evaluated candidates
   * come back in `evaluated`).
   */
  targets: { c: number; lo: ArrayLike<number>; hi: ArrayLike<number> }[];
  /** bisection iterations this call runs (enough for the widest interval) */
  iters: number;
}

export interface SearchStepResult extends ForwardResult {
  /** per layer ε_l = cand(lo − 1) of the first target, 0 when clamped */
  eps: Float32Array;
  clampedLow: boolean[];
  /** per layer, the candidates this call evaluated (for any target): grid index, CETT there, the threshold value */
  evaluated: { mid: number; cett: number; t: number }[][];
  /** per layer grid bounds (min N, q99 N) — the same for every call on the same batch */
  gridStart: Float32Array;
  gridEnd: Float32Array;
}

export interface ModelRunner {
  spec: ModelSpec;
  provider: ProviderName;
  /** dtype the graph computes in */
  dtype: 'float32' | 'float16';
  /** why a preferred provider was not used (fallback record), empty when the first choice ran */
  fallbackReasons: string[];
  /** per layer [F]: ‖W_out[:, i]‖₂ in fp32 from the checkpoint's weights (paper Sec. 2.2) */
  colNorms: Float32Array[];
  /** whole-model or streamed execution and the memory it was planned for (plan.ts); absent for ONNX-file inputs */
  plan?: ExecutionPlan;
  forward(req: ForwardRequest): Promise<ForwardResult>;
  /** its calls run on another thread (the inference worker): the caller's thread is free while they run */
  offThread?: boolean;
  /** the fused search step; absent where the runner cannot build it (ONNX-file inputs) */
  searchStep?(req: SearchStepRequest): Promise<SearchStepResult>;
  /**
   * Releases the forward (mask-mode) sessions and their device memory; the next forward reopens what it needs. The
   * fused search calls it once the dense losses are in, so that one copy of the weights is on the device while it
   * searches (each onnxruntime session holds its own copy of the initializers and its own arena; issue 15).
   */
  releaseForward?(): Promise<void>;
  /** each onnxruntime session opened so far: which graph, the time to build it and to create the session (ms) */
  sessionTimings?: SessionTiming[];
  dispose(): Promise<void>;
}

export interface SessionTiming {
  /** the graph's key (mode, search tuning …) */
  graph: string;
  /** building the graph protobuf (0 when it came from the graph cache) */
  buildMs: number;
  /** onnxruntime's session creation: parse, optimisation, weights onto the device */
  createMs: number;
}
