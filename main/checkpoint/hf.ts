/**
 * A Hugging Face model folder → LoadedCheckpoint: config.json through the family adapter, weights from
 * model.safetensors (or its sharded index), canonical names, shapes checked against the config, the
 * tokenizer, a content hash, and notices (NaN/Inf weights, custom model types).
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';
import { ConfigReader, type RawConfig } from './config';
import { pickAdapter } from './adapters/registry';
import type { SpecDraft } from './adapters/types';
import { rawFromEntry, readSafetensorsHeader, readShardedSafetensors } from './safetensors';
import { weightFromRaw, type RawTensor } from './raw';
import { readShardedTorchBin, readTorchBin } from './torch-pickle';
import { deferredTokenizer, loadTokenizer, type TokenizerFacts } from './tokenizer';
import { hashFiles } from './hash';
import { countNonFiniteF32 } from './finite';
import type { Family, LoadedCheckpoint, ModelSpec, StorageDType, WeightTensor } from './types';
import { JSON_LIMITS, readCheckpointJson } from './json-file';

function weightSources(dir: string): { tensors: RawTensor[]; files: string[] } {
  const single = path.join(dir, 'model.safetensors');
  const index = path.join(dir, 'model.safetensors.index.json');
  if (fs.existsSync(single)) return { tensors: readSafetensorsHeader(single).map(rawFromEntry), files: [single] };
  if (fs.existsSync(index)) {
    const entries = readShardedSafetensors(index);
    return { tensors: entries.map(rawFromEntry), files: [index, ...new Set(entries.map((e) => e.file))].sort() };
  }
  const others = fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors'));
  if (others.length === 1) {
    const f = path.join(dir, others[0]);
    return { tensors: readSafetensorsHeader(f).map(rawFromEntry), files: [f] };
  }
  const bin = path.join(dir, 'pytorch_model.bin');
  if (fs.existsSync(bin)) return { tensors: readTorchBin(bin), files: [bin] };
  const binIndex = path.join(dir, 'pytorch_model.bin.index.json');
  if (fs.existsSync(binIndex)) {
    const { tensors, files } = readShardedTorchBin(binIndex);
    return { tensors, files: [binIndex, ...files] };
  }
  throw new LabError('BAD_CHECKPOINT', `${dir}: no weights found (expected model.safetensors, model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json)`);
}

/** Every canonical tensor the spec implies, with its shape (types.ts naming). */
export function expectShapes(d: SpecDraft): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const { hiddenSize: h, intermediateSize: f, numHeads: H, numKvHeads: K, headDim: hd, vocabSize: V } = d;
  const layerNorm = d.norm === 'layer';
  const norm = (name: string) => {
    m.set(name + '.weight', [h]);
    if (layerNorm) m.set(name + '.bias', [h]);
  };
  m.set('embed.tokens', [V, h]);
  if (d.positional === 'learned') m.set('embed.positions', [d.maxPositions + d.positionOffset, h]);
  norm('final_norm');
  for (let l = 0; l < d.numLayers; l++) {
    const p = `layers.${l}.`;
    norm(p + 'attn_norm');
    norm(p + 'mlp_norm');
    m.set(p + 'attn.q.weight', [H * hd, h]);
    m.set(p + 'attn.k.weight', [K * hd, h]);
    m.set(p + 'attn.v.weight', [K * hd, h]);
    m.set(p + 'attn.o.weight', [h, H * hd]);
    if (d.qkvBias) {
      m.set(p + 'attn.q.bias', [H * hd]);
      m.set(p + 'attn.k.bias', [K * hd]);
      m.set(p + 'attn.v.bias', [K * hd]);
    }
    if (d.attnOutBias) m.set(p + 'attn.o.bias', [h]);
    if (d.qkNorm) {
      m.set(p + 'attn.q_norm.weight', [hd]);
      m.set(p + 'attn.k_norm.weight', [hd]);
    }
    if (d.gated) m.set(p + 'mlp.gate.weight', [f, h]);
    m.set(p + 'mlp.up.weight', [f, h]);
    m.set(p + 'mlp.down.weight', [h, f]);
    if (d.mlpBias) {
      if (d.gated) m.set(p + 'mlp.gate.bias', [f]);
      m.set(p + 'mlp.up.bias', [f]);
      m.set(p + 'mlp.down.bias', [h]);
    }
  }
  if (!d.tieEmbeddings) m.set('lm_head.weight', [V, h]);
  return m;
}

const SCAN_LIMIT = 4 * 2 ** 30;

function checkFinite(t: WeightTensor, notices: string[], file: string): void {
  // on the stored bits where the tensor can (finite.ts: no decode, no fp32 copy), on decoded values otherwise
  const bad = t.nonFinite ? t.nonFinite() : countNonFiniteF32(t.toFloat32());
  if (bad) notices.push(`${file}: tensor '${t.name}' holds ${bad} NaN/Inf values; results from this checkpoint are unreliable`);
}

/**
 * Reads a folder lazily: config, tokenizer and the weight files' headers (safetensors) or pickles (.bin); no weight
 * byte is read except by the NaN/Inf scan (up to SCAN_LIMIT) and the content hash. `hash: false` skips the hash (it
 * streams every byte of every file once): contentHash is then '' and nothing may be cached under it.
 */
export async function loadHfFolder(dir: string, opts: { family?: Family; scanFinite?: boolean; hash?: boolean; tokenizer?: TokenizerFacts | null } = {}): Promise<LoadedCheckpoint> {
  const cfgFile = path.join(dir, 'config.json');
  if (!fs.existsSync(cfgFile)) throw new LabError('BAD_CHECKPOINT', `${dir}: no config.json (not a Hugging Face model folder)`);
  let raw = readCheckpointJson(cfgFile, JSON_LIMITS.config, 'not valid JSON') as RawConfig;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new LabError('BAD_CHECKPOINT', `${cfgFile}: not a JSON object`);
  if (raw.text_config && typeof raw.text_config === 'object') raw = { ...(raw.text_config as RawConfig), model_type: (raw.text_config as RawConfig).model_type ?? raw.model_type };
  const cfg = new ConfigReader(raw, cfgFile);
  const modelType = cfg.str('model_type', 'unknown');
  const { tensors, files } = weightSources(dir);
  const hasLlamaFields = cfg.has('hidden_size') && cfg.has('intermediate_size') && cfg.has('num_hidden_layers');
  const { adapter, notice } = pickAdapter(modelType, cfgFile, tensors.map((e) => e.name), hasLlamaFields, opts.family);
  const notices: string[] = notice ? [notice] : [];
  const draft = adapter.spec(cfg, modelType);
  const weights = new Map<string, WeightTensor>();
  /** the file's name of each mapped tensor, for errors (the mapped names are the adapter's own) */
  const fileName = new Map<string, string>();
  const dtypeBytes = new Map<StorageDType, number>();
  for (const r of tensors) {
    const mapped = adapter.map(r.name, weightFromRaw(r), draft);
    if (!mapped.length) continue;
    if (!['F32', 'F16', 'BF16'].includes(r.dtype))
      throw new LabError('BAD_CHECKPOINT', `${r.file}: tensor '${r.name}' has dtype ${r.dtype}; weights must be F32, F16 or BF16`);
    for (const t of mapped) {
      if (weights.has(t.name)) throw new LabError('BAD_CHECKPOINT', `${r.file}: tensor '${r.name}' maps to '${t.name}', which another tensor already provides`);
      weights.set(t.name, t);
      fileName.set(t.name, r.name);
    }
    dtypeBytes.set(mapped[0].dtype, (dtypeBytes.get(mapped[0].dtype) ?? 0) + r.byteLength);
  }
  if (!weights.has('lm_head.weight') && !draft.tieEmbeddings) {
    notices.push('no lm_head.weight in the checkpoint: the output layer is tied to the token embeddings');
    draft.tieEmbeddings = true;
  }
  if (weights.has('lm_head.weight') && draft.tieEmbeddings) weights.delete('lm_head.weight'); // a saved copy of the tied matrix
  const where = files.length === 1 ? files[0] : path.join(dir, '(shards)');
  for (const [name, shape] of expectShapes(draft)) {
    const t = weights.get(name);
    if (!t) throw new LabError('BAD_CHECKPOINT', `${where}: missing tensor for '${name}' (expected shape [${shape}] from config.json)`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new LabError('BAD_CHECKPOINT', `${where}: tensor '${fileName.get(name) ?? name}' has shape [${t.shape}] but config.json implies [${shape}]`);
  }
  // config and tensors that disagree (issue 19): layers beyond num_hidden_layers would silently go unmeasured
  let beyond = -1;
  for (const name of weights.keys()) {
    const m = /^layers\.(\d+)\./.exec(name);
    if (m && Number(m[1]) >= draft.numLayers) beyond = Math.max(beyond, Number(m[1]));
  }
  if (beyond >= 0)
    throw new LabError('BAD_CHECKPOINT', `${cfgFile}: num_hidden_layers is ${draft.numLayers} but the weights hold layers up to ${beyond} (${where}); config and tensors disagree, so part of the model would go unmeasured`);
  // NaN/Inf scan: reads every weight, so it is skipped (with a notice) above SCAN_LIMIT bytes to keep inspect quick
  const totalBytes = tensors.reduce((a, r) => a + r.byteLength, 0);
  if (opts.scanFinite === true || (opts.scanFinite !== false && totalBytes <= SCAN_LIMIT)) for (const t of weights.values()) checkFinite(t, notices, where);
  else if (opts.scanFinite !== false) notices.push(`weights not scanned for NaN/Inf (${(totalBytes / 2 ** 30).toFixed(1)} GiB; the scan runs up to ${SCAN_LIMIT / 2 ** 30} GiB)`);
  let parameters = 0;
  let embedding = 0;
  for (const t of weights.values()) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    parameters += n;
    if (t.name === 'embed.tokens' || t.name === 'embed.positions' || t.name === 'lm_head.weight') embedding += n;
  }
  const dtype = [...dtypeBytes.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'float32';
  const spec: ModelSpec = {
    ...draft,
    dtype,
    parameters,
    nonEmbeddingParameters: parameters - embedding,
    widthDepthRatio: draft.hiddenSize / draft.numLayers,
  };
  const tokenizer = opts.tokenizer !== undefined ? (opts.tokenizer ? await deferredTokenizer(dir, opts.tokenizer) : undefined) : await loadTokenizer(dir);
  if (!tokenizer) notices.push('no tokenizer.json or tokenizer.model in the folder: text cannot be tokenized for this checkpoint');
  else if (tokenizer.vocabSize > spec.vocabSize) notices.push(`the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${spec.vocabSize}`);
  const contentHash = opts.hash === false ? '' : await hashFiles([cfgFile, ...files]);
  return { path: path.resolve(dir), format: 'hf', spec, weights, tokenizer, contentHash, notices };
}
