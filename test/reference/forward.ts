/**
 * A deliberately plain float64 forward pass of every family the lab reads (LLaMA-shaped decoders incl. Mistral, Qwen2,
 * Qwen3 and MiniCPM's µP scales; OPT, GPT-2, GPT-NeoX), written from the HF modelling code and the paper's method, with
 * the masks (CETT thresholds, ReLU, FAT, Top-k) applied to a before down_proj. It shares nothing with main/graph, and
 * nothing with the production adapters either: it reads config.json itself and takes the tensors by their Hugging Face
 * names from the files (its own safetensors reader; pytorch_model.bin through the pickle decoder, which only turns
 * bytes into arrays). A misread config or a misnamed weight in main/checkpoint therefore shows up as a disagreement.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { LoadedCheckpoint } from '../../main/checkpoint/types';
import type { ForwardRequest, ForwardResult, ModelRunner } from '../../main/inference/runner-types';
import { readShardedTorchBin, readTorchBin } from '../../main/checkpoint/torch-pickle';

type Mat = Float64Array; // row-major

/** y[n, out] = x[n, in] · Wᵀ, W given as [out, in] */
function linear(x: Mat, n: number, inp: number, w: Float64Array, out: number, bias?: Float64Array): Mat {
  const y = new Float64Array(n * out);
  for (let i = 0; i < n; i++)
    for (let o = 0; o < out; o++) {
      let acc = bias ? bias[o] : 0;
      for (let k = 0; k < inp; k++) acc += x[i * inp + k] * w[o * inp + k];
      y[i * out + o] = acc;
    }
  return y;
}

function rmsnorm(x: Mat, n: number, d: number, w: Float64Array, eps: number): Mat {
  const y = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let ms = 0;
    for (let k = 0; k < d; k++) ms += x[i * d + k] ** 2;
    const r = 1 / Math.sqrt(ms / d + eps);
    for (let k = 0; k < d; k++) y[i * d + k] = x[i * d + k] * r * w[k];
  }
  return y;
}

/** torch LayerNorm: (x − mean)/√(var + eps) · w + b, biased variance */
function layernorm(x: Mat, n: number, d: number, w: Float64Array, b: Float64Array, eps: number): Mat {
  const y = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let mean = 0;
    for (let k = 0; k < d; k++) mean += x[i * d + k] / d;
    let v = 0;
    for (let k = 0; k < d; k++) v += (x[i * d + k] - mean) ** 2 / d;
    const r = 1 / Math.sqrt(v + eps);
    for (let k = 0; k < d; k++) y[i * d + k] = (x[i * d + k] - mean) * r * w[k] + b[k];
  }
  return y;
}

function erf(x: number): number {
  // Abramowitz–Stegun 7.1.26 is too coarse for 1e-4 checks; use a series / continued fraction
  const t = Math.abs(x);
  if (t < 2.5) {
    let sum = t;
    let term = t;
    for (let n = 1; n < 60; n++) {
      term *= (-t * t) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc continued fraction
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (t + f);
  const erfc = Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + f);
  return Math.sign(x) * (1 - erfc);
}

function act(name: string, x: number, param = 0): number {
  switch (name) {
    case 'relu':
      return Math.max(0, x);
    case 'silu':
      return x / (1 + Math.exp(-x));
    case 'gelu':
      return 0.5 * x * (1 + erf(x / Math.SQRT2));
    case 'gelu_tanh':
      return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    case 'relu2':
      return Math.max(0, x) ** 2;
    case 'fatrelu':
      return x > param ? x : 0;
  }
  throw new Error(`reference: activation ${name}`);
}

// ---- reading the folder: config.json and tensors by their Hugging Face names, independently of main/checkpoint ----

type Cfg = Record<string, unknown>;
interface HfTensor {
  shape: number[];
  data: Float64Array;
}

function decode(dtype: string, b: Uint8Array, where: string): Float64Array {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const f16 = (u: number) => {
    const e = (u >> 10) & 31;
    const m = u & 1023;
    const v = e === 0 ? m * 2 ** -24 : e === 31 ? (m ? NaN : Infinity) : (1 + m / 1024) * 2 ** (e - 15);
    return u & 0x8000 ? -v : v;
  };
  const bf = new Float32Array(1);
  const bu = new Uint32Array(bf.buffer);
  switch (dtype) {
    case 'F32':
      return Float64Array.from({ length: b.byteLength / 4 }, (_, i) => dv.getFloat32(4 * i, true));
    case 'F64':
      return Float64Array.from({ length: b.byteLength / 8 }, (_, i) => dv.getFloat64(8 * i, true));
    case 'F16':
      return Float64Array.from({ length: b.byteLength / 2 }, (_, i) => f16(dv.getUint16(2 * i, true)));
    case 'BF16':
      return Float64Array.from({ length: b.byteLength / 2 }, (_, i) => ((bu[0] = dv.getUint16(2 * i, true) << 16), bf[0]));
  }
  throw new Error(`reference: ${where}: dtype ${dtype}`);
}

/** every tensor of an HF folder by its stored name: *.safetensors (own reader) or pytorch_model*.bin */
function readHfTensors(dir: string): Map<string, HfTensor> {
  const out = new Map<string, HfTensor>();
  const files = fs.readdirSync(dir);
  const st = files.filter((f) => f.endsWith('.safetensors')).sort();
  for (const f of st) {
    const buf = fs.readFileSync(path.join(dir, f));
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    for (const [name, e] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      out.set(name, { shape: e.shape, data: decode(e.dtype, buf.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]), `${f}:${name}`) });
    }
  }
  if (st.length === 0) {
    const raws = files.includes('pytorch_model.bin.index.json')
      ? readShardedTorchBin(path.join(dir, 'pytorch_model.bin.index.json')).tensors
      : readTorchBin(path.join(dir, files.find((f) => f.endsWith('.bin')) ?? 'pytorch_model.bin'));
    for (const r of raws) out.set(r.name, { shape: r.shape, data: decode(r.dtype, r.read(), r.name) });
  }
  return out;
}

const ACT: Record<string, string> = { relu: 'relu', silu: 'silu', swish: 'silu', gelu: 'gelu', gelu_new: 'gelu_tanh', gelu_pytorch_tanh: 'gelu_tanh', gelu_fast: 'gelu_tanh', relu2: 'relu2', relu_squared: 'relu2', fatrelu: 'fatrelu' };

/** What the forward needs, read from config.json, and its tensors under the reference's own role names. */
interface RefModel {
  activation: string;
  activationParam?: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  norm: 'rms' | 'layer';
  normEps: number;
  positional: 'rope' | 'learned';
  ropeTheta: number;
  ropeScaling?: { type: string; factor: number; [k: string]: unknown };
  rotaryDim: number;
  gated: boolean;
  parallelResidual: boolean;
  qkNorm: boolean;
  tieEmbeddings: boolean;
  embedScale: number;
  residualScale: number;
  logitScale: number;
  positionOffset: number;
  tensors: Map<string, Float64Array>;
}

function readModel(ckpt: LoadedCheckpoint): RefModel {
  const dir = fs.statSync(ckpt.path).isDirectory() ? ckpt.path : path.dirname(ckpt.path);
  const c = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Cfg;
  const hf = readHfTensors(dir);
  const n = (k: string, d?: number): number => {
    const v = c[k] ?? d;
    if (typeof v !== 'number') throw new Error(`reference: config.json has no number ${k}`);
    return v;
  };
  const KNOWN = ['llama', 'mistral', 'qwen2', 'qwen3', 'minicpm', 'opt', 'gpt2', 'gpt_neox'];
  // a model_type the reference does not know is read as the family the user forced on the loader
  const mt = KNOWN.includes(String(c.model_type)) ? String(c.model_type) : ckpt.spec.family;
  const T = new Map<string, Float64Array>();
  const take = (role: string, name: string, optional = false) => {
    const t = hf.get(name);
    if (t) T.set(role, t.data);
    else if (!optional) throw new Error(`reference: ${dir} has no tensor ${name}`);
  };
  const transposed = (t: HfTensor) => {
    const [r, k] = t.shape;
    const o = new Float64Array(r * k);
    for (let i = 0; i < r; i++) for (let j = 0; j < k; j++) o[j * r + i] = t.data[i * k + j];
    return o;
  };
  const rp = (c.rope_parameters ?? {}) as Cfg;
  const rsRaw = (c.rope_scaling ?? (rp.rope_type && rp.rope_type !== 'default' ? rp : undefined)) as Cfg | undefined;
  const rsType = rsRaw ? String(rsRaw.rope_type ?? rsRaw.type) : 'default';
  if (rsType === 'yarn' || rsType === 'longrope') throw new Error(`reference: rope scaling ${rsType} is not implemented`);
  // dynamic NTK changes nothing below max_position_embeddings, which is all a test runs
  const ropeScaling = rsRaw && rsType !== 'default' && rsType !== 'dynamic' ? { ...rsRaw, type: rsType, factor: Number(rsRaw.factor) } : undefined;
  const actOf = (k: string) => {
    const a = ACT[String(c[k])];
    if (!a) throw new Error(`reference: activation ${String(c[k])}`);
    return a;
  };
  const m = { tensors: T, ropeScaling, embedScale: 1, residualScale: 1, logitScale: 1, positionOffset: 0, qkNorm: false, parallelResidual: false } as RefModel;
  if (['llama', 'mistral', 'qwen2', 'qwen3', 'minicpm'].includes(mt)) {
    const h = n('hidden_size');
    const H = n('num_attention_heads');
    Object.assign(m, {
      activation: actOf('hidden_act'), hiddenSize: h, intermediateSize: n('intermediate_size'), numLayers: n('num_hidden_layers'), numHeads: H,
      numKvHeads: n('num_key_value_heads', H), headDim: typeof c.head_dim === 'number' ? c.head_dim : h / H, vocabSize: n('vocab_size'),
      norm: 'rms', normEps: n('rms_norm_eps', 1e-6), positional: 'rope', ropeTheta: Number(c.rope_theta ?? rp.rope_theta ?? 10000), gated: true,
      qkNorm: mt === 'qwen3',
    });
    m.rotaryDim = m.headDim;
    if (mt === 'minicpm') {
      m.embedScale = Number(c.scale_emb ?? 1);
      if (c.scale_depth !== undefined) m.residualScale = Number(c.scale_depth) / Math.sqrt(m.numLayers);
      if (c.dim_model_base !== undefined) m.logitScale = 1 / (h / Number(c.dim_model_base));
    }
    take('embed.tokens', 'model.embed_tokens.weight');
    for (let l = 0; l < m.numLayers; l++) {
      const p = `model.layers.${l}.`;
      const r = `layers.${l}.`;
      take(r + 'attn_norm.weight', p + 'input_layernorm.weight');
      take(r + 'mlp_norm.weight', p + 'post_attention_layernorm.weight');
      for (const x of ['q', 'k', 'v', 'o']) {
        take(`${r}attn.${x}.weight`, `${p}self_attn.${x}_proj.weight`);
        take(`${r}attn.${x}.bias`, `${p}self_attn.${x}_proj.bias`, true);
      }
      if (m.qkNorm) {
        take(r + 'attn.q_norm.weight', p + 'self_attn.q_norm.weight');
        take(r + 'attn.k_norm.weight', p + 'self_attn.k_norm.weight');
      }
      for (const x of ['gate', 'up', 'down']) {
        take(`${r}mlp.${x}.weight`, `${p}mlp.${x}_proj.weight`);
        take(`${r}mlp.${x}.bias`, `${p}mlp.${x}_proj.bias`, true);
      }
    }
    take('final_norm.weight', 'model.norm.weight');
    take('lm_head.weight', 'lm_head.weight', true);
  } else if (mt === 'opt') {
    const h = n('hidden_size');
    if (c.do_layer_norm_before === false) throw new Error('reference: OPT with post-attention LayerNorm (do_layer_norm_before false)');
    if (c.word_embed_proj_dim !== undefined && c.word_embed_proj_dim !== h) throw new Error('reference: OPT with project_in/out');
    Object.assign(m, {
      activation: actOf('activation_function'), hiddenSize: h, intermediateSize: n('ffn_dim'), numLayers: n('num_hidden_layers'), numHeads: n('num_attention_heads'),
      vocabSize: n('vocab_size'), norm: 'layer', normEps: 1e-5, positional: 'learned', ropeTheta: 0, rotaryDim: 0, gated: false, positionOffset: 2,
    });
    m.numKvHeads = m.numHeads;
    m.headDim = h / m.numHeads;
    const d = hf.has('model.decoder.embed_tokens.weight') ? 'model.decoder.' : 'decoder.';
    take('embed.tokens', d + 'embed_tokens.weight');
    take('embed.positions', d + 'embed_positions.weight');
    for (let l = 0; l < m.numLayers; l++) {
      const p = `${d}layers.${l}.`;
      const r = `layers.${l}.`;
      for (const x of ['weight', 'bias']) {
        take(`${r}attn_norm.${x}`, `${p}self_attn_layer_norm.${x}`);
        take(`${r}mlp_norm.${x}`, `${p}final_layer_norm.${x}`);
        for (const [role, name] of [['q', 'q_proj'], ['k', 'k_proj'], ['v', 'v_proj'], ['o', 'out_proj']]) take(`${r}attn.${role}.${x}`, `${p}self_attn.${name}.${x}`, x === 'bias');
        take(`${r}mlp.up.${x}`, `${p}fc1.${x}`, x === 'bias');
        take(`${r}mlp.down.${x}`, `${p}fc2.${x}`, x === 'bias');
        take(`final_norm.${x}`, `${d}final_layer_norm.${x}`);
      }
    }
    take('lm_head.weight', 'lm_head.weight', true);
  } else if (mt === 'gpt2') {
    const h = n('n_embd');
    Object.assign(m, {
      activation: actOf('activation_function'), hiddenSize: h, intermediateSize: typeof c.n_inner === 'number' ? c.n_inner : 4 * h, numLayers: n('n_layer'),
      numHeads: n('n_head'), vocabSize: n('vocab_size'), norm: 'layer', normEps: n('layer_norm_epsilon', 1e-5), positional: 'learned', ropeTheta: 0, rotaryDim: 0, gated: false,
    });
    m.numKvHeads = m.numHeads;
    m.headDim = h / m.numHeads;
    const d = hf.has('transformer.wte.weight') ? 'transformer.' : '';
    const get = (name: string) => {
      const t = hf.get(d + name);
      if (!t) throw new Error(`reference: ${dir} has no tensor ${d + name}`);
      return t;
    };
    T.set('embed.tokens', get('wte.weight').data);
    T.set('embed.positions', get('wpe.weight').data);
    for (let l = 0; l < m.numLayers; l++) {
      const p = `h.${l}.`;
      const r = `layers.${l}.`;
      for (const x of ['weight', 'bias']) {
        T.set(`${r}attn_norm.${x}`, get(`${p}ln_1.${x}`).data);
        T.set(`${r}mlp_norm.${x}`, get(`${p}ln_2.${x}`).data);
      }
      // Conv1D stores [in, out]: c_attn [h, 3h] holds q | k | v along out
      const qkv = transposed(get(p + 'attn.c_attn.weight'));
      const qkvb = get(p + 'attn.c_attn.bias').data;
      ['q', 'k', 'v'].forEach((x, i) => {
        T.set(`${r}attn.${x}.weight`, qkv.slice(i * h * h, (i + 1) * h * h));
        T.set(`${r}attn.${x}.bias`, qkvb.slice(i * h, (i + 1) * h));
      });
      T.set(`${r}attn.o.weight`, transposed(get(p + 'attn.c_proj.weight')));
      T.set(`${r}attn.o.bias`, get(p + 'attn.c_proj.bias').data);
      T.set(`${r}mlp.up.weight`, transposed(get(p + 'mlp.c_fc.weight')));
      T.set(`${r}mlp.up.bias`, get(p + 'mlp.c_fc.bias').data);
      T.set(`${r}mlp.down.weight`, transposed(get(p + 'mlp.c_proj.weight')));
      T.set(`${r}mlp.down.bias`, get(p + 'mlp.c_proj.bias').data);
    }
    T.set('final_norm.weight', get('ln_f.weight').data);
    T.set('final_norm.bias', get('ln_f.bias').data);
    take('lm_head.weight', 'lm_head.weight', true);
  } else if (mt === 'gpt_neox') {
    const h = n('hidden_size');
    const H = n('num_attention_heads');
    const hd = h / H;
    const pct = Number(c.rotary_pct ?? rp.partial_rotary_factor ?? 0.25);
    Object.assign(m, {
      activation: actOf('hidden_act'), hiddenSize: h, intermediateSize: n('intermediate_size'), numLayers: n('num_hidden_layers'), numHeads: H, numKvHeads: H,
      headDim: hd, vocabSize: n('vocab_size'), norm: 'layer', normEps: n('layer_norm_eps', 1e-5), positional: 'rope',
      ropeTheta: Number(c.rotary_emb_base ?? c.rope_theta ?? rp.rope_theta ?? 10000), rotaryDim: Math.floor(hd * pct), gated: false,
      parallelResidual: c.use_parallel_residual !== false,
    });
    for (let l = 0; l < m.numLayers; l++) {
      const p = `gpt_neox.layers.${l}.`;
      const r = `layers.${l}.`;
      for (const x of ['weight', 'bias']) {
        take(`${r}attn_norm.${x}`, `${p}input_layernorm.${x}`);
        take(`${r}mlp_norm.${x}`, `${p}post_attention_layernorm.${x}`);
        take(`${r}attn.o.${x}`, `${p}attention.dense.${x}`);
        take(`${r}mlp.up.${x}`, `${p}mlp.dense_h_to_4h.${x}`);
        take(`${r}mlp.down.${x}`, `${p}mlp.dense_4h_to_h.${x}`);
      }
      // query_key_value rows are [head][q|k|v][hd] (GPTNeoXAttention: view(..., heads, 3 * hd) then split)
      const w = hf.get(p + 'attention.query_key_value.weight');
      const b = hf.get(p + 'attention.query_key_value.bias');
      if (!w || !b) throw new Error(`reference: ${dir} has no ${p}attention.query_key_value`);
      ['q', 'k', 'v'].forEach((x, i) => {
        const W = new Float64Array(h * h);
        const B = new Float64Array(h);
        for (let head = 0; head < H; head++)
          for (let j = 0; j < hd; j++) {
            const src = head * 3 * hd + i * hd + j;
            W.set(w.data.subarray(src * h, (src + 1) * h), (head * hd + j) * h);
            B[head * hd + j] = b.data[src];
          }
        T.set(`${r}attn.${x}.weight`, W);
        T.set(`${r}attn.${x}.bias`, B);
      });
    }
    take('embed.tokens', 'gpt_neox.embed_in.weight');
    take('final_norm.weight', 'gpt_neox.final_layer_norm.weight');
    take('final_norm.bias', 'gpt_neox.final_layer_norm.bias');
    take('lm_head.weight', 'embed_out.weight', true);
  } else throw new Error(`reference: model_type ${String(c.model_type)}`);
  if (m.activation === 'fatrelu') m.activationParam = n('hidden_act_param');
  m.tieEmbeddings = !T.has('lm_head.weight');
  return m;
}

/** The reference runner of an HF checkpoint folder; `ckpt` gives only its path (and a family the user forced). */
export function createReferenceRunner(ckpt: LoadedCheckpoint): ModelRunner {
  const s = readModel(ckpt);
  const { hiddenSize: h, intermediateSize: F, numLayers: L, numHeads: H, numKvHeads: K, headDim: hd, vocabSize: V } = s;
  const w = (n: string) => {
    const t = s.tensors.get(n);
    if (!t) throw new Error(`reference: missing ${n}`);
    return t;
  };
  const has = (n: string) => s.tensors.has(n);
  const bias = (n: string) => (has(n) ? w(n) : undefined);
  /** the family's norm: RMSNorm (llama-shaped) or LayerNorm with bias (opt, gpt2, gpt_neox) */
  const norm = (x: Mat, n: number, name: string) =>
    s.norm === 'rms' ? rmsnorm(x, n, h, w(name + '.weight'), s.normEps) : layernorm(x, n, h, w(name + '.weight'), w(name + '.bias'), s.normEps);
  const colNorms = Array.from({ length: L }, (_, l) => {
    const d = w(`layers.${l}.mlp.down.weight`);
    return Float32Array.from({ length: F }, (_, i) => {
      let a = 0;
      for (let r = 0; r < h; r++) a += d[r * F + i] ** 2;
      return Math.sqrt(a);
    });
  });

  async function forward(req: ForwardRequest): Promise<ForwardResult> {
    const { batch: B, seqLen: S, mode } = req;
    const nll = new Float32Array(B * (S - 1));
    const activeCounts = new Float32Array(L * B * S);
    const neuronActiveCounts = new Float32Array(L * F);
    const activations = req.captureActivations ? Array.from({ length: L }, () => new Float32Array(B * S * F)) : undefined;
    // rope angles over the rotated dims (gpt_neox: partial rotary), linear and llama3 scaling
    const rd = s.rotaryDim;
    const inv = Array.from({ length: rd / 2 }, (_, i) => 1 / s.ropeTheta ** ((2 * i) / rd) / (s.ropeScaling?.type === 'linear' ? s.ropeScaling.factor : 1));
    const sc = s.ropeScaling;
    if (sc?.type === 'llama3') {
      // transformers' _compute_llama3_parameters: long wavelengths divided by factor, a smooth blend between
      const lo = Number(sc.low_freq_factor ?? 1);
      const hi = Number(sc.high_freq_factor ?? 4);
      const orig = Number(sc.original_max_position_embeddings ?? 8192);
      for (let i = 0; i < inv.length; i++) {
        const wavelen = (2 * Math.PI) / inv[i];
        if (wavelen > orig / lo) inv[i] = inv[i] / sc.factor;
        else if (wavelen >= orig / hi) {
          const sm = (orig / wavelen - lo) / (hi - lo);
          inv[i] = (1 - sm) * (inv[i] / sc.factor) + sm * inv[i];
        }
      }
    }
    const pos = s.positional === 'learned' ? w('embed.positions') : undefined;
    // per-batch top-k needs every token's s of a layer at once: run layer by layer over the whole batch
    const xs: Mat[] = [];
    const emb = w('embed.tokens');
    for (let b = 0; b < B; b++) {
      const x = new Float64Array(S * h);
      for (let t = 0; t < S; t++) for (let k = 0; k < h; k++) x[t * h + k] = emb[req.ids[b * S + t] * h + k] * s.embedScale + (pos ? pos[(t + s.positionOffset) * h + k] : 0);
      xs.push(x);
    }
    for (let l = 0; l < L; l++) {
      const p = `layers.${l}.`;
      const gates: Mat[] = [];
      const as: Mat[] = [];
      for (let b = 0; b < B; b++) {
        const x = xs[b];
        const hn = norm(x, S, p + 'attn_norm');
        const q = linear(hn, S, h, w(p + 'attn.q.weight'), H * hd, bias(p + 'attn.q.bias'));
        const k = linear(hn, S, h, w(p + 'attn.k.weight'), K * hd, bias(p + 'attn.k.bias'));
        const v = linear(hn, S, h, w(p + 'attn.v.weight'), K * hd, bias(p + 'attn.v.bias'));
        const headVec = (m: Mat, nh: number, t: number, head: number, normW?: Float64Array) => {
          const vec = Array.from({ length: hd }, (_, i) => m[t * nh * hd + head * hd + i]);
          if (normW) {
            const ms = vec.reduce((a, z) => a + z * z, 0) / hd;
            const r = 1 / Math.sqrt(ms + s.normEps);
            for (let i = 0; i < hd; i++) vec[i] = vec[i] * r * normW[i];
          }
          // rotate_half rope on the first rd dims; learned positions: none
          const out = vec.slice();
          if (s.positional === 'rope')
            for (let i = 0; i < rd / 2; i++) {
              const c = Math.cos(t * inv[i]);
              const sn = Math.sin(t * inv[i]);
              out[i] = vec[i] * c - vec[i + rd / 2] * sn;
              out[i + rd / 2] = vec[i + rd / 2] * c + vec[i] * sn;
            }
          return out;
        };
        const qn = s.qkNorm ? w(p + 'attn.q_norm.weight') : undefined;
        const kn = s.qkNorm ? w(p + 'attn.k_norm.weight') : undefined;
        const ctx = new Float64Array(S * H * hd);
        for (let head = 0; head < H; head++) {
          const kvh = Math.floor(head / (H / K));
          const keys = Array.from({ length: S }, (_, t) => headVec(k, K, t, kvh, kn));
          for (let t = 0; t < S; t++) {
            const qv = headVec(q, H, t, head, qn);
            const sc = keys.slice(0, t + 1).map((kv) => kv.reduce((a, z, i) => a + z * qv[i], 0) / Math.sqrt(hd));
            const mx = Math.max(...sc);
            const e = sc.map((z) => Math.exp(z - mx));
            const sum = e.reduce((a, z) => a + z, 0);
            for (let u = 0; u <= t; u++) for (let i = 0; i < hd; i++) ctx[t * H * hd + head * hd + i] += (e[u] / sum) * v[u * K * hd + kvh * hd + i];
          }
        }
        const o = linear(ctx, S, H * hd, w(p + 'attn.o.weight'), h, bias(p + 'attn.o.bias'));
        // gpt_neox parallel residual: x + attn(ln1(x)) + mlp(ln2(x)) — the MLP norm sees x before attention
        const mPar = s.parallelResidual ? norm(x, S, p + 'mlp_norm') : undefined;
        for (let i = 0; i < x.length; i++) x[i] += o[i] * s.residualScale;
        const m = mPar ?? norm(x, S, p + 'mlp_norm');
        if (s.gated) {
          const g = linear(m, S, h, w(p + 'mlp.gate.weight'), F, bias(p + 'mlp.gate.bias'));
          const u = linear(m, S, h, w(p + 'mlp.up.weight'), F, bias(p + 'mlp.up.bias'));
          const sv = g.map((z) => act(s.activation, z, s.activationParam));
          gates.push(sv);
          as.push(sv.map((z, i) => z * u[i]));
        } else {
          // non-gated (paper Sec. 2.2): a = σ(W_in x + b) and s = a
          const u = linear(m, S, h, w(p + 'mlp.up.weight'), F, bias(p + 'mlp.up.bias'));
          const sv = u.map((z) => act(s.activation, z, s.activationParam));
          gates.push(sv);
          as.push(sv.slice());
        }
      }
      // masks (paper Sec. 4.1–4.2), decided on all B·S tokens of the layer
      let kth = Infinity; // topk-batch: the kzero-th smallest |s| and how many equal values to zero
      let tieBudget = 0;
      if (mode.kind === 'topk-batch') {
        const all = gates.flatMap((g) => Array.from(g, Math.abs)).sort((a, b) => a - b);
        const kzero = Math.floor(all.length * (1 - mode.fraction));
        if (kzero > 0) {
          kth = all[kzero - 1];
          tieBudget = kzero - all.filter((z) => z < kth).length;
        } else kth = -Infinity;
      }
      for (let b = 0; b < B; b++) {
        const a = as[b];
        const sv = gates[b];
        for (let t = 0; t < S; t++) {
          let thrTok = -Infinity;
          if (mode.kind === 'topk-token') {
            const sorted = Array.from(sv.subarray(t * F, (t + 1) * F), Math.abs).sort((x, y) => y - x);
            thrTok = mode.k > 0 ? sorted[Math.min(mode.k, F) - 1] : Infinity;
          }
          let active = 0;
          for (let i = 0; i < F; i++) {
            const ai = a[t * F + i];
            const si = Math.abs(sv[t * F + i]);
            if (activations) activations[l][(b * S + t) * F + i] = ai;
            let keep: boolean;
            switch (mode.kind) {
              case 'dense':
                keep = ai !== 0;
                break;
              case 'cett':
                keep = !(Math.abs(Math.fround(ai)) < mode.tau[l][i]);
                break;
              case 'fat':
                keep = !(si < mode.eps + 1e-18);
                break;
              case 'relu':
                keep = !(si < 1e-18);
                break;
              case 'topk-token':
                keep = si >= thrTok && si >= 1e-18;
                break;
              case 'topk-batch': {
                let zeroed = si < kth;
                if (si === kth && tieBudget > 0) {
                  zeroed = true;
                  tieBudget--;
                }
                keep = !zeroed && si >= 1e-18;
                break;
              }
            }
            if (keep) {
              active++;
              neuronActiveCounts[l * F + i]++;
            } else if (mode.kind !== 'dense') a[t * F + i] = 0;
          }
          activeCounts[l * B * S + b * S + t] = active;
        }
        const down = linear(a, S, F, w(p + 'mlp.down.weight'), h, bias(p + 'mlp.down.bias'));
        for (let i = 0; i < xs[b].length; i++) xs[b][i] += down[i] * s.residualScale;
      }
    }
    const head = s.tieEmbeddings ? w('embed.tokens') : w('lm_head.weight');
    for (let b = 0; b < B; b++) {
      const hf = norm(xs[b], S, 'final_norm').map((z) => z * s.logitScale);
      const logits = linear(hf, S, h, head, V);
      for (let t = 0; t < S - 1; t++) {
        const row = logits.subarray(t * V, (t + 1) * V);
        const mx = Math.max(...row);
        const lse = mx + Math.log(row.reduce((a, z) => a + Math.exp(z - mx), 0));
        nll[b * (S - 1) + t] = lse - row[req.ids[b * S + t + 1]];
      }
    }
    return { nll, activeCounts, neuronActiveCounts, activations };
  }

  return { spec: ckpt.spec, provider: 'cpu', dtype: 'float32', fallbackReasons: [], colNorms, forward, dispose: async () => {} };
}
