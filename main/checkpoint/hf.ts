/**
 * A Hugging Face model folder → LoadedCheckpoint: config.json through the family adapter, weights from
 * model.safetensors (or its sharded index), canonical names, shapes checked against the config, the
 * tokenizer, a content hash, and notices (NaN/Inf weights, custom model types).
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { LabError } from '../api/errors';
import { ConfigReader, type RawConfig } from './config';
import { pickAdapter } from './adapters/registry';
import type { SpecDraft } from './adapters/types';
import { readSafetensorsHeader, readShardedSafetensors, tensorFromEntry, type SafetensorsEntry } from './safetensors';
import { loadTokenizer } from './tokenizer';
import type { Family, LoadedCheckpoint, ModelSpec, StorageDType, WeightTensor } from './types';

const hashCache = new Map<string, string>();

async function hashFiles(files: string[]): Promise<string> {
  const key = files.map((f) => {
    const st = fs.statSync(f);
    return `${f}:${st.size}:${st.mtimeMs}`;
  }).join('|');
  const hit = hashCache.get(key);
  if (hit) return hit;
  const h = crypto.createHash('sha256');
  for (const f of files) {
    h.update(path.basename(f));
    await new Promise<void>((resolve, reject) => {
      fs.createReadStream(f, { highWaterMark: 1 << 22 })
        .on('data', (d) => h.update(d))
        .on('end', () => resolve())
        .on('error', reject);
    });
  }
  const out = h.digest('hex');
  hashCache.set(key, out);
  return out;
}

function weightEntries(dir: string): { entries: SafetensorsEntry[]; files: string[] } {
  const single = path.join(dir, 'model.safetensors');
  const index = path.join(dir, 'model.safetensors.index.json');
  if (fs.existsSync(single)) return { entries: readSafetensorsHeader(single), files: [single] };
  if (fs.existsSync(index)) {
    const entries = readShardedSafetensors(index);
    return { entries, files: [index, ...new Set(entries.map((e) => e.file))].sort() };
  }
  const others = fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors'));
  if (others.length === 1) {
    const f = path.join(dir, others[0]);
    return { entries: readSafetensorsHeader(f), files: [f] };
  }
  if (fs.existsSync(path.join(dir, 'pytorch_model.bin')) || fs.existsSync(path.join(dir, 'pytorch_model.bin.index.json')))
    throw new LabError('UNSUPPORTED', `${dir}: weights are in pytorch_model.bin; this build reads safetensors only (pickle support is not built yet)`);
  throw new LabError('BAD_CHECKPOINT', `${dir}: no weights found (expected model.safetensors or model.safetensors.index.json)`);
}

function expectShapes(d: SpecDraft): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const { hiddenSize: h, intermediateSize: f, numHeads: H, numKvHeads: K, headDim: hd, vocabSize: V } = d;
  m.set('embed.tokens', [V, h]);
  m.set('final_norm.weight', [h]);
  for (let l = 0; l < d.numLayers; l++) {
    const p = `layers.${l}.`;
    m.set(p + 'attn_norm.weight', [h]);
    m.set(p + 'mlp_norm.weight', [h]);
    m.set(p + 'attn.q.weight', [H * hd, h]);
    m.set(p + 'attn.k.weight', [K * hd, h]);
    m.set(p + 'attn.v.weight', [K * hd, h]);
    m.set(p + 'attn.o.weight', [h, H * hd]);
    if (d.qkvBias) {
      m.set(p + 'attn.q.bias', [H * hd]);
      m.set(p + 'attn.k.bias', [K * hd]);
      m.set(p + 'attn.v.bias', [K * hd]);
    }
    if (d.qkNorm) {
      m.set(p + 'attn.q_norm.weight', [hd]);
      m.set(p + 'attn.k_norm.weight', [hd]);
    }
    if (d.gated) m.set(p + 'mlp.gate.weight', [f, h]);
    m.set(p + 'mlp.up.weight', [f, h]);
    m.set(p + 'mlp.down.weight', [h, f]);
  }
  if (!d.tieEmbeddings) m.set('lm_head.weight', [V, h]);
  return m;
}

function checkFinite(t: WeightTensor, notices: string[], file: string): void {
  const a = t.toFloat32();
  let bad = 0;
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) bad++;
  if (bad) notices.push(`${file}: tensor '${t.name}' holds ${bad} NaN/Inf values; results from this checkpoint are unreliable`);
}

export async function loadHfFolder(dir: string, opts: { family?: Family; scanFinite?: boolean } = {}): Promise<LoadedCheckpoint> {
  const cfgFile = path.join(dir, 'config.json');
  if (!fs.existsSync(cfgFile)) throw new LabError('BAD_CHECKPOINT', `${dir}: no config.json (not a Hugging Face model folder)`);
  let raw: RawConfig;
  try {
    raw = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as RawConfig;
  } catch (e) {
    throw new LabError('BAD_CHECKPOINT', `${cfgFile}: not valid JSON (${(e as Error).message})`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new LabError('BAD_CHECKPOINT', `${cfgFile}: not a JSON object`);
  if (raw.text_config && typeof raw.text_config === 'object') raw = { ...(raw.text_config as RawConfig), model_type: (raw.text_config as RawConfig).model_type ?? raw.model_type };
  const cfg = new ConfigReader(raw, cfgFile);
  const modelType = cfg.str('model_type', 'unknown');
  const { entries, files } = weightEntries(dir);
  const hasLlamaFields = cfg.has('hidden_size') && cfg.has('intermediate_size') && cfg.has('num_hidden_layers');
  const { adapter, notice } = pickAdapter(modelType, cfgFile, entries.map((e) => e.name), hasLlamaFields, opts.family);
  const notices: string[] = notice ? [notice] : [];
  const draft = adapter.spec(cfg, modelType);
  const weights = new Map<string, WeightTensor>();
  const dtypeBytes = new Map<StorageDType, number>();
  for (const e of entries) {
    const canon = adapter.mapName(e.name, draft);
    if (!canon) continue;
    if (weights.has(canon)) throw new LabError('BAD_CHECKPOINT', `${e.file}: tensor '${e.name}' appears twice`);
    const t = tensorFromEntry(e, canon);
    weights.set(canon, t);
    dtypeBytes.set(t.dtype, (dtypeBytes.get(t.dtype) ?? 0) + e.length);
  }
  if (!weights.has('lm_head.weight') && !draft.tieEmbeddings) {
    notices.push('no lm_head.weight in the checkpoint: the output layer is tied to the token embeddings');
    draft.tieEmbeddings = true;
  }
  const where = files.length === 1 ? files[0] : path.join(dir, '(shards)');
  for (const [name, shape] of expectShapes(draft)) {
    const t = weights.get(name);
    if (!t) throw new LabError('BAD_CHECKPOINT', `${where}: missing tensor for '${name}' (expected shape [${shape}] from config.json)`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new LabError('BAD_CHECKPOINT', `${where}: tensor '${name}' has shape [${t.shape}] but config.json implies [${shape}]`);
  }
  if (opts.scanFinite !== false) for (const t of weights.values()) checkFinite(t, notices, where);
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
  const tokenizer = loadTokenizer(dir);
  if (!tokenizer) notices.push('no tokenizer.json in the folder: text cannot be tokenized for this checkpoint');
  else if (tokenizer.vocabSize > spec.vocabSize) notices.push(`the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${spec.vocabSize}`);
  const contentHash = await hashFiles([cfgFile, ...files]);
  return { path: path.resolve(dir), format: 'hf', spec, weights, tokenizer, contentHash, notices };
}
