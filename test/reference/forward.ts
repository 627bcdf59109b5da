/**
 * A deliberately plain float64 forward pass of every family in ModelSpec (LLaMA-shaped decoders, OPT, GPT-2,
 * GPT-NeoX), written from the HF modelling code and METHOD.md, with the masks of METHOD.md §2–4 applied to a before down_proj. It shares nothing with
 * main/graph: it is the independent reference the ONNX graphs and the measurements are checked against.
 */
import type { LoadedCheckpoint } from '../../main/checkpoint/types';
import type { ForwardRequest, ForwardResult, ModelRunner } from '../../main/inference/runner-types';

type Mat = Float64Array; // row-major

function get(ckpt: LoadedCheckpoint, name: string): Float64Array {
  const t = ckpt.weights.get(name);
  if (!t) throw new Error(`reference: missing ${name}`);
  return Float64Array.from(t.toFloat32());
}

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

export function createReferenceRunner(ckpt: LoadedCheckpoint): ModelRunner {
  const s = ckpt.spec;
  const { hiddenSize: h, intermediateSize: F, numLayers: L, numHeads: H, numKvHeads: K, headDim: hd, vocabSize: V } = s;
  const w = (n: string) => get(ckpt, n);
  const has = (n: string) => ckpt.weights.has(n);
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
          // non-gated (METHOD.md §1): a = σ(W_in x + b) and s = a
          const u = linear(m, S, h, w(p + 'mlp.up.weight'), F, bias(p + 'mlp.up.bias'));
          const sv = u.map((z) => act(s.activation, z, s.activationParam));
          gates.push(sv);
          as.push(sv.slice());
        }
      }
      // masks (METHOD.md §2–4), decided on all B·S tokens of the layer
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

  return { spec: s, provider: 'cpu', dtype: 'float32', fallbackReasons: [], colNorms, forward, dispose: async () => {} };
}
