/**
 * A small in-memory language model that implements ModelRunner with every MaskMode, for the metrics
 * tests while the real runners are elsewhere: embeddings, a causal context mix (mean of previous
 * embeddings, a stand-in for attention), L FFN layers (gated or not, any activation), tied logits.
 * Computed in float64 from plain loops; no caching, no cleverness.
 */
import type { ActivationName, LoadedCheckpoint, ModelSpec } from '../../main/checkpoint/types';
import type { ModelSource } from '../../main/jobs/models';
import type { ForwardRequest, ForwardResult, MaskMode, ModelRunner } from '../../main/inference/runner-types';
import { mulberry32 } from '../../main/base/rng';

/** the project's seeded PRNG (mulberry32), shared with the laws' bootstrap */
export const rng = mulberry32;

const ACT: Record<string, (x: number) => number> = {
  relu: (x) => Math.max(0, x),
  silu: (x) => x / (1 + Math.exp(-x)),
  gelu: (x) => 0.5 * x * (1 + Math.tanh(0.7978845608 * (x + 0.044715 * x ** 3))),
};

export interface ToyConfig {
  seed: number;
  vocab: number;
  d: number;
  f: number;
  layers: number;
  gated: boolean;
  activation: 'relu' | 'silu' | 'gelu';
}

export interface ToyModel extends ModelRunner {
  /** per layer [d, F] */
  down: Float32Array[];
  /** sample a token stream from the dense model itself (so the dense model is near-optimal on it) */
  sample(sequences: number, seqLen: number, seed: number): Int32Array;
  forwardCalls: number;
}

export function makeToyModel(cfg: ToyConfig): ToyModel {
  const r = rng(cfg.seed);
  const g = (scale: number) => (r() - 0.5) * 2 * scale;
  const { vocab: V, d, f: F, layers: L } = cfg;
  const emb = Float64Array.from({ length: V * d }, () => g(1.5));
  const gate = Array.from({ length: L }, () => Float64Array.from({ length: F * d }, () => g(1 / Math.sqrt(d))));
  const up = Array.from({ length: L }, () => Float64Array.from({ length: F * d }, () => g(1 / Math.sqrt(d)) * 2));
  const upBias = Array.from({ length: L }, () => Float64Array.from({ length: F }, () => g(0.3)));
  const down = Array.from({ length: L }, () => Float32Array.from({ length: d * F }, () => g(1.2 / Math.sqrt(F))));
  const downBias = Array.from({ length: L }, () => Float64Array.from({ length: d }, () => g(0.1)));
  const colNorms = down.map((w) => {
    const n = new Float32Array(F);
    for (let i = 0; i < F; i++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += w[k * F + i] ** 2;
      n[i] = Math.sqrt(s);
    }
    return n;
  });
  const act = ACT[cfg.activation];

  const spec = {
    family: cfg.gated ? 'llama' : 'gpt2',
    modelType: 'toy',
    activation: cfg.activation as ActivationName,
    hiddenSize: d,
    intermediateSize: F,
    numLayers: L,
    gated: cfg.gated,
  } as ModelSpec;

  /** one sequence: returns logits [S, V] and per layer a [S, F], s [S, F], active flags */
  function runSeq(ids: ArrayLike<number>, S: number, mode: MaskMode, layerHook: (l: number, t: number, a: Float64Array, s: Float64Array) => Uint8Array) {
    const h = new Float64Array(S * d);
    for (let t = 0; t < S; t++) {
      for (let k = 0; k < d; k++) {
        let ctx = 0;
        for (let u = 0; u < t; u++) ctx += emb[ids[u] * d + k];
        h[t * d + k] = emb[ids[t] * d + k] + (t > 0 ? (0.7 * ctx) / t : 0);
      }
    }
    void mode;
    for (let l = 0; l < L; l++) {
      for (let t = 0; t < S; t++) {
        const x = h.subarray(t * d, (t + 1) * d);
        let ms = 0;
        for (let k = 0; k < d; k++) ms += x[k] * x[k];
        const inv = 1 / Math.sqrt(ms / d + 1e-6);
        const a = new Float64Array(F);
        const s = new Float64Array(F);
        for (let i = 0; i < F; i++) {
          let gx = 0;
          let ux = 0;
          for (let k = 0; k < d; k++) {
            gx += gate[l][i * d + k] * x[k] * inv;
            ux += up[l][i * d + k] * x[k] * inv;
          }
          if (cfg.gated) {
            s[i] = act(gx);
            a[i] = s[i] * ux;
          } else {
            s[i] = act(ux + upBias[l][i]);
            a[i] = s[i];
          }
        }
        const keep = layerHook(l, t, a, s);
        for (let k = 0; k < d; k++) {
          let o = cfg.gated ? 0 : downBias[l][k];
          for (let i = 0; i < F; i++) if (keep[i]) o += down[l][k * F + i] * a[i];
          x[k] += o;
        }
      }
    }
    const logits = new Float64Array(S * V);
    for (let t = 0; t < S; t++) for (let v = 0; v < V; v++) {
      let z = 0;
      for (let k = 0; k < d; k++) z += h[t * d + k] * emb[v * d + k];
      logits[t * V + v] = z;
    }
    return logits;
  }

  function logSoftmax(logits: Float64Array, t: number, target: number): number {
    let mx = -Infinity;
    for (let v = 0; v < V; v++) mx = Math.max(mx, logits[t * V + v]);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(logits[t * V + v] - mx);
    return logits[t * V + target] - mx - Math.log(s);
  }

  const model: ToyModel = {
    spec,
    provider: 'cpu',
    dtype: 'float32',
    fallbackReasons: [],
    colNorms,
    down,
    forwardCalls: 0,
    async forward(req: ForwardRequest): Promise<ForwardResult> {
      model.forwardCalls++;
      const { batch: B, seqLen: S, mode } = req;
      const T = B * S;
      const nll = new Float32Array(B * (S - 1));
      const activeCounts = new Float32Array(L * T);
      const neuronActiveCounts = new Float32Array(L * F);
      const activations = req.captureActivations ? Array.from({ length: L }, () => new Float32Array(T * F)) : undefined;
      // topk-batch needs the whole batch's |s| per layer: a first dense pass collects them (plain, slow, fine)
      let batchCut: number[] | undefined;
      if (mode.kind === 'topk-batch') {
        const all: number[][] = Array.from({ length: L }, () => []);
        for (let b = 0; b < B; b++)
          runSeq(req.ids.subarray(b * S, (b + 1) * S), S, { kind: 'dense' }, (l, _t, _a, s) => {
            for (const x of s) all[l].push(Math.abs(Math.fround(x)));
            return new Uint8Array(F).fill(1);
          });
        batchCut = all.map((xs) => {
          const sorted = xs.sort((x, y) => x - y);
          const nz = Math.floor(sorted.length * (1 - mode.fraction));
          return nz > 0 ? sorted[nz - 1] : -1; // zero every |s| ≤ the nz-th smallest (ties: approximate)
        });
      }
      for (let b = 0; b < B; b++) {
        const ids = req.ids.subarray(b * S, (b + 1) * S);
        const logits = runSeq(ids, S, mode, (l, t, a, s) => {
          const keep = new Uint8Array(F);
          const row = b * S + t;
          for (let i = 0; i < F; i++) {
            const af = Math.fround(a[i]);
            if (activations) activations[l][row * F + i] = af;
            let k = true;
            switch (mode.kind) {
              case 'dense':
                break;
              case 'cett':
                k = !(Math.abs(af) < mode.tau[l][i]);
                break;
              case 'fat':
                k = !(Math.abs(s[i]) < mode.eps + 1e-18);
                break;
              case 'relu':
                k = !(Math.abs(s[i]) < 1e-18);
                break;
              case 'topk-batch':
                k = Math.abs(Math.fround(s[i])) > batchCut![l];
                break;
              case 'topk-token': {
                let larger = 0;
                for (let j = 0; j < F; j++) if (Math.abs(s[j]) > Math.abs(s[i]) || (Math.abs(s[j]) === Math.abs(s[i]) && j < i)) larger++;
                k = larger < mode.k;
                break;
              }
            }
            keep[i] = k ? 1 : 0;
            if (k) {
              activeCounts[l * T + row]++;
              neuronActiveCounts[l * F + i]++;
            }
          }
          return keep;
        });
        for (let t = 0; t + 1 < S; t++) nll[b * (S - 1) + t] = -logSoftmax(logits, t, ids[t + 1]);
      }
      return { nll, activeCounts, neuronActiveCounts, activations };
    },
    async dispose() {},
    sample(sequences, S, seed) {
      const rs = rng(seed);
      const out = new Int32Array(sequences * S);
      for (let q = 0; q < sequences; q++) {
        const ids: number[] = [Math.floor(rs() * V)];
        while (ids.length < S) {
          const logits = runSeq(ids, ids.length, { kind: 'dense' }, () => new Uint8Array(F).fill(1));
          const t = ids.length - 1;
          let mx = -Infinity;
          for (let v = 0; v < V; v++) mx = Math.max(mx, logits[t * V + v]);
          const p = Array.from({ length: V }, (_, v) => Math.exp(logits[t * V + v] - mx));
          const z = p.reduce((x, y) => x + y, 0);
          let u = rs() * z;
          let v = 0;
          while (v < V - 1 && (u -= p[v]) > 0) v++;
          ids.push(v);
        }
        out.set(ids, q * S);
      }
      return out;
    },
  };
  return model;
}

/**
 * A job's model source serving toy model `model` (vocabulary 20) for any checkpoint path, with a tokenizer of one token
 * per character (its code mod 20): for tests that run a whole job through the engine (runs.models).
 */
export function toyModelSource(model: ToyModel): ModelSource {
  const tokenizer = { encode: (t: string) => Array.from(t, (ch) => ch.charCodeAt(0) % 20), decode: () => '', vocabSize: 20, source: 'chars' };
  return {
    loadCheckpoint: async (p) => ({ path: p, format: 'hf', spec: model.spec, weights: new Map(), tokenizer, contentHash: 'x', notices: [] }) as LoadedCheckpoint,
    openTarget: async (ckpt) => ({ id: ckpt.path, runner: model, downWeights: model.down }),
  };
}
