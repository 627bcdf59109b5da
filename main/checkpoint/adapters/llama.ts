/**
 * LLaMA-shaped decoders: llama, mistral, qwen2 (q/k/v bias), qwen3 (q/k RMSNorm), minicpm (µP scalings,
 * Sparsing Law's own checkpoints) and the custom ProSparse types (sparsellama, sparse_mistral, …).
 * HF names: model.embed_tokens, model.layers.i.{input_layernorm, self_attn.{q,k,v,o}_proj, post_attention_layernorm,
 * mlp.{gate,up,down}_proj}, model.norm, lm_head.
 */
import { LabError } from '../../api/errors';
import type { ConfigReader } from '../config';
import type { Family, WeightTensor } from '../types';
import type { Adapter, SpecDraft } from './types';
import { renamed } from './transform';

function llamaSpec(cfg: ConfigReader, modelType: string, family: Family): SpecDraft {
  const hidden = cfg.int('hidden_size', { max: 65536 });
  const heads = cfg.int('num_attention_heads', { max: 1024 });
  const kvHeads = cfg.int('num_key_value_heads', { max: 1024, default: heads });
  const headDim = cfg.int('head_dim', { max: 4096, default: Math.floor(hidden / heads) });
  if (heads % kvHeads !== 0) throw new LabError('BAD_CHECKPOINT', `${cfg.file}: num_attention_heads (${heads}) is not a multiple of num_key_value_heads (${kvHeads})`);
  if (headDim * heads < 1) throw new LabError('BAD_CHECKPOINT', `${cfg.file}: head_dim is 0`);
  const layers = cfg.int('num_hidden_layers', { max: 1000 });
  const act = cfg.activation();
  const rope = cfg.rope();
  const isMini = family === 'minicpm';
  const dimBase = isMini ? cfg.num('dim_model_base', { min: 1, default: hidden }) : hidden;
  return {
    family,
    modelType,
    activation: act.activation,
    activationParam: act.param,
    hiddenSize: hidden,
    intermediateSize: cfg.int('intermediate_size', { max: 1 << 20 }),
    numLayers: layers,
    numHeads: heads,
    numKvHeads: kvHeads,
    headDim,
    vocabSize: cfg.int('vocab_size', { max: 1 << 22 }),
    maxPositions: cfg.int('max_position_embeddings', { max: 1 << 24, default: 4096 }),
    norm: 'rms',
    normEps: cfg.num(['rms_norm_eps', 'layer_norm_eps'], { min: 0, max: 1, default: 1e-6 }),
    positional: 'rope',
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    rotaryDim: headDim,
    gated: true,
    parallelResidual: false,
    qkNorm: family === 'qwen3',
    qkvBias: family === 'qwen2' || cfg.bool('attention_bias', false),
    attnOutBias: cfg.bool('attention_bias', false),
    mlpBias: cfg.bool('mlp_bias', false),
    tieEmbeddings: cfg.bool('tie_word_embeddings', isMini),
    // MiniCPM µP (the paper's models are MiniCPM-style, Sec. 3): embeddings × scale_emb, residual branches × scale_depth/√L, logits on h/(d_h/dim_model_base)
    embedScale: isMini ? cfg.num('scale_emb', { min: 0, default: 1 }) : 1,
    residualScale: isMini ? cfg.num('scale_depth', { min: 0, default: Math.sqrt(layers) }) / Math.sqrt(layers) : 1,
    logitScale: isMini ? 1 / (hidden / dimBase) : 1,
    positionOffset: 0,
    bosTokenId: cfg.optInt('bos_token_id'),
    eosTokenId: cfg.optInt('eos_token_id'),
  };
}

const LAYER = /^(?:model\.)?layers\.(\d+)\.(.+)$/;
const PARTS: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'post_attention_layernorm.weight': 'mlp_norm.weight',
  'self_attn.q_proj.weight': 'attn.q.weight',
  'self_attn.k_proj.weight': 'attn.k.weight',
  'self_attn.v_proj.weight': 'attn.v.weight',
  'self_attn.o_proj.weight': 'attn.o.weight',
  'self_attn.q_proj.bias': 'attn.q.bias',
  'self_attn.k_proj.bias': 'attn.k.bias',
  'self_attn.v_proj.bias': 'attn.v.bias',
  'self_attn.o_proj.bias': 'attn.o.bias',
  'self_attn.q_norm.weight': 'attn.q_norm.weight',
  'self_attn.k_norm.weight': 'attn.k_norm.weight',
  'mlp.gate_proj.weight': 'mlp.gate.weight',
  'mlp.up_proj.weight': 'mlp.up.weight',
  'mlp.down_proj.weight': 'mlp.down.weight',
  'mlp.gate_proj.bias': 'mlp.gate.bias',
  'mlp.up_proj.bias': 'mlp.up.bias',
  'mlp.down_proj.bias': 'mlp.down.bias',
};

function mapLlamaName(hf: string): string | undefined {
  const n = hf.replace(/^transformer\./, '');
  if (n === 'model.embed_tokens.weight' || n === 'embed_tokens.weight') return 'embed.tokens';
  if (n === 'model.norm.weight' || n === 'norm.weight') return 'final_norm.weight';
  if (n === 'lm_head.weight') return 'lm_head.weight';
  const m = LAYER.exec(n);
  if (m && PARTS[m[2]]) return `layers.${m[1]}.${PARTS[m[2]]}`;
  return undefined; // rotary inv_freq buffers and the like
}

function map(hf: string, t: WeightTensor): WeightTensor[] {
  const n = mapLlamaName(hf);
  return n ? [renamed(t, n)] : [];
}

function make(family: Family, modelTypes: string[]): Adapter {
  return { family, modelTypes, spec: (cfg, mt) => llamaSpec(cfg, mt, family), map };
}

export const llamaAdapter = make('llama', ['llama', 'sparsellama', 'prosparse_llama', 'sparse_llama']);
export const mistralAdapter = make('mistral', ['mistral', 'sparse_mistral', 'mixtral_dense']);
export const qwen2Adapter = make('qwen2', ['qwen2']);
export const qwen3Adapter = make('qwen3', ['qwen3']);
export const minicpmAdapter = make('minicpm', ['minicpm', 'minicpm3_dense', 'cpm_dragonfly']);
