/**
 * OPT (HF OPTForCausalLM): ReLU, non-gated FFN fc1 → fc2 with biases, LayerNorm, learned positions whose
 * table starts at index 2 (OPTLearnedPositionalEmbedding offset). Only the pre-LN variant
 * (do_layer_norm_before = true, every size but 350m) without the 350m embedding projection is supported.
 * HF names: model.decoder.{embed_tokens, embed_positions, final_layer_norm}, model.decoder.layers.i.
 * {self_attn.{q,k,v,out}_proj, self_attn_layer_norm, fc1, fc2, final_layer_norm}, lm_head (tied).
 */
import { LabError } from '../../api/errors';
import type { ConfigReader } from '../config';
import type { WeightTensor } from '../types';
import type { Adapter, SpecDraft } from './types';
import { renamed } from './transform';

function spec(cfg: ConfigReader, modelType: string): SpecDraft {
  const hidden = cfg.int('hidden_size', { max: 65536 });
  const heads = cfg.int('num_attention_heads', { max: 1024 });
  if (hidden % heads) throw new LabError('BAD_CHECKPOINT', `${cfg.file}: hidden_size (${hidden}) is not a multiple of num_attention_heads (${heads})`);
  if (!cfg.bool('do_layer_norm_before', true)) throw new LabError('UNSUPPORTED', `${cfg.file}: field 'do_layer_norm_before' = false (post-LN OPT-350m) is not supported`);
  const proj = cfg.int('word_embed_proj_dim', { max: 65536, default: hidden });
  if (proj !== hidden) throw new LabError('UNSUPPORTED', `${cfg.file}: field 'word_embed_proj_dim' (${proj}) differs from hidden_size (${hidden}); projected embeddings (OPT-350m) are not supported`);
  const bias = cfg.bool('enable_bias', true);
  const act = cfg.activation('activation_function');
  return {
    family: 'opt',
    modelType,
    activation: act.activation,
    activationParam: act.param,
    hiddenSize: hidden,
    intermediateSize: cfg.int('ffn_dim', { max: 1 << 20 }),
    numLayers: cfg.int('num_hidden_layers', { max: 1000 }),
    numHeads: heads,
    numKvHeads: heads,
    headDim: hidden / heads,
    vocabSize: cfg.int('vocab_size', { max: 1 << 22 }),
    maxPositions: cfg.int('max_position_embeddings', { max: 1 << 24 }),
    norm: 'layer',
    normEps: 1e-5, // nn.LayerNorm default; OPT's config has no eps field
    positional: 'learned',
    ropeTheta: 10000,
    rotaryDim: 0,
    gated: false,
    parallelResidual: false,
    qkNorm: false,
    qkvBias: bias,
    attnOutBias: bias,
    mlpBias: bias,
    tieEmbeddings: cfg.bool('tie_word_embeddings', true),
    embedScale: 1,
    residualScale: 1,
    logitScale: 1,
    positionOffset: 2,
    bosTokenId: cfg.optInt('bos_token_id'),
    eosTokenId: cfg.optInt('eos_token_id'),
  };
}

const LAYER = /^(?:model\.)?(?:decoder\.)?layers\.(\d+)\.(.+)$/;
const PARTS: Record<string, string> = {
  'self_attn_layer_norm.weight': 'attn_norm.weight',
  'self_attn_layer_norm.bias': 'attn_norm.bias',
  'final_layer_norm.weight': 'mlp_norm.weight',
  'final_layer_norm.bias': 'mlp_norm.bias',
  'self_attn.q_proj.weight': 'attn.q.weight',
  'self_attn.q_proj.bias': 'attn.q.bias',
  'self_attn.k_proj.weight': 'attn.k.weight',
  'self_attn.k_proj.bias': 'attn.k.bias',
  'self_attn.v_proj.weight': 'attn.v.weight',
  'self_attn.v_proj.bias': 'attn.v.bias',
  'self_attn.out_proj.weight': 'attn.o.weight',
  'self_attn.out_proj.bias': 'attn.o.bias',
  'fc1.weight': 'mlp.up.weight',
  'fc1.bias': 'mlp.up.bias',
  'fc2.weight': 'mlp.down.weight',
  'fc2.bias': 'mlp.down.bias',
};
const TOP: Record<string, string> = {
  'embed_tokens.weight': 'embed.tokens',
  'embed_positions.weight': 'embed.positions',
  'final_layer_norm.weight': 'final_norm.weight',
  'final_layer_norm.bias': 'final_norm.bias',
  'lm_head.weight': 'lm_head.weight',
};

function map(hf: string, t: WeightTensor): WeightTensor[] {
  const m = LAYER.exec(hf);
  if (m) return PARTS[m[2]] ? [renamed(t, `layers.${m[1]}.${PARTS[m[2]]}`)] : [];
  const top = TOP[hf.replace(/^(?:model\.)?(?:decoder\.)?/, '')];
  return top ? [renamed(t, top)] : [];
}

export const optAdapter: Adapter = { family: 'opt', modelTypes: ['opt'], spec, map };
