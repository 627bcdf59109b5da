/**
 * Checkpoints in: a Hugging Face folder (config.json + safetensors or pytorch_model.bin + tokenizer) or an
 * .onnx file becomes a
 * LoadedCheckpoint; `inspectCheckpoint` gives the architecture card the UI and `inspect` CLI show.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';
import { loadHfFolder } from './hf';
import { loadOnnx } from './onnx';
import type { Family, LoadedCheckpoint } from './types';
import type { CheckpointCard } from '../api/domains/checkpoints';

export type { LoadedCheckpoint } from './types';

/** `hash: false` (HF folders): skip the content hash, the one step of opening that reads every weight byte (hf.ts). */
export async function loadCheckpoint(p: string, opts: { family?: Family; hash?: boolean } = {}): Promise<LoadedCheckpoint> {
  const abs = path.resolve(p);
  if (!fs.existsSync(abs)) throw new LabError('NOT_FOUND', `${abs}: no such file or folder`);
  const st = fs.statSync(abs);
  if (st.isDirectory()) return loadHfFolder(abs, opts);
  if (abs.toLowerCase().endsWith('.onnx')) return loadOnnx(abs, opts);
  // a file of a Hugging Face folder (config.json, model.safetensors, pytorch_model.bin, an index) stands for the folder
  const base = path.basename(abs);
  if (/^(config\.json|.*\.safetensors|pytorch_model.*\.bin|.*\.index\.json)$/.test(base) && fs.existsSync(path.join(path.dirname(abs), 'config.json')))
    return loadHfFolder(path.dirname(abs), opts);
  throw new LabError('BAD_CHECKPOINT', `${abs}: not a checkpoint (expected a Hugging Face model folder or an .onnx file)`);
}

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

export async function inspectCheckpoint(p: string, opts: { family?: Family } = {}): Promise<CheckpointSummary> {
  return summarize(await loadCheckpoint(p, opts));
}
