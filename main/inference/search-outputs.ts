/**
 * The fused search graph's per-layer outputs (main/graph/search-graph.ts: eps, clamped_low, grid_start/end and the
 * evaluated bisection nodes eval_mid/cett/t/active) read into a search step's result: one reader for the whole-model
 * runner (one graph over every layer) and the streamed one (a graph per block of layers).
 */
import type * as ort from 'onnxruntime-node';
import type { ForwardResult, SearchStepResult } from './runner-types';

export type SearchOutputs = Omit<SearchStepResult, keyof ForwardResult>;

/** an empty result for L layers, filled by addSearchOutputs */
export function emptySearchOutputs(L: number): SearchOutputs {
  return {
    eps: new Float32Array(L),
    clampedLow: new Array<boolean>(L).fill(false),
    evaluated: Array.from({ length: L }, () => []),
    gridStart: new Float32Array(L),
    gridEnd: new Float32Array(L),
  };
}

/** the outputs of a search graph over layers [from, from + its layer count) into `res` */
export function addSearchOutputs(out: ort.InferenceSession.OnnxValueMapType, res: SearchOutputs, from: number): void {
  const eps = out.eps.data as Float32Array;
  const Lb = eps.length;
  res.eps.set(eps, from);
  res.gridStart.set(out.grid_start.data as Float32Array, from);
  res.gridEnd.set(out.grid_end.data as Float32Array, from);
  (out.clamped_low.data as Uint8Array).forEach((x, i) => (res.clampedLow[from + i] = !!x));
  const mid = out.eval_mid.data as BigInt64Array;
  const cett = out.eval_cett.data as Float32Array;
  const t = out.eval_t.data as Float32Array;
  const act = out.eval_active.data as Uint8Array | boolean[];
  // [R, points per iteration, J, Lb]: the layer is the innermost axis
  for (let i = 0; i < act.length; i++) if (act[i]) res.evaluated[from + (i % Lb)].push({ mid: Number(mid[i]), cett: cett[i], t: t[i] });
}
