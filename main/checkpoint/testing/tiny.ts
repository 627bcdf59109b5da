/**
 * Tiny random checkpoints in real Hugging Face layout (config.json, model.safetensors with HF tensor names,
 * a byte-level tokenizer.json), for tests, the UI journey and benchmarks. Seeded: the same call writes the
 * same bytes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { mulberry32 } from '../../base/rng';
import { writeSafetensors } from '../safetensors';
import type { ActivationName } from '../types';

export type TinyFamily = 'llama' | 'mistral' | 'qwen2' | 'qwen3' | 'minicpm' | 'opt' | 'gpt2' | 'gpt_neox';

export interface TinyOptions {
  activation?: ActivationName;
  activationParam?: number;
  seed?: number;
  hidden?: number;
  layers?: number;
  heads?: number;
  kvHeads?: number;
  intermediate?: number;
  vocab?: number; // ≥ 256 (byte-level tokenizer)
  dtype?: 'F32' | 'F16' | 'BF16' | 'float32' | 'float16' | 'bfloat16';
  /** 'sharded': model.safetensors.index.json + two shards */
  format?: 'safetensors' | 'sharded';
  maxPositions?: number;
  /** gpt_neox only */
  rotaryPct?: number;
  parallelResidual?: boolean;
  tie?: boolean;
  /** weight std; larger values give more varied activations */
  std?: number;
}

/** Every family with each activation its tiny checkpoints are written with in the graph tests (the gated families
 * with every activation the graph builds, the others with their own). */
export const TINY_FAMILY_CASES: readonly (readonly [TinyFamily, ActivationName])[] = [
  ['llama', 'relu'],
  ['llama', 'silu'],
  ['llama', 'gelu'],
  ['llama', 'gelu_tanh'],
  ['llama', 'relu2'],
  ['llama', 'fatrelu'],
  ['mistral', 'silu'],
  ['qwen2', 'silu'],
  ['qwen3', 'silu'],
  ['minicpm', 'relu'],
  ['opt', 'relu'],
  ['gpt2', 'gelu_tanh'],
  ['gpt_neox', 'gelu'],
];

/** the same seeded PRNG as the laws' bootstrap (mulberry32) */
export const rng = mulberry32;

function normal(r: () => number): number {
  const u = Math.max(r(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

/** GPT-2's bytes_to_unicode: every byte gets a printable character, so byte-level BPE covers any text. */
export function byteLevelAlphabet(): string[] {
  const bs: number[] = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++)
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  const out: string[] = new Array(256);
  bs.forEach((b, i) => (out[b] = String.fromCharCode(cs[i])));
  return out;
}

export function byteLevelTokenizerJson(vocab = 256): Record<string, unknown> {
  const alpha = byteLevelAlphabet();
  const v: Record<string, number> = {};
  alpha.forEach((c, i) => (v[c] = i));
  const added = [];
  if (vocab > 256) added.push({ id: 256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab: v, merges: [] },
  };
}

type T = { name: string; shape: number[]; data: Float32Array };

const DTYPES = { F32: 'F32', F16: 'F16', BF16: 'BF16', float32: 'F32', float16: 'F16', bfloat16: 'BF16' } as const;
const HF_ACT: Record<string, string> = { relu: 'relu', silu: 'silu', gelu: 'gelu', gelu_tanh: 'gelu_pytorch_tanh', relu2: 'relu2', fatrelu: 'fatrelu' };

export function writeTinyCheckpoint(dir: string, family: TinyFamily = 'llama', o: TinyOptions = {}): string {
  const h = o.hidden ?? 32;
  const L = o.layers ?? 2;
  const H = o.heads ?? 4;
  const K = family === 'opt' || family === 'gpt2' || family === 'gpt_neox' ? H : (o.kvHeads ?? (family === 'mistral' || family === 'qwen2' ? 2 : H));
  const hd = h / H;
  const F = o.intermediate ?? Math.round(2.5 * h);
  const V = o.vocab ?? 260;
  const P = o.maxPositions ?? 128;
  const std = o.std ?? 0.08;
  const r = rng(o.seed ?? 1);
  const rand = (n: number, s = std) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = normal(r) * s;
    return a;
  };
  const ones = (n: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = 1 + normal(r) * 0.05;
    return a;
  };
  const tensors: T[] = [];
  const add = (name: string, shape: number[], data: Float32Array) => tensors.push({ name, shape, data });
  const ln = (name: string) => {
    add(name + '.weight', [h], ones(h));
    add(name + '.bias', [h], rand(h, 0.05));
  };
  const dtype = DTYPES[o.dtype ?? 'F32'];
  const torchDtype = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype];
  const common = { vocab_size: V, bos_token_id: V > 256 ? 256 : 0, eos_token_id: V > 256 ? 256 : 0, torch_dtype: torchDtype };
  let config: Record<string, unknown>;
  if (family === 'gpt2') {
    const act = o.activation ?? 'gelu_tanh';
    add('transformer.wte.weight', [V, h], rand(V * h, 0.5));
    add('transformer.wpe.weight', [P, h], rand(P * h, 0.1));
    for (let l = 0; l < L; l++) {
      const p = `transformer.h.${l}.`;
      ln(p + 'ln_1');
      add(p + 'attn.c_attn.weight', [h, 3 * h], rand(3 * h * h)); // Conv1D: [in, out]
      add(p + 'attn.c_attn.bias', [3 * h], rand(3 * h, 0.05));
      add(p + 'attn.c_proj.weight', [h, h], rand(h * h));
      add(p + 'attn.c_proj.bias', [h], rand(h, 0.05));
      ln(p + 'ln_2');
      add(p + 'mlp.c_fc.weight', [h, F], rand(h * F));
      add(p + 'mlp.c_fc.bias', [F], rand(F, 0.05));
      add(p + 'mlp.c_proj.weight', [F, h], rand(F * h));
      add(p + 'mlp.c_proj.bias', [h], rand(h, 0.05));
    }
    ln('transformer.ln_f');
    const tie = o.tie ?? true;
    if (!tie) add('lm_head.weight', [V, h], rand(V * h, 0.3));
    config = { architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: h, n_layer: L, n_head: H, n_inner: F, n_positions: P, n_ctx: P, layer_norm_epsilon: 1e-5, activation_function: act === 'gelu_tanh' ? 'gelu_new' : HF_ACT[act], tie_word_embeddings: tie, ...common };
  } else if (family === 'opt') {
    const act = o.activation ?? 'relu';
    const pre = 'model.decoder.';
    add(pre + 'embed_tokens.weight', [V, h], rand(V * h, 0.5));
    add(pre + 'embed_positions.weight', [P + 2, h], rand((P + 2) * h, 0.1)); // OPT offsets positions by 2
    for (let l = 0; l < L; l++) {
      const p = `${pre}layers.${l}.`;
      for (const x of ['k', 'v', 'q']) {
        add(p + `self_attn.${x}_proj.weight`, [h, h], rand(h * h));
        add(p + `self_attn.${x}_proj.bias`, [h], rand(h, 0.05));
      }
      add(p + 'self_attn.out_proj.weight', [h, h], rand(h * h));
      add(p + 'self_attn.out_proj.bias', [h], rand(h, 0.05));
      ln(p + 'self_attn_layer_norm');
      add(p + 'fc1.weight', [F, h], rand(F * h));
      add(p + 'fc1.bias', [F], rand(F, 0.05));
      add(p + 'fc2.weight', [h, F], rand(h * F));
      add(p + 'fc2.bias', [h], rand(h, 0.05));
      ln(p + 'final_layer_norm');
    }
    ln(pre + 'final_layer_norm');
    config = { architectures: ['OPTForCausalLM'], model_type: 'opt', hidden_size: h, ffn_dim: F, num_hidden_layers: L, num_attention_heads: H, max_position_embeddings: P, word_embed_proj_dim: h, do_layer_norm_before: true, enable_bias: true, activation_function: HF_ACT[act], tie_word_embeddings: true, ...common };
  } else if (family === 'gpt_neox') {
    const act = o.activation ?? 'gelu';
    add('gpt_neox.embed_in.weight', [V, h], rand(V * h, 0.5));
    for (let l = 0; l < L; l++) {
      const p = `gpt_neox.layers.${l}.`;
      ln(p + 'input_layernorm');
      ln(p + 'post_attention_layernorm');
      add(p + 'attention.query_key_value.weight', [3 * h, h], rand(3 * h * h)); // per-head [q k v] blocks
      add(p + 'attention.query_key_value.bias', [3 * h], rand(3 * h, 0.05));
      add(p + 'attention.dense.weight', [h, h], rand(h * h));
      add(p + 'attention.dense.bias', [h], rand(h, 0.05));
      add(p + 'mlp.dense_h_to_4h.weight', [F, h], rand(F * h));
      add(p + 'mlp.dense_h_to_4h.bias', [F], rand(F, 0.05));
      add(p + 'mlp.dense_4h_to_h.weight', [h, F], rand(h * F));
      add(p + 'mlp.dense_4h_to_h.bias', [h], rand(h, 0.05));
    }
    ln('gpt_neox.final_layer_norm');
    add('embed_out.weight', [V, h], rand(V * h, 0.3));
    config = { architectures: ['GPTNeoXForCausalLM'], model_type: 'gpt_neox', hidden_size: h, intermediate_size: F, num_hidden_layers: L, num_attention_heads: H, max_position_embeddings: P, rotary_pct: o.rotaryPct ?? 0.25, rotary_emb_base: 10000, use_parallel_residual: o.parallelResidual ?? true, layer_norm_eps: 1e-5, hidden_act: HF_ACT[act], tie_word_embeddings: false, ...common };
  } else {
    const tie = o.tie ?? family === 'minicpm';
    add('model.embed_tokens.weight', [V, h], rand(V * h, 0.5));
    for (let l = 0; l < L; l++) {
      const p = `model.layers.${l}.`;
      add(p + 'input_layernorm.weight', [h], ones(h));
      add(p + 'self_attn.q_proj.weight', [H * hd, h], rand(H * hd * h));
      add(p + 'self_attn.k_proj.weight', [K * hd, h], rand(K * hd * h));
      add(p + 'self_attn.v_proj.weight', [K * hd, h], rand(K * hd * h));
      add(p + 'self_attn.o_proj.weight', [h, H * hd], rand(h * H * hd));
      if (family === 'qwen2') {
        add(p + 'self_attn.q_proj.bias', [H * hd], rand(H * hd, 0.1));
        add(p + 'self_attn.k_proj.bias', [K * hd], rand(K * hd, 0.1));
        add(p + 'self_attn.v_proj.bias', [K * hd], rand(K * hd, 0.1));
      }
      if (family === 'qwen3') {
        add(p + 'self_attn.q_norm.weight', [hd], ones(hd));
        add(p + 'self_attn.k_norm.weight', [hd], ones(hd));
      }
      add(p + 'post_attention_layernorm.weight', [h], ones(h));
      add(p + 'mlp.gate_proj.weight', [F, h], rand(F * h));
      add(p + 'mlp.up_proj.weight', [F, h], rand(F * h));
      add(p + 'mlp.down_proj.weight', [h, F], rand(h * F));
    }
    add('model.norm.weight', [h], ones(h));
    if (!tie) add('lm_head.weight', [V, h], rand(V * h, 0.3));
    const act = o.activation ?? 'silu';
    config = {
      architectures: [{ llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM', minicpm: 'MiniCPMForCausalLM' }[family]],
      model_type: family,
      hidden_size: h,
      intermediate_size: F,
      num_hidden_layers: L,
      num_attention_heads: H,
      num_key_value_heads: K,
      max_position_embeddings: P,
      rms_norm_eps: 1e-6,
      rope_theta: 10000,
      hidden_act: HF_ACT[act],
      tie_word_embeddings: tie,
      ...common,
    };
    if (act === 'fatrelu') config.hidden_act_param = o.activationParam ?? 0.01;
    if (family === 'qwen3') config.head_dim = hd;
    if (family === 'minicpm') Object.assign(config, { scale_emb: 12, scale_depth: 1.4, dim_model_base: Math.max(8, h / 4) });
  }
  if ((family === 'gpt2' || family === 'opt' || family === 'gpt_neox') && o.activation === 'fatrelu') config.hidden_act_param = o.activationParam ?? 0.01;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  if (o.format === 'sharded') {
    const half = Math.ceil(tensors.length / 2);
    const shards = [tensors.slice(0, half), tensors.slice(half)];
    const weightMap: Record<string, string> = {};
    shards.forEach((part, i) => {
      const name = `model-0000${i + 1}-of-00002.safetensors`;
      writeSafetensors(path.join(dir, name), part, dtype);
      for (const t of part) weightMap[t.name] = name;
    });
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 2));
  } else writeSafetensors(path.join(dir, 'model.safetensors'), tensors, dtype);
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(byteLevelTokenizerJson(V)));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: V > 256 ? '<|endoftext|>' : null, eos_token: V > 256 ? '<|endoftext|>' : null }));
  return dir;
}
