/**
 * The mask parameter of a forward request as graph feeds (main/graph/masks.ts declareMaskInputs), and the graph kind
 * that computes it: one implementation for the whole-model runner and the streamed one.
 */
import * as ort from 'onnxruntime-node';
import { LabError } from '../api/errors';
import type { ModelSpec } from '../checkpoint/types';
import type { MaskMode } from './runner-types';

export function maskFeeds(s: ModelSpec, mode: MaskMode, batch: number, seqLen: number): { kind: MaskMode['kind']; feeds: Record<string, ort.Tensor> } {
  let kind = mode.kind;
  const feeds: Record<string, ort.Tensor> = {};
  if (mode.kind === 'cett') {
    if (mode.tau.length !== s.numLayers || mode.tau.some((t) => t.length !== s.intermediateSize))
      throw new LabError('BAD_REQUEST', `forward: tau must be ${s.numLayers} arrays of ${s.intermediateSize} thresholds`);
    const tau = new Float32Array(s.numLayers * s.intermediateSize);
    mode.tau.forEach((t, l) => tau.set(t, l * s.intermediateSize));
    feeds.tau = new ort.Tensor('float32', tau, [s.numLayers, s.intermediateSize]);
  } else if (mode.kind === 'fat') feeds.eps = new ort.Tensor('float32', new Float32Array([mode.eps + 1e-18]), [1]);
  else if (mode.kind === 'topk-token') {
    const k = Math.max(0, Math.min(s.intermediateSize, Math.round(mode.k)));
    feeds.k = new ort.Tensor('int64', new BigInt64Array([BigInt(k)]), [1]);
  } else if (mode.kind === 'topk-batch') {
    const numel = batch * seqLen * s.intermediateSize;
    const kzero = Math.floor(numel * (1 - mode.fraction)); // int(numel·(1−k)) as prune_topk
    if (kzero <= 0) kind = 'relu'; // nothing forced to zero: only exact zeros are inactive (same as the authors' code)
    else feeds.kzero = new ort.Tensor('int64', new BigInt64Array([BigInt(Math.min(kzero, numel))]), [1]);
  }
  return { kind, feeds };
}
