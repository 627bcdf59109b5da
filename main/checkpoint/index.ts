/**
 * Checkpoints in: a Hugging Face folder (config.json + safetensors or pytorch_model.bin + tokenizer) or an
 * .onnx file becomes a
 * LoadedCheckpoint (load.ts; open.ts off the event loop); `inspectCheckpoint` gives the architecture card the UI and `inspect` CLI show.
 */
import { loadCheckpoint } from './load';
import { openCheckpoint, type OpenOptions } from './open';
import type { LoadedCheckpoint } from './types';
import type { CheckpointCard } from '../api/domains/checkpoints';

export type { LoadedCheckpoint } from './types';
/** loadCheckpoint: on the calling thread (tools, benchmarks); openCheckpoint: what the engine uses (off the event loop when large) */
export { loadCheckpoint, openCheckpoint, type OpenOptions };

/** The architecture card: the contract's type (main/api/domains/checkpoints.ts), one definition for both. */
export type CheckpointSummary = CheckpointCard;

export function summarize(c: LoadedCheckpoint): CheckpointSummary {
  const s = c.spec;
  return {
    path: c.path,
    family: s.family,
    modelType: s.modelType,
    activation: s.activation,
    layers: s.numLayers,
    hiddenSize: s.hiddenSize,
    intermediateSize: s.intermediateSize,
    heads: s.numHeads,
    kvHeads: s.numKvHeads,
    vocabSize: s.vocabSize,
    parameters: s.parameters,
    nonEmbeddingParameters: s.nonEmbeddingParameters,
    widthDepthRatio: s.widthDepthRatio,
    maxPositions: s.maxPositions,
    dtype: s.dtype,
    gated: s.gated,
    tokenizer: c.tokenizer?.source ?? null,
    contentHash: c.contentHash,
    notices: c.notices,
  };
}

export async function inspectCheckpoint(p: string, opts: OpenOptions = {}): Promise<CheckpointSummary> {
  return summarize(await openCheckpoint(p, opts));
}
