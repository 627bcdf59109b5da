/**
 * GPT-NeoX / Pythia (HF GPTNeoXForCausalLM): parallel residual x + attn(ln1 x) + mlp(ln2 x), partial rotary
 * (rotary_pct of each head's dims, 5.x: partial_rotary_factor), GELU, biases everywhere, untied embed_out.
 * query_key_value is fused PER HEAD: its rows are [head0: q(hd) k(hd) v(hd), head1: q k v, ...]
 * (HF reshapes the output to [.., heads, 3·hd] and splits the last axis), not [q | k | v].
 */
import { LabError } from '../../api/errors';
import type { ConfigReader } from '../config';
import type { WeightTensor } from '../types';
import type { Adapter, SpecDraft } from './types';
import { pickRows, renamed } from './transform';

function spec(cfg: ConfigReader, modelType: string): SpecDraft {
  const hidden = cfg.int('hidden_size', { max: 65536 });
  const heads = cfg.int('num_attention_heads', { max: 1024 });
  if (hidden % heads) throw new LabError('BAD_CHECKPOINT', `${cfg.file}: hidden_size (${hidden}) is not a multiple of num_attention_heads (${heads})`);
  const headDim = hidden / heads;
  const params = (cfg.raw.rope_parameters ?? {}) as Record<string, unknown>;
  const pct =
    typeof params.partial_rotary_factor === 'number' ? params.partial_rotary_factor : cfg.num(['rotary_pct', 'partial_rotary_factor'], { min: 0, max: 1, default: 1 });
  if (!(pct > 0 && pct <= 1)) throw new LabError('BAD_CHECKPOINT', `${cfg.file}: field 'rotary_pct' is ${pct}, expected a fraction in (0, 1]`);
  const rope = cfg.rope(10000, ['rotary_emb_base', 'rope_theta']);
  const act = cfg.activation('hidden_act');
  const bias = cfg.bool('attention_bias', true);
  return {
    family: 'gpt_neox',
    modelType,
    activation: act.activation,
    activationParam: act.param,
    hiddenSize: hidden,
    intermediateSize: cfg.int('intermediate_size', { max: 1 << 20 }),
    numLayers: cfg.int('num_hidden_layers', { max: 1000 }),
    numHeads: heads,
    numKvHeads: heads,
    headDim,
    vocabSize: cfg.int('vocab_size', { max: 1 << 22 }),
    maxPositions: cfg.int('max_position_embeddings', { max: 1 << 24, default: 2048 }),
    norm: 'layer',
    normEps: cfg.num('layer_norm_eps', { min: 0, max: 1, default: 1e-5 }),
    positional: 'rope',
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    rotaryDim: Math.floor(headDim * pct), // HF: int(head_size * rotary_pct)
    gated: false,
    parallelResidual: cfg.bool('use_parallel_residual', true),
    qkNorm: false,
    qkvBias: bias,
    attnOutBias: bias,
    mlpBias: true,
    tieEmbeddings: cfg.bool('tie_word_embeddings', false),
    embedScale: 1,
    residualScale: 1,
    logitScale: 1,
    positionOffset: 0,
    bosTokenId: cfg.optInt('bos_token_id'),
    eosTokenId: cfg.optInt('eos_token_id'),
  };
}

const LAYER = /^(?:gpt_neox\.)?layers\.(\d+)\.(.+)$/;
const PARTS: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'input_layernorm.bias': 'attn_norm.bias',
  'post_attention_layernorm.weight': 'mlp_norm.weight',
  'post_attention_layernorm.bias': 'mlp_norm.bias',
  'attention.dense.weight': 'attn.o.weight',
  'attention.dense.bias': 'attn.o.bias',
  'mlp.dense_h_to_4h.weight': 'mlp.up.weight',
  'mlp.dense_h_to_4h.bias': 'mlp.up.bias',
  'mlp.dense_4h_to_h.weight': 'mlp.down.weight',
  'mlp.dense_4h_to_h.bias': 'mlp.down.bias',
};
const TOP: Record<string, string> = {
  'embed_in.weight': 'embed.tokens',
  'final_layer_norm.weight': 'final_norm.weight',
  'final_layer_norm.bias': 'final_norm.bias',
  'embed_out.weight': 'lm_head.weight',
};

/** Row indices of q, k or v (which = 0, 1, 2) inside the per-head fused query_key_value. */
export function neoxQkvRows(heads: number, headDim: number, which: number): number[] {
  const rows: number[] = [];
  for (let h = 0; h < heads; h++) for (let r = 0; r < headDim; r++) rows.push(h * 3 * headDim + which * headDim + r);
  return rows;
}

function map(hf: string, t: WeightTensor, s: SpecDraft): WeightTensor[] {
  const m = LAYER.exec(hf);
  if (!m) {
    const top = TOP[hf.replace(/^gpt_neox\./, '')];
    return top ? [renamed(t, top)] : [];
  }
  const p = `layers.${m[1]}.`;
  const fused = /^attention\.query_key_value\.(weight|bias)$/.exec(m[2]);
  if (fused) return ['q', 'k', 'v'].map((x, i) => pickRows(t, `${p}attn.${x}.${fused[1]}`, neoxQkvRows(s.numHeads, s.headDim, i)));
  return PARTS[m[2]] ? [renamed(t, p + PARTS[m[2]])] : []; // rotary_emb.inv_freq, attention.bias buffers
}

export const gptNeoxAdapter: Adapter = { family: 'gpt_neox', modelTypes: ['gpt_neox'], spec, map };
