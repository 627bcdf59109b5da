/**
 * GPT-2 (HF GPT2LMHeadModel). Conv1D layers store weights as [in, out]; canonical is Linear's [out, in], so
 * every matrix is transposed. c_attn fuses q|k|v along the output axis (columns h·0..h, h..2h, 2h..3h).
 * HF names: transformer.{wte,wpe}, transformer.h.i.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj},
 * transformer.ln_f, lm_head (usually absent: tied).
 */
import { LabError } from '../../api/errors';
import type { ConfigReader } from '../config';
import type { WeightTensor } from '../types';
import type { Adapter, SpecDraft } from './types';
import { pickRows, range, renamed, transposed } from './transform';

function spec(cfg: ConfigReader, modelType: string): SpecDraft {
  const hidden = cfg.int(['n_embd', 'hidden_size'], { max: 65536 });
  const heads = cfg.int(['n_head', 'num_attention_heads'], { max: 1024 });
  if (hidden % heads) throw new LabError('BAD_CHECKPOINT', `${cfg.file}: n_embd (${hidden}) is not a multiple of n_head (${heads})`);
  if (cfg.bool('scale_attn_by_inverse_layer_idx', false))
    throw new LabError('UNSUPPORTED', `${cfg.file}: field 'scale_attn_by_inverse_layer_idx' = true is not supported`);
  const act = cfg.activation('activation_function');
  return {
    family: 'gpt2',
    modelType,
    activation: act.activation,
    activationParam: act.param,
    hiddenSize: hidden,
    intermediateSize: cfg.int('n_inner', { max: 1 << 20, default: 4 * hidden }),
    numLayers: cfg.int(['n_layer', 'num_hidden_layers'], { max: 1000 }),
    numHeads: heads,
    numKvHeads: heads,
    headDim: hidden / heads,
    vocabSize: cfg.int('vocab_size', { max: 1 << 22 }),
    maxPositions: cfg.int(['n_positions', 'max_position_embeddings'], { max: 1 << 24 }),
    norm: 'layer',
    normEps: cfg.num('layer_norm_epsilon', { min: 0, max: 1, default: 1e-5 }),
    positional: 'learned',
    ropeTheta: 10000,
    rotaryDim: 0,
    gated: false,
    parallelResidual: false,
    qkNorm: false,
    qkvBias: true,
    attnOutBias: true,
    mlpBias: true,
    tieEmbeddings: cfg.bool('tie_word_embeddings', true),
    embedScale: 1,
    residualScale: 1,
    logitScale: 1,
    positionOffset: 0,
    bosTokenId: cfg.optInt('bos_token_id'),
    eosTokenId: cfg.optInt('eos_token_id'),
  };
}

const LAYER = /^(?:transformer\.)?h\.(\d+)\.(.+)$/;

function map(hf: string, t: WeightTensor, s: SpecDraft): WeightTensor[] {
  const n = hf.replace(/^transformer\./, '');
  if (n === 'wte.weight') return [renamed(t, 'embed.tokens')];
  if (n === 'wpe.weight') return [renamed(t, 'embed.positions')];
  if (n === 'ln_f.weight') return [renamed(t, 'final_norm.weight')];
  if (n === 'ln_f.bias') return [renamed(t, 'final_norm.bias')];
  if (n === 'lm_head.weight') return [renamed(t, 'lm_head.weight')];
  const m = LAYER.exec(hf);
  if (!m) return [];
  const p = `layers.${m[1]}.`;
  const h = s.hiddenSize;
  switch (m[2]) {
    case 'ln_1.weight':
      return [renamed(t, p + 'attn_norm.weight')];
    case 'ln_1.bias':
      return [renamed(t, p + 'attn_norm.bias')];
    case 'ln_2.weight':
      return [renamed(t, p + 'mlp_norm.weight')];
    case 'ln_2.bias':
      return [renamed(t, p + 'mlp_norm.bias')];
    case 'attn.c_attn.weight': {
      const tt = transposed(t, 'c_attn');
      return ['q', 'k', 'v'].map((x, i) => pickRows(tt, `${p}attn.${x}.weight`, range(i * h, h)));
    }
    case 'attn.c_attn.bias':
      return ['q', 'k', 'v'].map((x, i) => pickRows(t, `${p}attn.${x}.bias`, range(i * h, h)));
    case 'attn.c_proj.weight':
      return [transposed(t, p + 'attn.o.weight')];
    case 'attn.c_proj.bias':
      return [renamed(t, p + 'attn.o.bias')];
    case 'mlp.c_fc.weight':
      return [transposed(t, p + 'mlp.up.weight')];
    case 'mlp.c_fc.bias':
      return [renamed(t, p + 'mlp.up.bias')];
    case 'mlp.c_proj.weight':
      return [transposed(t, p + 'mlp.down.weight')];
    case 'mlp.c_proj.bias':
      return [renamed(t, p + 'mlp.down.bias')];
  }
  return []; // attn.bias / attn.masked_bias buffers
}

export const gpt2Adapter: Adapter = { family: 'gpt2', modelTypes: ['gpt2'], spec, map };
