/**
 * The instrumented ONNX graph of every decoder family in ModelSpec (llama, mistral, qwen2, qwen3, minicpm;
 * opt, gpt2 with LayerNorm, learned positions and a non-gated FFN; gpt_neox with parallel residual and partial
 * rotary), built from a LoadedCheckpoint with plain ai.onnx ops (opset 17) so CPU, CUDA and WebGPU all run it.
 *
 * Inputs:  input_ids int64 [B,S]; the mask parameter of the graph's mode (paper Sec. 4.1–4.2 and App. F):
 *          cett → tau float [L,F] (skip iff |a_i| < τ_{l,i} = ε_l/‖W_out[:,i]‖₂, the authors' form);
 *          fat → eps float [1] (skip iff |s_i| < eps); topk-token → k int64 [1]; topk-batch → kzero int64 [1]
 *          (per layer, zero the kzero smallest |s| of the batch, then skip iff |s| < 1e-18); relu/dense → none.
 * Outputs: nll [B,S-1] (next-token NLL computed in the graph: logits never leave it), active_counts [L,B,S],
 *          neuron_counts [L,F], and with `capture` the gated intermediates act.{l} [B·S,F] (fp32).
 * fp16 graphs keep norms, softmax, log-softmax and mask comparisons in fp32.
 * fp32 graphs with `halfWeights` keep the weight matrices a checkpoint stored as fp16/bf16 in that dtype (the same
 * bits) and Cast them to fp32 inside the graph: half the memory, the same values (the widening is exact).
 * Weights (issue 15): every projection is Gemm on the matrix as the checkpoint stores it (HF's [out,in]: transB=1), so
 * a graph built with ExternalTarget.base points at the checkpoint's own bytes (weights.ts planWeights decides which
 * tensors can be; the rest are converted once, inference/graph-store.ts).
 */
import { DT, GraphBuilder, type ElemType } from './onnx-builder';
import { f32ToF16 } from '../checkpoint/safetensors';
import { BIG_WEIGHT, convertTensor, inPlace, planWeights, storedDims, toHalf, transpose, transpose16 } from './weights';
import type { LoadedCheckpoint, ModelSpec, StoredBytes } from '../checkpoint/types';
import type { MaskMode } from '../inference/runner-types';
import { LabError } from '../api/errors';
import { declareMaskInputs, maskActivations } from './masks';

export type GraphDType = 'float32' | 'float16';
export interface GraphOptions {
  dtype: GraphDType;
  mode: MaskMode['kind'];
  capture: boolean;
  /** longest sequence the rope/causal tables cover */
  maxSeq: number;
  /** plain decoder (input_ids → logits, no masks or counts): what an exporter would write */
  plain?: boolean;
  /**
   * GPU-friendly form (issue 10): attention through com.microsoft MultiHeadAttention (causal via unidirectional=1,
   * flash attention on CUDA), rope through com.microsoft RotaryEmbedding on [B,S,H·hd] (no Transposes), RMSNorm
   * through SimplifiedLayerNormalization (fp32 inside). Same numbers as the plain form up to rounding.
   */
  fused?: boolean;
  /**
   * Plain (unfused) attention only: the queries in this many causal chunks (CPU graphs, issue 16). Chunk j (rows
   * j·c … min((j+1)·c, S)−1, c = ⌈S/k⌉) is scored against keys 0 … its last row only, so the upper triangle of
   * q·kᵀ, its mask Add and Softmax are never computed (at k = 4: 5/8 of the S×S work). Masked keys weigh exactly 0
   * in both forms: the same numbers as one chunk up to fp32 summation order. 1 or absent: the whole S×S at once.
   */
  attnChunks?: number;
  /**
   * fp32 graphs only: the big weight matrices (token/position embeddings, attention and FFN projections; not lm_head)
   * that the checkpoint stores as fp16 or bf16 stay initializers of that dtype, the stored bits as they are, with
   * a Cast to fp32 right before use (tables: Gather/Slice first, then Cast what was read). An fp16 checkpoint's graph
   * then holds about 1× its weights instead of 2×. The values are those of the fp32 graph (fp16/bf16 → fp32 is
   * exact); only the MatMuls may sum in another order, and run slower: onnxruntime cannot pre-pack a weight that is
   * not a constant (BENCHMARKS.md, compile). The session must not constant-fold the Casts (onnxruntime would turn them
   * back into fp32 initializers): see storesHalfWeights and HALF_WEIGHTS_SESSION_EXTRA.
   */
  halfWeights?: boolean;
  /**
   * Rows (tokens) per chunk of the head and its NLL (Decoder.headNll); default: as many as keep one chunk's fp32
   * logits to HEAD_CHUNK_ELEMENTS. Every row's NLL is the same function of its hidden state for any chunking.
   */
  headRows?: number;
  /**
   * Streamed execution (issue 15, main/inference/streamed.ts): only decoder layers from … to−1. A block with from > 0
   * takes the residual stream as input `hidden_in` [B,S,d_h] (graph dtype) instead of embedding input_ids; a block
   * with to < L outputs it as `hidden_out` instead of the head and nll. input_ids stays an input of every block (shapes,
   * and the NLL targets of the last); the mask parameter keeps its whole-model shape (tau [L,F]); active_counts and
   * neuron_counts cover the block's layers. The layers compute exactly as in the whole graph.
   */
  layers?: [number, number];
  /**
   * A streamed forward block fed its weights as inputs (issue 15, main/inference/streamed.ts): the block's layer tensors
   * are graph inputs `w.l{i}.…` (weightInputName: i counts from the block's first layer; the dtype and layout the
   * initializers would have), `hidden_in` is always an input and `hidden_out` always an output (no head: the embedding
   * and the head are the search's end graphs, buildSearchEndGraph), tau is [to−from, F] and the captured activations
   * are `act.{l−from}`: every block of the same layer count builds the same graph, one session serves them all.
   */
  weightInputs?: boolean;
  /**
   * fp32 CETT masks as a · Cast(keep) (Mul) instead of Where(keep, a, 0): onnxruntime's CPU Where runs on one thread,
   * Mul on every core. The same NLL and counts bit for bit (masks.ts maskActivations says why). Set by the CPU runner
   * (issue 16); GPU graphs leave it unset (their bytes and cache keys unchanged).
   */
  maskMul?: boolean;
}


/**
 * Whether a graph built with these options holds 16-bit weights behind Casts (halfWeights, fp32 graph, and the
 * checkpoint stores some big matrix as fp16/bf16): its session then needs constant folding off for those Casts.
 */
export function storesHalfWeights(ckpt: LoadedCheckpoint, o: Pick<GraphOptions, 'dtype' | 'halfWeights'>): boolean {
  if (!o.halfWeights || o.dtype !== 'float32') return false;
  for (const [name, t] of ckpt.weights) if ((t.dtype === 'float16' || t.dtype === 'bfloat16') && BIG_WEIGHT.test(name)) return true;
  return false;
}

/**
 * onnxruntime session config for graphs with storesHalfWeights. Two of its optimizers would undo them: ConstantFolding
 * runs the weight Casts once and keeps their fp32 results as initializers (2× the memory again), and
 * FuseFp16InitializerToFp32NodeTransformer (level 'all', meant for the Casts onnxruntime inserts itself) does the same
 * for fp16 and, with folding off, aborts the process on our Casts (onnxruntime-node 1.29.0: an assertion in
 * std::vector::operator[]). Config key optimization.disable_specified_optimizers (onnxruntime-node flattens `extra`),
 * registered optimizer names separated by ';' (with ',' nothing is disabled). Nothing else in these graphs is
 * constant-folded: the optimized graphs with and without the option differ only in those Casts (checked with
 * optimizedModelFilePath for llama, qwen3, gpt2, opt and gpt_neox in every mask mode; llama-graph.test.ts checks the
 * weights stay 16-bit).
 */
export const HALF_WEIGHTS_SESSION_EXTRA = { optimization: { disable_specified_optimizers: 'ConstantFolding;FuseFp16InitializerToFp32NodeTransformer' } };

/** rope tables [maxSeq, headDim] (cos, sin), HF rotate_half layout, with linear / llama3 scaling. */
export function ropeTables(spec: ModelSpec, maxSeq: number): { cos: Float32Array; sin: Float32Array } {
  const d = spec.rotaryDim;
  const half = d / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / spec.ropeTheta ** ((2 * i) / d);
  const sc = spec.ropeScaling;
  if (sc?.type === 'linear') for (let i = 0; i < half; i++) inv[i] /= sc.factor;
  if (sc?.type === 'llama3') {
    const lowF = Number(sc.low_freq_factor ?? 1);
    const highF = Number(sc.high_freq_factor ?? 4);
    const orig = Number(sc.original_max_position_embeddings ?? 8192);
    const lowWl = orig / lowF;
    const highWl = orig / highF;
    for (let i = 0; i < half; i++) {
      const wl = (2 * Math.PI) / inv[i];
      if (wl > lowWl) inv[i] /= sc.factor;
      else if (wl >= highWl) {
        const smooth = (orig / wl - lowF) / (highF - lowF);
        inv[i] = (1 - smooth) * (inv[i] / sc.factor) + smooth * inv[i];
      }
    }
  }
  const cos = new Float32Array(maxSeq * d);
  const sin = new Float32Array(maxSeq * d);
  for (let p = 0; p < maxSeq; p++)
    for (let i = 0; i < half; i++) {
      const ang = p * inv[i];
      cos[p * d + i] = cos[p * d + i + half] = Math.cos(ang);
      sin[p * d + i] = sin[p * d + i + half] = Math.sin(ang);
    }
  return { cos, sin };
}

/**
 * Where a graph's weights go. `base` given: checkpoint tensors whose stored bytes are already what the graph needs
 * are pointed at in place (ONNX external data into the checkpoint's own files, locations relative to `base`; the
 * session must then be opened with `base` as its external-data folder: inference/session-open.ts), and only the rest
 * is converted. `file` given: converted tensors are written there as external data under the name `location`
 * (relative to `base`, or to the .onnx file without one); else they are kept inside the graph.
 */
export interface ExternalTarget {
  file?: string;
  location?: string;
  base?: string;
  /** converted copies already written (weights.ts writeConverted), pointed at like the checkpoint's own bytes */
  converted?: Map<string, StoredBytes>;
}

export function buildLlamaGraph(ckpt: LoadedCheckpoint, o: GraphOptions, external?: ExternalTarget): Uint8Array {
  const g = new GraphBuilder(`sparsity-lab-${ckpt.spec.family}`);
  return g.withExternal(external, () => buildInto(g, ckpt, o));
}

/** What a decoder stream does at each layer's FFN: a is the down_proj input [B,S,F], sAct = σ(W_gate x) (gated) or a. */
export type FfnHook = (l: number, sAct: string, a: string) => string;

/** Layers from … to−1 of the decoder; `hidden` (the residual stream after layer from−1) replaces the embedding. */
export interface StreamRange {
  from: number;
  to: number;
  hidden?: string;
  /** the residual stream after layer to−1 is returned as `hidden` even after the model's last layer (no head): a streamed search block fed its weights as inputs */
  open?: boolean;
}

/**
 * The graph input of a block's layer tensor when its weights are fed as inputs (makeDecoder `weightInputs`):
 * `layers.{l}.{rest}` of a block starting at layer `from` is `w.l{l − from}.{rest}`, so that every block with the same
 * number of layers (and shapes) builds the same graph and shares one session.
 */
export function weightInputName(l: number, from: number, rest: string): string {
  return `w.l${l - from}.${rest}`;
}

/**
 * The decoder's building blocks over one GraphBuilder, with every weight registered once, so that one graph can
 * hold several streams through the same weights (the CETT search graph runs a dense and a sparse stream).
 */
export interface Decoder {
  spec: ModelSpec;
  /** graph compute dtype */
  T: ElemType;
  /** a weight [out,in] as a value of shape [in,out] for MatMul(x, ·) (registered once; a Transpose node when the initializer is the checkpoint's [out,in] bytes) */
  linear(name: string, out: number, inp: number): string;
  /**
   * a weight as registered: `w` the checkpoint's [out,in] matrix when `transB` (nothing copied; products take it with
   * transB), else a [in,out] value
   */
  matrix(name: string): { w: string; transB: boolean };
  /** bytes of checkpoint tensors this decoder pointed at in place, and converted (copied) into the graph or its data file */
  readonly weightBytes: { inPlace: number; converted: number };
  /** a checkpoint tensor as fp32 */
  W(name: string): Float32Array;
  toF(x: string): string;
  /** runs the decoder on ids; `ffn` returns the (possibly masked) down_proj input. Without `head` it stops after the last layer's FFN hook. */
  stream(ids: string, ffn: FfnHook, head: boolean, range?: StreamRange): { logits?: string; hidden?: string; final?: string };
  /**
   * The per-token NLL of the next token [B, S−1] (fp32) from a head stream's `final` hidden states, the head and the
   * log-softmax run over chunks of rows in a Loop: the [tokens, vocab] logits exist one chunk at a time (2.4B, 16 × 1024
   * tokens, vocab 122,753: 8 GB of fp32 logits and as much again per temporary, whole). Same values as
   * nllFromLogits(logits) row by row.
   */
  headNll(final: string, ids: string, out?: string): string;
}

/** fp32 elements of one chunk's logits in Decoder.headNll (256 MB) */
export const HEAD_CHUNK_ELEMENTS = 2 ** 26;

export function makeDecoder(
  g: GraphBuilder,
  ckpt: LoadedCheckpoint,
  o: Pick<GraphOptions, 'dtype' | 'maxSeq' | 'fused' | 'halfWeights' | 'plain' | 'headRows' | 'attnChunks'> & {
    /** the layers' tensors are graph inputs (weightInputName, block starting at `from`) in the layout their initializers would have */
    weightInputs?: { from: number };
  },
): Decoder {
  const s = ckpt.spec;
  if (s.positional === 'rope' && (s.rotaryDim % 2 !== 0 || s.rotaryDim > s.headDim || s.rotaryDim <= 0))
    throw new LabError('BAD_CHECKPOINT', `${ckpt.path}: rotary dimension ${s.rotaryDim} does not fit head dimension ${s.headDim}`);
  if (s.ropeScaling && !['linear', 'llama3'].includes(s.ropeScaling.type))
    throw new LabError('UNSUPPORTED', `${ckpt.path}: rope_scaling type '${s.ropeScaling.type}' is not supported by the graph builder yet`);
  const T: ElemType = o.dtype === 'float16' ? DT.FLOAT16 : DT.FLOAT;
  const F32 = DT.FLOAT;
  const { hiddenSize: h, intermediateSize: F, numLayers: L, numHeads: H, numKvHeads: K, headDim: hd, vocabSize: V } = s;
  const W = (name: string): Float32Array => {
    const t = ckpt.weights.get(name);
    if (!t) throw new LabError('BAD_CHECKPOINT', `${ckpt.path}: missing tensor '${name}'`);
    return t.toFloat32();
  };
  const once = new Map<string, string>();
  const memo = (name: string, make: () => string) => {
    let v = once.get(name);
    if (v === undefined) once.set(name, (v = make()));
    return v;
  };
  const weightBytes = { inPlace: 0, converted: 0 };
  // every checkpoint tensor's dtype and source, decided once (weights.ts planWeights: what the checkpoint card shows)
  const plan = planWeights(ckpt, o, g.canRef);
  /**
   * Planned tensor `name` as an initializer (rows from … from+count−1 of it when given): the checkpoint's bytes or the
   * converted copy prepared in the graph cache (ExternalTarget.converted) where there are such, else converted here.
   */
  const initOf = (name: string, rows?: { from: number; count: number }) => {
    const p = plan.tensors.get(name);
    if (!p) throw new LabError('BAD_CHECKPOINT', `${ckpt.path}: missing tensor '${name}'`);
    const dims = rows ? [rows.count, ...p.dims.slice(1)] : p.dims;
    const li = o.weightInputs && !rows ? /^layers\.(\d+)\.(.+)$/.exec(name) : null;
    if (li) return { init: g.input(weightInputName(Number(li[1]), o.weightInputs!.from, li[2]), p.elem, storedDims(p)), elem: p.elem, transposed: !!p.place?.transposed };
    const src = p.place ?? g.prepared(name);
    if (src) {
      const b = rows ? inPlace({ ...ckpt.weights.get(p.src)!, stored: () => src }, src.dtype, rows)! : src;
      weightBytes[p.place ? 'inPlace' : 'converted'] += b.length;
      return { init: g.initRef(name, p.elem, b.transposed ? [...dims].reverse() : dims, b), elem: p.elem, transposed: b.transposed };
    }
    const all = convertTensor(ckpt, p);
    const row = p.dims.slice(1).reduce((a, b) => a * b, 1);
    const data = rows ? all.subarray(rows.from * row, (rows.from + rows.count) * row) : all;
    weightBytes.converted += data.byteLength;
    return { init: g.init(name, p.elem, dims, data), elem: p.elem, transposed: false };
  };
  const constT = (name: string, data: () => Float32Array, dims: number[]) =>
    memo(name, () => (T === DT.FLOAT16 ? g.init(name, T, dims, toHalf(data())) : g.init(name, T, dims, data())));
  /** a checkpoint vector (norm weight, bias) in its planned dtype (the graph dtype; fp32 for LayerNorm) */
  const vec = (name: string) => memo(name, () => initOf(name).init);
  /** a matrix initializer for y = x·Wᵀ: `w` holds W [out,in] (transB) or, for checkpoints that store [in,out], W itself */
  const matrices = new Map<string, { w: string; transB: boolean; matmul?: boolean }>();
  /** planned matrix `name` [out,in] (a 16-bit one in an fp32 graph is Cast to fp32 right before use: halfWeights) */
  const matrixOf = (name: string) => {
    let m = matrices.get(name);
    if (!m && o.plain) {
      // an exporter's layout (PyTorch writes MatMul(x, Wᵀ) with Wᵀ [in,out] as the initializer): interop graphs only
      const p = plan.tensors.get(name)!;
      const v = convertTensor(ckpt, p);
      const [out, inp] = p.dims;
      const t = v instanceof Float32Array ? transpose(v, out, inp) : transpose16(v, out, inp);
      matrices.set(name, (m = { w: g.init(name, p.elem, [inp, out], t), transB: false, matmul: true }));
    }
    if (!m) {
      const r = initOf(name);
      matrices.set(name, (m = { w: r.elem !== T ? g.op('Cast', [r.init], { to: T }) : r.init, transB: !r.transposed }));
    }
    return m;
  };
  /** Linear weight [out,in] as a [in,out] value for MatMul(x, ·) (search graph): a Transpose of the stored matrix where needed */
  const linear = (name: string) => {
    const m = matrixOf(name);
    return m.transB ? memo(`${name}.T`, () => g.op('Transpose', [m.w], { perm: [1, 0] })) : m.w;
  };
  /** names of tables kept 16-bit: what is read from them (Gather, Slice) is Cast to fp32 */
  const halfTables = new Set<string>();
  /** an embedding table [rows, h] (rows `from` … `from + n − 1` of checkpoint tensor `name`) */
  const table = (name: string, dims: [number, number], from = 0) =>
    memo(name, () => {
      const r = initOf(name, from === 0 && dims[0] === plan.tensors.get(name)?.dims[0] ? undefined : { from, count: dims[0] });
      if (r.elem !== T) halfTables.add(name);
      return r.init;
    });
  const readTable = (name: string, x: string) => (halfTables.has(name) ? g.op('Cast', [x], { to: F32 }) : x);
  const flatShapes = new Map<number, string>();
  /** the shape [-1, n] (flattens [B,S,n] for Gemm) */
  const flatTo = (n: number) => {
    let v = flatShapes.get(n);
    if (!v) flatShapes.set(n, (v = g.i64(g.fresh('flat'), [-1, n])));
    return v;
  };
  const scalarT = (name: string, v: number) => constT(name, () => new Float32Array([v]), []);
  const scalarF = (name: string, v: number) => memo(name, () => g.f32(name, [v], []));
  const toF = (x: string) => (T === F32 ? x : g.op('Cast', [x], { to: F32 }));
  const toT = (x: string) => (T === F32 ? x : g.op('Cast', [x], { to: T }));
  const eps = scalarF('rms_eps', s.normEps);
  const one = scalarF('one_f', 1);

  const fused = !!o.fused;
  /** HF RMSNorm: fp32 x·rsqrt(mean(x²)+eps), back to the input dtype, × weight */
  const rms = (x: string, weightName: string) => {
    const w = vec(weightName);
    // fused: one kernel, fp32 statistics (stash_type 1); x·rsqrt and ×weight in fp32 with one rounding at the end
    // (HF rounds x·rsqrt to the input dtype before ×weight: identical in fp32, ≤ 1 fp16 ulp apart in fp16)
    if (fused) return g.op('SimplifiedLayerNormalization', [x, w], { axis: -1, epsilon: { float: s.normEps }, stash_type: 1 });
    const xf = toF(x);
    const ms = g.op('ReduceMean', [g.op('Mul', [xf, xf])], { axes: [-1], keepdims: 1 });
    const r = g.op('Div', [one, g.op('Sqrt', [g.op('Add', [ms, eps])])]);
    return g.op('Mul', [toT(g.op('Mul', [xf, r])), w]);
  };
  /** torch LayerNorm in fp32 (opset-17 LayerNormalization), back to the graph dtype */
  const layerNorm = (x: string, prefix: string) => {
    const w = vec(prefix + '.weight');
    const b = vec(prefix + '.bias');
    return toT(g.op('LayerNormalization', [toF(x), w, b], { axis: -1, epsilon: s.normEps }));
  };
  const norm = (x: string, prefix: string) => (s.norm === 'rms' ? rms(x, prefix + '.weight') : layerNorm(x, prefix));
  const rd = s.rotaryDim;
  const qkScale = fused ? '' : scalarT('qk_scale', 1 / Math.sqrt(hd));
  const mergeShape = g.i64('merge_shape', [0, 0, H * hd]);
  const halfSplit = fused ? '' : g.i64('half_split', [rd / 2, rd / 2]);
  const axes01 = fused ? '' : g.i64('axes01', [0, 1]);
  const zero1 = g.i64('c0', [0]);
  const causalT = () => {
    const causal = new Float32Array(o.maxSeq * o.maxSeq);
    for (let i = 0; i < o.maxSeq; i++) for (let j = i + 1; j < o.maxSeq; j++) causal[i * o.maxSeq + j] = -1e9;
    return memo('causal', () => g.f32('causal', causal, [o.maxSeq, o.maxSeq]));
  };
  const rope = s.positional === 'rope' ? ropeTables(s, o.maxSeq) : undefined;
  // fused form: RotaryEmbedding's caches are [maxSeq, rd/2] (the first half of each table row), positions start at 0
  const MS = 'com.microsoft';
  const halfRows = (t: Float32Array) => {
    const out = new Float32Array(o.maxSeq * (rd / 2));
    for (let p = 0; p < o.maxSeq; p++) out.set(t.subarray(p * rd, p * rd + rd / 2), p * (rd / 2));
    return out;
  };
  const ropeCos = fused && rope ? constT('rope_cos_half', () => halfRows(rope.cos), [o.maxSeq, rd / 2]) : undefined;
  const ropeSin = fused && rope ? constT('rope_sin_half', () => halfRows(rope.sin), [o.maxSeq, rd / 2]) : undefined;
  const pos0 = fused && rope ? g.i64('rope_pos0', [0]) : '';
  const kvMergeShape = fused && s.qkNorm ? g.i64('kv_merge_shape', [0, 0, K * hd]) : '';

  /**
   * The output projection stays fp32 (a constant onnxruntime pre-packs) even with halfWeights: behind a Cast it would be
   * the one large fp32 transient of every run (V·h·4 bytes: 98 MB for the 0.1B model, kept by the CPU arena as a
   * 128 MB chunk), more than its 16-bit copy saves (V·h·2). Measured (bench compile, fp16 0.1B): peak 1.50× the
   * weights with the head fp32, 1.67–1.70× with it 16-bit; its MatMul also keeps the pre-packed speed.
   */
  const lmHead = () => {
    if (!s.tieEmbeddings) return matrixOf('lm_head.weight');
    // tied: the token table itself where it is the checkpoint's bytes in the graph dtype (one initializer for both uses)
    if (!plan.tensors.has('lm_head.tied')) return { w: table('embed.tokens', [V, h]), transB: true };
    return matrixOf('lm_head.tied');
  };
  /**
   * halfWeights: every weight Cast is made before any other node of the stream. onnxruntime's execution order (a
   * depth-first walk back from the outputs, which node index steers) ran a Cast made after the activation it meets at
   * the very start of the run for most projections (measured on the 0.1B model with onnxruntime's profiler: two
   * attention projections and gate/up of every layer, ~270 MB of fp32 weights alive at once, which its arena then
   * kept). With the Casts first in the graph each runs right before its MatMul (same profile), so one or two fp32
   * weights are alive at a time (the largest d_f·d_h·4 bytes).
   */
  const anyHalf = storesHalfWeights(ckpt, o);
  const castsFirst = (from: number, to: number) => {
    if (!anyHalf) return;
    for (let l = from; l < to; l++) {
      const p = `layers.${l}.`;
      matrixOf(p + 'attn.q.weight');
      matrixOf(p + 'attn.k.weight');
      matrixOf(p + 'attn.v.weight');
      matrixOf(p + 'attn.o.weight');
      if (s.gated) matrixOf(p + 'mlp.gate.weight');
      matrixOf(p + 'mlp.up.weight');
      matrixOf(p + 'mlp.down.weight');
    }
  };

  function stream(ids: string, ffn: FfnHook, head: boolean, range: StreamRange = { from: 0, to: L }): { logits?: string; hidden?: string; final?: string } {
    castsFirst(range.from, range.to);
    const shape = g.op('Shape', [ids]);
    const S1 = g.op('Slice', [shape, g.i64(g.fresh('c1'), [1]), g.i64(g.fresh('c2'), [2])]); // [1] = S
    const BS = g.op('Slice', [shape, zero1, g.i64(g.fresh('c2'), [2])]); // [B, S]
    const outShapes = new Map<number, string>();
    /**
     * x [B,S,inp] · Wᵀ → [B,S,out] as Gemm over [B·S, inp] on the matrix as the checkpoint stores it (transB=1 for HF's
     * [out,in]): no transposed copy on disk or in memory. MatMul(x, Transpose(W)) would be one: onnxruntime's constant
     * folding transposes an initializer at session creation (measured on 1.29 CPU: the same packed weight after, 2.7×
     * the creation time for a 256 MB matrix).
     */
    const gemm = (x: string, m: { w: string; transB: boolean; matmul?: boolean }, out: number, inp: number) => {
      if (m.matmul) return g.op('MatMul', [x, m.w]);
      const y = g.op('Gemm', [g.op('Reshape', [x, flatTo(inp)]), m.w], { transB: m.transB ? 1 : 0 });
      let sh = outShapes.get(out);
      if (!sh) outShapes.set(out, (sh = g.op('Concat', [BS, g.i64(g.fresh('out_dim'), [out])], { axis: 0 })));
      return g.op('Reshape', [y, sh]);
    };
    const project = (x: string, name: string, out: number, inp: number) => gemm(x, matrixOf(name), out, inp);
    let cosS = '';
    let sinS = '';
    if (rope && !fused) {
      cosS = g.op('Slice', [constT('rope_cos', () => rope.cos, [o.maxSeq, rd]), zero1, S1, zero1]); // [S,rd]
      sinS = g.op('Slice', [constT('rope_sin', () => rope.sin, [o.maxSeq, rd]), zero1, S1, zero1]);
    }
    const nChunks = fused ? 1 : Math.max(1, Math.floor(o.attnChunks ?? 1));
    const maskSS = fused || nChunks > 1 ? '' : g.op('Slice', [causalT(), g.i64(g.fresh('c00'), [0, 0]), g.op('Concat', [S1, S1], { axis: 0 }), axes01]);
    /**
     * attnChunks: per query chunk j its rows [start, end) (end = min((j+1)·c, S), c = ⌈S/k⌉; chunks past S are empty),
     * and the causal table's [start, end) × [0, end) block: made once, shared by every layer
     */
    const chunks: { rows: string; keys: string; mask: string }[] = [];
    if (nChunks > 1) {
      const k1 = (v: number) => g.i64(g.fresh('ck'), [v]);
      const c = g.op('Div', [g.op('Add', [S1, k1(nChunks - 1)]), k1(nChunks)]); // [1] ⌈S/k⌉
      const at = (j: number) => (j === 0 ? zero1 : g.op('Min', [g.op('Mul', [c, k1(j)]), S1]));
      // positions 0 … maxSeq−1: the chunk's rows and keys are Gathers of these (onnxruntime's CPU Gather copies on every
      // core; its Slice on one, which at 16 cores costs more than the chunks save)
      const positions = g.i64(g.fresh('positions'), Array.from({ length: o.maxSeq }, (_, i) => i));
      for (let j = 0; j < nChunks; j++) {
        const start = at(j);
        const end = j === nChunks - 1 ? S1 : at(j + 1);
        const mask = g.op('Slice', [causalT(), g.op('Concat', [start, zero1], { axis: 0 }), g.op('Concat', [end, end], { axis: 0 }), axes01]);
        chunks.push({ rows: g.op('Slice', [positions, start, end]), keys: g.op('Slice', [positions, zero1, end]), mask });
      }
    }
    /** softmax(q·kᵀ·scale + causal)·v on [B,H,S,hd] heads: whole, or per causal query chunk (attnChunks) */
    const attention = (q: string, k: string, v: string) => {
      const one = (qc: string, kc: string, vc: string, mask: string) => {
        const scores = g.op('Mul', [g.op('MatMul', [qc, g.op('Transpose', [kc], { perm: [0, 1, 3, 2] })]), qkScale]);
        const probs = toT(g.op('Softmax', [g.op('Add', [toF(scores), mask])], { axis: -1 }));
        return g.op('MatMul', [probs, vc]);
      };
      if (nChunks === 1) return one(q, k, v, maskSS);
      const at2 = (x: string, idx: string) => g.op('Gather', [x, idx], { axis: 2 });
      const parts = chunks.map(({ rows, keys, mask }) => one(at2(q, rows), at2(k, keys), at2(v, keys), mask));
      return g.op('Concat', parts, { axis: 2 });
    };
    const rotate = (x: string) => {
      const [x1, x2] = g.node('Split', [x, halfSplit], { axis: -1 }, 2);
      return g.op('Concat', [g.op('Neg', [x2]), x1], { axis: -1 });
    };
    const ropeFull = (x: string) => g.op('Add', [g.op('Mul', [x, cosS]), g.op('Mul', [rotate(x), sinS])]);
    /** HF rotate_half rope on the first rd dims (gpt_neox partial rotary passes the rest through); none for learned positions */
    const applyRope = (x: string) => {
      if (s.positional !== 'rope') return x;
      if (rd === hd) return ropeFull(x);
      const [xr, xp] = g.node('Split', [x, g.i64(g.fresh('rot_split'), [rd, hd - rd])], { axis: -1 }, 2);
      return g.op('Concat', [ropeFull(xr), xp], { axis: -1 });
    };
    const headsShape = (n: number) => g.i64(g.fresh('hs'), [0, 0, n, hd]);
    /** com.microsoft RotaryEmbedding on [B,S,n·hd]: HF rotate_half (interleaved 0) on the first rd dims of each head, positions 0…S−1 */
    const rotary = (x: string, n: number) =>
      g.node('RotaryEmbedding', [x, pos0, ropeCos!, ropeSin!], { interleaved: 0, num_heads: n, rotary_embedding_dim: rd }, 1, MS)[0];
    /**
     * The fused attention of one layer on [B,S,n·hd] projections (no Transposes): qk-norm, rope, GQA heads repeated
     * (kv head j serves query heads j·H/K … (j+1)·H/K−1, HF repeat_kv), then MultiHeadAttention with causal masking
     * (unidirectional=1) and softmax scale 1/√hd.
     */
    const fusedAttention = (q0: string, k0: string, v0: string, p: string) => {
      let q = q0;
      let k = k0;
      let v = v0;
      if (s.qkNorm) {
        q = g.op('Reshape', [rms(g.op('Reshape', [q, headsShape(H)]), p + 'attn.q_norm.weight'), mergeShape]);
        k = g.op('Reshape', [rms(g.op('Reshape', [k, headsShape(K)]), p + 'attn.k_norm.weight'), kvMergeShape]);
      }
      if (rope) {
        q = rotary(q, H);
        k = rotary(k, K);
      }
      if (K !== H) {
        const split = g.i64(g.fresh('kv5'), [0, 0, K, 1, hd]);
        const rep = g.i64(g.fresh('rep'), [1, 1, 1, H / K, 1]);
        const expand = (t: string) => g.op('Reshape', [g.op('Expand', [g.op('Reshape', [t, split]), rep]), mergeShape]);
        k = expand(k);
        v = expand(v);
      }
      return g.node('MultiHeadAttention', [q, k, v], { num_heads: H, unidirectional: 1, scale: { float: 1 / Math.sqrt(hd) } }, 1, MS)[0];
    };

    const embed = () => {
      let e = readTable('embed.tokens', g.op('Gather', [table('embed.tokens', [V, h]), ids], { axis: 0 }));
      if (s.embedScale !== 1) e = g.op('Mul', [e, scalarT('embed_scale', s.embedScale)]);
      if (s.positional === 'learned') {
        // learned positions: rows offset … offset+S−1 of the table (OPT starts at 2)
        const rows = ckpt.weights.get('embed.positions')!.shape[0];
        const maxPos = Math.min(o.maxSeq, rows - s.positionOffset);
        const posT = table('embed.positions', [maxPos, h], s.positionOffset);
        e = g.op('Add', [e, readTable('embed.positions', g.op('Slice', [posT, zero1, S1, zero1]))]);
      }
      return e;
    };
    let x = range.hidden ?? embed();
    const resScale = s.residualScale !== 1 ? scalarT('residual_scale', s.residualScale) : '';
    for (let l = range.from; l < range.to; l++) {
      const p = `layers.${l}.`;
      const xIn = x;
      const hN = norm(x, p + 'attn_norm');
      const proj = (name: string, out: number) => {
        let y = project(hN, p + `attn.${name}.weight`, out, h);
        if (ckpt.weights.has(p + `attn.${name}.bias`)) y = g.op('Add', [y, vec(p + `attn.${name}.bias`)]);
        return y;
      };
      let ctx: string; // [B,S,H·hd]
      if (fused) ctx = fusedAttention(proj('q', H * hd), proj('k', K * hd), proj('v', K * hd), p);
      else {
        let q = g.op('Reshape', [proj('q', H * hd), headsShape(H)]); // [B,S,H,hd]
        let k = g.op('Reshape', [proj('k', K * hd), headsShape(K)]);
        const v0 = g.op('Reshape', [proj('v', K * hd), headsShape(K)]);
        if (s.qkNorm) {
          q = rms(q, p + 'attn.q_norm.weight');
          k = rms(k, p + 'attn.k_norm.weight');
        }
        q = applyRope(g.op('Transpose', [q], { perm: [0, 2, 1, 3] })); // [B,H,S,hd]
        k = applyRope(g.op('Transpose', [k], { perm: [0, 2, 1, 3] })); // [B,K,S,hd]
        let v = g.op('Transpose', [v0], { perm: [0, 2, 1, 3] });
        if (K !== H) {
          const rep = g.i64(g.fresh('rep'), [1, 1, H / K, 1, 1]);
          const back = g.i64(g.fresh('gqa'), [0, H, -1, hd]);
          const expand = (t: string) => g.op('Reshape', [g.op('Expand', [g.op('Unsqueeze', [t, g.i64(g.fresh('ax2'), [2])]), rep]), back]);
          k = expand(k);
          v = expand(v);
        }
        ctx = g.op('Reshape', [g.op('Transpose', [attention(q, k, v)], { perm: [0, 2, 1, 3] }), mergeShape]);
      }
      let attn = project(ctx, p + 'attn.o.weight', h, H * hd);
      if (ckpt.weights.has(p + 'attn.o.bias')) attn = g.op('Add', [attn, vec(p + 'attn.o.bias')]);
      if (resScale) attn = g.op('Mul', [attn, resScale]);
      x = g.op('Add', [x, attn]);

      // FFN (paper Sec. 2.2, Eq. 1–2): gated s = σ(W_gate x), a = s ⊙ (W_in x); non-gated s = a = σ(W_in x + b); FFN = W_out a
      // gpt_neox parallel residual: the MLP norm sees the layer input, not x + attn
      const m = norm(s.parallelResidual ? xIn : x, p + 'mlp_norm');
      const ffnIn = (name: string) => {
        let y = project(m, p + `mlp.${name}.weight`, F, h);
        if (ckpt.weights.has(p + `mlp.${name}.bias`)) y = g.op('Add', [y, vec(p + `mlp.${name}.bias`)]);
        return y;
      };
      const up = ffnIn('up');
      const sAct = activation(g, s.gated ? ffnIn('gate') : up, s, T);
      const a = s.gated ? g.op('Mul', [sAct, up]) : sAct; // [B,S,F]
      const aMasked = ffn(l, sAct, a);
      if (!head && l === L - 1 && !range.open) return {};
      let down = project(aMasked, p + 'mlp.down.weight', h, F);
      if (ckpt.weights.has(p + 'mlp.down.bias')) down = g.op('Add', [down, vec(p + 'mlp.down.bias')]);
      if (resScale) down = g.op('Mul', [down, resScale]);
      x = g.op('Add', [x, down]);
    }
    if (range.to < L || range.open) return { hidden: x };
    let hF = norm(x, 'final_norm');
    if (s.logitScale !== 1) hF = g.op('Mul', [hF, scalarT('logit_scale', s.logitScale)]);
    let logits: string | undefined;
    return {
      final: hF,
      // [B,S,V] fp32, made only when asked for (plain exports): the instrumented graphs take headNll(final)
      get logits() {
        return (logits ??= toF(gemm(hF, lmHead(), V, h)));
      },
    };
  }

  function headNll(hF: string, ids: string, out = 'nll'): string {
    const rows = Math.max(1, Math.floor(o.headRows ?? HEAD_CHUNK_ELEMENTS / V));
    const k = (v: number[], dims?: number[]) => g.i64(g.fresh('hn'), v, dims);
    const flat = g.op('Reshape', [hF, k([-1, h])]); // [N,h]
    const n = g.op('Slice', [g.op('Shape', [flat]), k([0]), k([1])]); // [1]
    const c = g.op('Min', [n, k([rows])]); // [1] rows per chunk: never more than there are
    const chunks = g.op('Div', [g.op('Sub', [g.op('Add', [n, c]), k([1])]), c]); // [1]
    const pad = g.op('Sub', [g.op('Mul', [chunks, c]), n]); // [1] rows of padding (< c)
    const padRows = (x: string) => g.op('Pad', [x, g.op('Concat', [k([0, 0]), pad, k([0])], { axis: 0 })]);
    // the next token of each position; the last position of each sequence gets 0 (its NLL is dropped below)
    const next = g.op('Concat', [g.op('Slice', [ids, k([1]), k([2 ** 62]), k([1])]), g.op('Mul', [g.op('Slice', [ids, k([0]), k([1]), k([1])]), k([0], [])])], { axis: 1 });
    const hPad = padRows(flat);
    const tPad = padRows(g.op('Reshape', [next, k([-1, 1])])); // [chunks·rows, 1]
    const m = lmHead();
    const b = g.body('head');
    b.input('head_j', DT.INT64, []);
    b.input('head_cond', DT.BOOL, []);
    const bk = (v: number[]) => b.i64(b.fresh('hk'), v);
    const s0 = b.op('Mul', [b.op('Unsqueeze', ['head_j', bk([0])]), c]);
    const s1 = b.op('Add', [s0, c]);
    const hc = b.op('Slice', [hPad, s0, s1, bk([0])]); // [rows,h]
    const tc = b.op('Slice', [tPad, s0, s1, bk([0])]); // [rows,1]
    const lg = m.matmul ? b.op('MatMul', [hc, m.w]) : b.op('Gemm', [hc, m.w], { transB: m.transB ? 1 : 0 }); // [rows,V]
    const logp = b.op('LogSoftmax', [T === F32 ? lg : b.op('Cast', [lg], { to: F32 })], { axis: -1 });
    b.output(b.op('Identity', ['head_cond']), DT.BOOL, []);
    b.output(b.op('Neg', [b.op('GatherElements', [logp, tc], { axis: 1 })]), F32, ['rows', 1]);
    const [scan] = g.node('Loop', [g.op('Squeeze', [chunks, k([0])]), g.init(g.fresh('head_true'), DT.BOOL, [], new Uint8Array([1]))], { body: { graph: b.subgraph() } }, 1);
    const perRow = g.op('Slice', [g.op('Reshape', [scan, k([-1])]), k([0]), n]); // [N]
    return g.op('Slice', [g.op('Reshape', [perRow, g.op('Shape', [ids])]), k([0]), k([-1]), k([1])], {}, out); // [B,S−1]
  }
  const matrix = (name: string) => {
    const m = matrixOf(name);
    return { w: m.w, transB: !!m.transB && !m.matmul };
  };
  return { spec: s, T, linear, matrix, W, toF, stream, headNll, weightBytes };
}

function buildInto(g: GraphBuilder, ckpt: LoadedCheckpoint, o: GraphOptions): Uint8Array {
  const s = ckpt.spec;
  const { intermediateSize: F, numLayers: L, vocabSize: V } = s;
  const [from, to] = o.layers ?? [0, L];
  if (!(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from < to && to <= L) || (o.plain && (o.layers || o.weightInputs)))
    throw new LabError('BAD_REQUEST', `graph layers [${from}, ${to}) must be a non-empty range inside [0, ${L}) (not for plain graphs)`);
  // weights as inputs: layer l of the block is its (l − from)-th everywhere a name or index says which
  const wi = !!o.weightInputs;
  const rel = (l: number) => (wi ? l - from : l);
  const dec = makeDecoder(g, ckpt, { ...o, weightInputs: wi ? { from } : undefined });
  const { T } = dec;
  const F32 = DT.FLOAT;
  const ids = g.input('input_ids', DT.INT64, ['B', 'S']);
  const hiddenIn = from > 0 || wi ? g.input('hidden_in', T, ['B', 'S', s.hiddenSize]) : undefined;
  const maskIn = o.plain ? {} : declareMaskInputs(g, o.mode, wi ? to - from : L, F);
  const zeroT = g.init('zero_t', T, [], T === F32 ? new Float32Array([0]) : new Uint16Array([f32ToF16(0)]));
  const axisLast = g.i64('axis_last', [-1]);
  const zero1 = g.i64('c0_counts', [0]);
  const axes01 = g.i64('axes01_counts', [0, 1]);
  const flatF = g.i64('flat_f', [-1, F]);
  const counts: string[] = [];
  const neuronCounts: string[] = [];
  const captured: string[] = [];
  const streamed = dec.stream(
    ids,
    (l, sAct, a) => {
      let aMasked = a;
      if (!o.plain) {
        const m = maskActivations(g, o.mode, rel(l), sAct, a, maskIn, T, zeroT, o.maskMul);
        aMasked = m.masked;
        const keepF = m.keepF;
        counts.push(g.op('Unsqueeze', [g.op('ReduceSum', [keepF, axisLast], { keepdims: 0 }), zero1]));
        neuronCounts.push(g.op('Unsqueeze', [g.op('ReduceSum', [keepF, axes01], { keepdims: 0 }), zero1]));
      }
      if (o.capture) captured.push(g.op('Reshape', [dec.toF(a), flatF], {}, `act.${rel(l)}`));
      return aMasked;
    },
    true,
    { from, to, hidden: hiddenIn, open: wi },
  );
  if (o.plain) {
    // un-instrumented export (an optimum-like decoder: input_ids → logits), for ONNX-input tests and interop
    g.op('Identity', [streamed.logits!], {}, 'logits');
    g.output('logits', F32, ['B', 'S', V]);
    return g.build();
  }
  if (to < L || wi) {
    g.op('Identity', [streamed.hidden!], {}, 'hidden_out');
    g.output('hidden_out', T, ['B', 'S', s.hiddenSize]);
  } else {
    dec.headNll(streamed.final!, ids);
    g.output('nll', F32, ['B', 'Sm1']);
  }
  g.op('Concat', counts, { axis: 0 }, 'active_counts');
  g.op('Concat', neuronCounts, { axis: 0 }, 'neuron_counts');
  g.output('active_counts', F32, [to - from, 'B', 'S']);
  g.output('neuron_counts', F32, [to - from, F]);
  for (const c of captured) g.output(c, F32, ['BS', F]);
  return g.build();
}

/** σ of the gated FFN, for every hidden_act the adapters accept. Computed in the graph dtype. */
function activation(g: GraphBuilder, x: string, s: ModelSpec, T: ElemType): string {
  const c = (v: number) => g.init(g.fresh('act_c'), T, [], T === DT.FLOAT16 ? new Uint16Array([f32ToF16(v)]) : new Float32Array([v]));
  switch (s.activation) {
    case 'relu':
      return g.op('Relu', [x]);
    case 'silu':
      return g.op('Mul', [x, g.op('Sigmoid', [x])]);
    case 'gelu':
      return g.op('Mul', [g.op('Mul', [x, c(0.5)]), g.op('Add', [g.op('Erf', [g.op('Mul', [x, c(Math.SQRT1_2)])]), c(1)])]);
    case 'gelu_tanh': {
      const inner = g.op('Mul', [g.op('Add', [x, g.op('Mul', [g.op('Mul', [g.op('Mul', [x, x]), x]), c(0.044715)])]), c(Math.sqrt(2 / Math.PI))]);
      return g.op('Mul', [g.op('Mul', [x, c(0.5)]), g.op('Add', [g.op('Tanh', [inner]), c(1)])]);
    }
    case 'relu2': {
      const r = g.op('Relu', [x]);
      return g.op('Mul', [r, r]);
    }
    case 'fatrelu': // torch.nn.functional.threshold(x, t, 0): x if x > t else 0 (ProSparse)
      return g.op('Where', [g.op('Greater', [x, c(s.activationParam ?? 0)]), x, c(0)]);
  }
}
