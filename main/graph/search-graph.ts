/**
 * The CETT search-step graph (paper Sec. 4.1–4.2, Algorithm 1; issue 10): one ORT call does, for one batch, what one outer step of
 * the authors' Algorithm 1 does — dense pass, per-layer threshold bisection, sparse pass — without the dense
 * activations ever leaving the device:
 *
 *   dense stream → a_l [T,F] per layer (T = B·S tokens, graph dtype)
 *   per layer: N_l = |a_l| ⊙ ‖W_out[:,i]‖ (fp32); the authors' candidate grid linspace(min N_l, q99 N_l, 65536)
 *             (q99 of the strided subsample, torch.quantile linear interpolation); full_l = ‖a_l W_outᵀ‖ per token
 *   Loop (R iterations, R an input): per layer mid = (lo+hi)/2, t = cand(mid),
 *             CETT_l(t) = mean over tokens with full > 0 of ‖(a_l ⊙ [N_l ≤ t]) W_outᵀ‖ / full_l,
 *             CETT > c ? hi = mid : lo = mid + 1 (the authors' `cett_t > c ? right = mid : left = mid + 1`)
 *   ε_l = cand(lo − 1), or 0 when lo = 0 (flagged clampedLow); τ_{l,i} = ε_l / ‖W_out[:,i]‖
 *   sparse stream with skip iff |a_i| < τ_{l,i}: NLL per token, active counts.
 *
 * The bisection state (lo, hi per layer) is an input, so the host can resume a layer's bisection where its memo of
 * earlier calls (same batch, same grid) stops deciding the path: each call evaluates only nodes never seen before.
 * The scan outputs (mid, CETT, t, active per iteration and layer) feed that memo.
 *
 * The CETT matrix products run in the graph dtype (fp16 on GPU, fp32 accumulate); norms, ratios, the grid and all
 * comparisons are fp32.
 */
import { LabError } from '../api/errors';
import { AUTHORS_CANDIDATES, AUTHORS_HALF, AUTHORS_QUANTILE, AUTHORS_RIGHT0 } from '../base/authors-search';
import { DT, GraphBuilder, type ElemType } from './onnx-builder';
import { f32ToF16 } from '../checkpoint/safetensors';
import type { LoadedCheckpoint } from '../checkpoint/types';
import { keepMask } from './masks';
import { makeDecoder, type ExternalTarget, type GraphDType } from './llama-graph';

/** the authors' grid size (main/base/authors-search.ts: every constant of the grid and the path comes from there) */
export const SEARCH_CANDIDATES = AUTHORS_CANDIDATES;

/**
 * How the loop evaluates candidates (issue 16; the answer is the same for every setting, the cost differs):
 * - levels: bisection levels per Loop iteration. The 2^levels − 1 nodes of the subtree below each layer's interval
 *   are evaluated in one batched product, then the authors' path is walked through them: the same path, a third
 *   (levels 2) or a seventh (3) of the sequential iterations, for 3× or 7× the candidates per iteration.
 * - chunkTokens: the CETT products run over this many tokens at a time (a Loop over chunks summing per-token
 *   ratios), bounding the masked copies to [points, L, chunk, F]; 0 = all tokens of the batch at once.
 * - nInLoop: N = |a|·‖W_out[:,i]‖ is recomputed from a inside the loop (the same fp32 operations, the same bits)
 *   instead of holding an fp32 copy of N for every layer next to a.
 * - mask16 (fp16 graphs only): the tail test N ≤ t is made on |a| in fp16 against a per-neuron fp16 bound
 *   (halfBound: the largest fp16 x with fl32(x·‖W_out[:,i]‖) ≤ t, exact), so the loop reads |a| (2 bytes) instead
 *   of N (4 bytes) and holds no fp32 N.
 */
export interface SearchTuning {
  levels: number;
  chunkTokens: number;
  nInLoop: boolean;
  mask16?: boolean;
  /** the tail as a · cast(mask) (same-shape kernels) instead of Where(mask, a, 0) (a broadcast zero) */
  mulMask?: boolean;
}
/** one level per iteration, all tokens at once, the fp16 tail test where the graph is fp16 (exact, fewer bytes; issue 16) */
export const DEFAULT_SEARCH_TUNING: SearchTuning = { levels: 1, chunkTokens: 0, nInLoop: false, mask16: true };

/** largest finite fp16 */
const F16_MAX = 65504;

/**
 * Per element, the largest fp16 x ≥ 0 with fl32(fl32(x)·n) ≤ t (t ≥ 0, n ≥ 0, fp32 tensors, broadcast), as fp16:
 * then for fp16 a, fl32(|a|·n) ≤ t ⟺ |a| ≤ bound. Why two candidates suffice: q = fl32(t/n) is within an fp32 ulp of
 * t/n, y0 = fp16(q) (round to nearest) within half an fp16 ulp (2^13 fp32 ulps) of it, so the fp16 value above y0
 * already exceeds t/n by a margin no fp32 rounding can cover, and the one below y0 is below it; whether y0 itself
 * passes is the fp32 test. The fp16 value below y0 is fp16(y0 − max(y0·2⁻¹¹, 0.75·2⁻²⁴)) (between it and
 * y0 − ulp/2 for normal y0, exact at powers of two, 3/4 of the subnormal spacing below subnormals). n = 0: every
 * value passes (bound 65504). Checked against every fp16 value in search-graph.test.ts.
 */
export function halfBound(b: GraphBuilder, t: string, n: string, k: { f32: (v: number) => string }): string {
  const F32 = DT.FLOAT;
  const q = b.op('Min', [b.op('Where', [b.op('Greater', [n, k.f32(0)]), b.op('Div', [t, n]), k.f32(F16_MAX)]), k.f32(F16_MAX)]);
  const y0 = b.op('Cast', [q], { to: DT.FLOAT16 });
  const y0f = b.op('Cast', [y0], { to: F32 });
  const ok = b.op('LessOrEqual', [b.op('Mul', [y0f, n]), t]);
  const below = b.op('Cast', [b.op('Sub', [y0f, b.op('Max', [b.op('Mul', [y0f, k.f32(2 ** -11)]), k.f32(0.75 * 2 ** -24)])])], { to: DT.FLOAT16 });
  return b.op('Where', [ok, y0, below]);
}

/**
 * The tuning from a `levels=2,chunk=4096,nin=1` string (the benchmark's SPARSITY_LAB_SEARCH; unset: the default).
 * Bad values are refused with the variable named.
 */
export function parseSearchTuning(spec: string | undefined, what = 'SPARSITY_LAB_SEARCH'): SearchTuning {
  const t = { ...DEFAULT_SEARCH_TUNING };
  if (!spec) return t;
  for (const part of spec.split(',').filter(Boolean)) {
    const [k, v] = part.split('=');
    const n = Number(v);
    if (k === 'levels' && [1, 2, 3].includes(n)) t.levels = n;
    else if (k === 'chunk' && Number.isInteger(n) && n >= 0 && n <= 1 << 24) t.chunkTokens = n;
    else if (k === 'nin' && (v === '0' || v === '1')) t.nInLoop = v === '1';
    else if (k === 'm16' && (v === '0' || v === '1')) t.mask16 = v === '1';
    else if (k === 'mul' && (v === '0' || v === '1')) t.mulMask = v === '1';
    else throw new LabError('BAD_REQUEST', `${what}: '${part}' is not one of levels=1|2|3, chunk=<tokens ≥ 0>, nin=0|1, m16=0|1, mul=0|1`);
  }
  // [2^levels − 1, layers, tokens, d_f] in one kernel crashed CUDA on the H200 at 16k tokens (illegal address, 2026-12-04)
  if (t.levels > 1 && t.chunkTokens === 0) throw new LabError('BAD_REQUEST', `${what}: levels=${t.levels} needs chunk=<tokens> (the subtree's products in one piece crashed CUDA at 16k tokens)`);
  return t;
}

export interface SearchGraphOptions {
  dtype: GraphDType;
  maxSeq: number;
  /** per layer [F] ‖W_out[:,i]‖₂ (fp32, from the checkpoint's weights) */
  colNorms: Float32Array[];
  /** the decoder's fused (contrib-op) attention/rope/RMSNorm form, as the runner uses on CUDA */
  fused?: boolean;
  /** how the loop evaluates candidates (default DEFAULT_SEARCH_TUNING) */
  tuning?: SearchTuning;
  /**
   * the CETT products read W_out in the checkpoint's [d_h, d_f] layout (com.microsoft FusedMatMul, transB): no
   * transposed copy, which onnxruntime otherwise makes while creating the session (issue 15: at 7B the search session
   * took ~20 s to create against the forward graph's ~3.5 s). CUDA; other providers take the transposed value.
   */
  productTransB?: boolean;
  /** layers searched side by side in one group (default searchLayerGroup(spec, groupTokens)); the answer does not depend on it */
  layerGroup?: number;
  /** tokens per search call the default layer group is sized for (the runner's planned batch; default 16 × 1024) */
  groupTokens?: number;
  /**
   * Only decoder layers [from, to) (a streamed run's block, issue 15; main/inference/streamed.ts). Both streams cross
   * the block's edges on the host in the graph dtype: a block with from > 0 takes the dense residual stream as
   * `hidden_in` and the sparse one as `sparse_in` [B,S,d_h]; a block with to < L outputs them as `hidden_out` and
   * `sparse_out` instead of the head and nll. lo/hi, ε and every per-layer output cover the block's layers. Each
   * layer's grid, bisection and mask use that layer's tensors only, so the blocks give the whole graph's answer.
   */
  layers?: [number, number];
  /**
   * false: no sparse stream (no sparse_in/sparse_out, nll or counts): the graph ends with ε. A streamed run uses this
   * and runs the sparse pass through its chunked block sessions at τ = ε/‖W_out[:,i]‖ (the same fp32 division), so the
   * search call never holds the head's logits of the whole batch.
   */
  sparseStream?: boolean;
  /**
   * A streamed search block fed its weights as inputs (issue 15, streamed.ts): the layers' tensors are graph inputs
   * `w.l{i}.…` for the block's i-th layer (llama-graph.ts weightInputName; same dtype and layout as the initializers),
   * ‖W_out[:,i]‖ the input `col_norms` [Lb, F], and every block takes both streams in and hands both out (the
   * embedding and the head are the end graphs, buildSearchEndGraph): every block of the same layer count builds the
   * same graph, one session serves them all, and paging a block is feeding its tensors. Needs the sparse stream.
   */
  weightInputs?: boolean;
}

/** Elements of one group's [G, tokens, d_f] tensors at the largest batch a search call gets (16 × 1024 tokens). */
export const GROUP_ELEMENTS = 2 ** 29;
const GROUP_TOKENS = 16 * 1024;

/**
 * Layers per group of the fused search: as many as keep [G, 16,384, d_f] within GROUP_ELEMENTS (2 GB in fp32, far
 * below CUDA's 2^31-element index limit). The paper's 0.1B (d_f 1920) keeps all 16 layers in one group; LLaMA-2-7B
 * (d_f 11,008) searches 2 layers at a time, the 2.4B shape (d_f 5,760) 5.
 */
export function searchLayerGroup(s: { numLayers: number; intermediateSize: number }, tokens = GROUP_TOKENS): number {
  return Math.max(1, Math.min(s.numLayers, Math.floor(GROUP_ELEMENTS / (Math.max(1, tokens) * s.intermediateSize))));
}

/** The CETT products read W_out in the checkpoint's [d,F] layout (FusedMatMul transB) on CUDA: no transposed copy. */
export function searchProductTransB(provider: string): boolean {
  return provider === 'cuda';
}

/**
 * Layers per group of a search graph over `numLayers` layers, the whole model's or a streamed block's: with the products
 * on W_out as stored, one layer per group where each layer's product is large anyway (d_h·d_f ≥ 2^24: LLaMA-2-7B), since
 * a group of several concatenates their W_out (a copy); else searchLayerGroup for the batch's tokens.
 */
export function searchGroupFor(s: { numLayers: number; intermediateSize: number; hiddenSize: number }, tokens: number | undefined, productTransB: boolean): number {
  return productTransB && s.hiddenSize * s.intermediateSize >= 2 ** 24 ? 1 : searchLayerGroup(s, tokens);
}

/**
 * ‖x‖₂ over `axis` of an fp32 tensor as √(ReduceSumSquare): the same sum of squares as ReduceL2, and on CUDA about a
 * third of its cost (H200, [16, 16384, 768]: 0.9 vs 2.2 ms, `bench kernels` sumsq vs cur, BENCHMARKS.md 2026-12-04).
 */
function l2norm(b: GraphBuilder, x: string, axis: number): string {
  return b.op('Sqrt', [b.op('ReduceSumSquare', [x], { axes: [axis], keepdims: 0 })]);
}

export function buildSearchGraph(ckpt: LoadedCheckpoint, o: SearchGraphOptions, external?: ExternalTarget): Uint8Array {
  const g = new GraphBuilder(`sparsity-lab-search-${ckpt.spec.family}`);
  return g.withExternal(external, () => buildInto(g, ckpt, o));
}

/**
 * The two ends of a streamed search whose blocks are fed their weights as inputs (SearchGraphOptions.weightInputs):
 * 'embed' input_ids → hidden_out (the residual stream before layer 0, both streams' start), 'head' input_ids and
 * hidden_in (the sparse stream after the last layer) → nll [B, S−1]: the same decoder operations as the whole search
 * graph's first and last layers' surroundings (makeDecoder.stream over an empty range, headNll).
 */
export function buildSearchEndGraph(ckpt: LoadedCheckpoint, o: Pick<SearchGraphOptions, 'dtype' | 'maxSeq' | 'fused'> & { end: 'embed' | 'head' }, external?: ExternalTarget): Uint8Array {
  const g = new GraphBuilder(`sparsity-lab-search-${o.end}-${ckpt.spec.family}`);
  return g.withExternal(external, () => {
    const dec = makeDecoder(g, ckpt, o);
    const { T, spec: s } = dec;
    const L = s.numLayers;
    const ids = g.input('input_ids', DT.INT64, ['B', 'S']);
    const none = () => {
      throw new LabError('INTERNAL', 'search end graph: no layers');
    };
    if (o.end === 'embed') {
      g.op('Identity', [dec.stream(ids, none, false, { from: 0, to: 0 }).hidden!], {}, 'hidden_out');
      g.output('hidden_out', T, ['B', 'S', s.hiddenSize]);
    } else {
      const hin = g.input('hidden_in', T, ['B', 'S', s.hiddenSize]);
      dec.headNll(dec.stream(ids, none, true, { from: L, to: L, hidden: hin }).final!, ids);
      g.output('nll', DT.FLOAT, ['B', 'Sm1']);
    }
    return g.build();
  });
}

function buildInto(g: GraphBuilder, ckpt: LoadedCheckpoint, o: SearchGraphOptions): Uint8Array {
  const [from, to] = o.layers ?? [0, ckpt.spec.numLayers];
  const wi = !!o.weightInputs;
  if (wi && o.sparseStream === false) throw new LabError('BAD_REQUEST', 'search graph: weights as inputs need the sparse stream');
  const dec = makeDecoder(g, ckpt, { ...o, weightInputs: wi ? { from } : undefined });
  const { T, spec: s } = dec;
  const F32 = DT.FLOAT;
  const I64 = DT.INT64;
  const { hiddenSize: h, intermediateSize: F, numLayers: NL } = s;
  if (!(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from < to && to <= NL))
    throw new LabError('BAD_REQUEST', `search graph layers [${from}, ${to}) must be a non-empty range inside [0, ${NL})`);
  const L = to - from; // the layers this graph searches (all of them unless streamed)
  const K = AUTHORS_CANDIDATES;
  const tun = o.tuning ?? DEFAULT_SEARCH_TUNING;

  const ids = g.input('input_ids', I64, ['B', 'S']);
  // J CETT targets searched side by side (the first drives the sparse stream; the others are the outer search's
  // possible next steps, so that the next call finds their paths in the memo and needs no dense stream)
  const cIn = g.input('c', F32, ['J']);
  const lo0 = g.input('lo', I64, ['J', L]);
  const hi0 = g.input('hi', I64, ['J', L]);
  const iters = g.input('iters', I64, []);
  const denseIn = from > 0 || wi ? g.input('hidden_in', T, ['B', 'S', h]) : undefined;
  const sparseIn = (from > 0 || wi) && o.sparseStream !== false ? g.input('sparse_in', T, ['B', 'S', h]) : undefined;
  /** the streams leave the block on the host (not through the head) */
  const handsOn = to < NL || wi;

  const i64 = (v: number[], dims?: number[]) => g.i64(g.fresh('k'), v, dims);
  const f32 = (v: number) => g.f32(g.fresh('f'), [v], []);
  const zeroT = (b: GraphBuilder) => b.init(b.fresh('zt'), T, [], T === F32 ? new Float32Array([0]) : new Uint16Array([f32ToF16(0)]));
  const flatF = i64([-1, F]);
  const axis1 = i64([1]);
  const norms = new Float32Array(L * F);
  o.colNorms.slice(from, to).forEach((n, l) => norms.set(n, l * F));
  const normsLF = wi ? g.input('col_norms', F32, [L, F]) : g.f32('col_norms', norms, [L, F]);

  const a2d: string[] = [];

  // ---- the layers in groups of G at once (one kernel per op for G layers instead of one per layer): A [G,T,F],
  // N [G,T,F] fp32, W_outᵀ [G,F,d]. One group spanning every layer was the first design; at 7B (32 × 16,384 tokens ×
  // 11,008) its fp32 N alone is 23 GB and at 2.4B a single [L,T,F] tensor passes 2^31 elements (CUDA's index limit),
  // so G is chosen to keep each group's tensors to GROUP_ELEMENTS at the largest batch the runner sends. Every
  // per-layer value is computed from that layer's own tensors only, so the answer does not depend on G.
  const ax0 = i64([0]);
  const G = o.layerGroup ?? searchLayerGroup({ numLayers: L, intermediateSize: F }, o.groupTokens);
  const trueC = g.init('loop_cond', DT.BOOL, [], new Uint8Array([1]));
  const chunkCond = g.init('chunk_cond', DT.BOOL, [], new Uint8Array([1]));
  // `iters` counts bisection levels; the Loop runs ⌈iters / levels⌉ iterations
  const trips = tun.levels === 1 ? iters : g.op('Div', [g.op('Add', [iters, i64([tun.levels - 1], [])]), i64([tun.levels], [])]);
  const P = 2 ** tun.levels - 1;
  const zeroF = f32(0);
  const mask16 = !!tun.mask16 && T === DT.FLOAT16;
  const toF32 = (b: GraphBuilder, x: string) => (T === F32 ? x : b.op('Cast', [x], { to: F32 }));
  const half = i64([AUTHORS_HALF], []);
  const kMinus1 = i64([AUTHORS_RIGHT0], []);
  const one64 = i64([1], []);
  /** torch.linspace (CUDA kernel, fp32): idx < steps/2 ? start + step·idx : end − step·(steps − 1 − idx) */
  const candOf = (start: string, end: string, step: string) => (b: GraphBuilder, idx: string): string => {
    const up = b.op('Add', [start, b.op('Mul', [step, b.op('Cast', [idx], { to: F32 })])]);
    const down = b.op('Sub', [end, b.op('Mul', [step, b.op('Cast', [b.op('Sub', [kMinus1, idx])], { to: F32 })])]);
    return b.op('Where', [b.op('Less', [idx, half]), up, down]);
  };
  type GroupOut = { lo: string; hi: string; mid: string; cett: string; t: string; active: string; start: string; end: string };
  const searchGroup = (gi: number, l0: number, l1: number): GroupOut => {
  const Lg = l1 - l0;
  const grp = (xs: string[]) => (xs.length === 1 ? g.op('Unsqueeze', [xs[0], ax0]) : g.op('Concat', xs.map((x) => g.op('Unsqueeze', [x, ax0])), { axis: 0 }));
  const A = grp(a2d.slice(l0, l1));
  // W_out of the group for the CETT products: the checkpoint's own [d,F] matrices through FusedMatMul(transB) where
  // asked (o.productTransB, CUDA), else [F,d] values (a Transpose that onnxruntime folds into a copy at session creation)
  const downNames = Array.from({ length: Lg }, (_, k) => `layers.${from + l0 + k}.mlp.down.weight`);
  const raw = o.productTransB ? downNames.map((n) => dec.matrix(n)) : [];
  const transB = raw.length > 0 && raw.every((m) => m.transB);
  // (one layer: the matrix itself, broadcast over the batch axes — an Unsqueeze of an initializer is folded into a copy)
  const Wst = transB ? (Lg === 1 ? raw[0].w : grp(raw.map((m) => m.w))) : grp(downNames.map((n) => dec.linear(n, h, F))); // [d,F], [Lg,d,F] or [Lg,F,d]
  /** x [.., Lg, t, F] · W_outᵀ → [.., Lg, t, d] */
  const product = (b: GraphBuilder, x: string) => (transB ? b.node('FusedMatMul', [x, Wst], { transB: 1 }, 1, 'com.microsoft')[0] : b.op('MatMul', [x, Wst]));
  const normsG = Lg === L ? normsLF : g.op('Slice', [normsLF, i64([l0]), i64([l1]), ax0]); // [Lg,F]
  const normsL1F = g.op('Unsqueeze', [normsG, axis1]); // [Lg,1,F]
  const sliceJL = (x: string) => (Lg === L ? x : g.op('Slice', [x, i64([l0]), i64([l1]), axis1])); // [J,Lg]
  // N = |a|·‖W_out[:,i]‖ (fp32) as a whole [Lg,T,F] tensor only where the loop tests N itself (not with m16 or nin)
  const N = tun.nInLoop || mask16 ? undefined : g.op('Mul', [g.op('Abs', [toF32(g, A)]), normsL1F]);
  // min N without N: fp32 rounding is monotone, so the min over tokens of fl32(|a|·n) is fl32(min over tokens of |a| · n)
  const minA = toF32(g, g.op('ReduceMin', [g.op('Abs', [A])], { axes: [1], keepdims: 0 })); // [Lg,F]
  const minN = g.op('ReduceMin', [g.op('Mul', [minA, normsG])], { axes: [1], keepdims: 0 }); // [Lg]
  // q99 of norm.view(-1)[::max(numel // 65536, 1)] per layer (the authors' subsample), torch.quantile linear
  // interpolation; N formed on the subsample only (flat element p is neuron p mod F: the same fp32 operations, the same bits)
  const flat = g.op('Reshape', [A, i64([Lg, -1])]); // [Lg, T·F]
  const numel = g.op('Slice', [g.op('Shape', [flat]), i64([1]), i64([2])]); // [1]
  const stride = g.op('Max', [g.op('Div', [numel, i64([K])]), i64([1])]);
  const neuron = g.op('Mod', [g.op('Range', [i64([0], []), g.op('Squeeze', [numel, ax0]), g.op('Squeeze', [stride, ax0])]), i64([F], [])]);
  const sub = g.op('Mul', [g.op('Abs', [toF32(g, g.op('Slice', [flat, i64([0]), numel, axis1, stride]))]), g.op('Gather', [normsG, neuron], { axis: 1 })]); // [Lg, m]
  const m = g.op('Slice', [g.op('Shape', [sub]), i64([1]), i64([2])]); // [1]
  const [sorted] = g.node('TopK', [sub, m], { axis: 1, largest: 0, sorted: 1 }, 2);
  const nm1 = g.op('Sub', [g.op('Squeeze', [m, ax0]), one64]);
  const pos = g.op('Mul', [g.op('Cast', [nm1], { to: F32 }), f32(AUTHORS_QUANTILE)]);
  const loPos = g.op('Floor', [pos]);
  const qlo = g.op('Cast', [loPos], { to: I64 });
  const qhi = g.op('Min', [g.op('Add', [qlo, one64]), nm1]);
  const w = g.op('Sub', [pos, loPos]);
  const va = g.op('Gather', [sorted, qlo], { axis: 1 }); // [L]
  const vb = g.op('Gather', [sorted, qhi], { axis: 1 });
  const diff = g.op('Sub', [vb, va]);
  // at::lerp: w < 0.5 ? a + w·(b−a) : b − (b−a)·(1−w)
  const q99 = g.op('Where', [g.op('Less', [w, f32(0.5)]), g.op('Add', [va, g.op('Mul', [w, diff])]), g.op('Sub', [vb, g.op('Mul', [diff, g.op('Sub', [f32(1), w])])])]);
  const start = minN; // [Lg]
  const end = q99;
  const full = l2norm(g, dec.toF(product(g, A)), 2); // [L,T] ‖a W_outᵀ‖ per token
  const valid = g.op('Greater', [full, f32(0)]);
  const safeFull = g.op('Where', [valid, full, f32(1)]);
  const count = g.op('Max', [g.op('ReduceSum', [g.op('Cast', [valid], { to: F32 }), axis1], { keepdims: 0 }), f32(1)]); // [L]
  const step = g.op('Div', [g.op('Sub', [end, start]), f32(K - 1)]);
  const cand = candOf(start, end, step);

  // ---- the bisection loop: one iteration = the next `levels` levels of every layer's (and target's) bisection tree,
  // all layers and nodes in one batched product, then the authors' path walked through them
  const absA = mask16 ? g.op('Abs', [A]) : undefined; // fp16 |a|: the tail test against halfBound
  /** Σ over tokens with full > 0 of ‖(a ⊙ [N ≤ t]) W_outᵀ‖ / full, for thresholds tK [P·J, L, 1, 1] → [P·J, L] */
  const ratioSum = (b: GraphBuilder, a: string, n: string | undefined, val: string, sf: string, tK: string, absa?: string, bound?: string): string => {
    let mask: string;
    if (absa && bound) mask = b.op('LessOrEqual', [absa, bound]);
    else {
      const nn = n ?? b.op('Mul', [b.op('Abs', [toF32(b, a)]), normsL1F]); // the same fp32 ops as N above: the same bits
      mask = b.op('LessOrEqual', [nn, tK]);
    }
    // a where the test holds, else 0: Where with a broadcast zero, or (mul) a times the mask cast to a's type
    const tail = tun.mulMask ? b.op('Mul', [a, b.op('Cast', [mask], { to: T })]) : b.op('Where', [mask, a, zeroT(b)]); // [P·J,L,t,F]
    const prod = product(b, tail); // [P·J,L,t,d]
    const tn = l2norm(b, T === F32 ? prod : b.op('Cast', [prod], { to: F32 }), 3); // [P·J,L,t]
    const ratio = b.op('Where', [val, b.op('Div', [tn, sf]), zeroF]);
    return b.op('ReduceSum', [ratio, i64([2])], { keepdims: 0 });
  };
  const body = g.body(`bisect${gi}`);
  const [iterIn, condIn, loIn, hiIn] = [`iter_g${gi}`, `cond_in_g${gi}`, `lo_in_g${gi}`, `hi_in_g${gi}`];
  body.input(iterIn, I64, []);
  body.input(condIn, DT.BOOL, []);
  body.input(loIn, I64, ['J', Lg]);
  body.input(hiIn, I64, ['J', Lg]);
  const two = i64([2], []);
  const one = i64([1], []);
  // the subtree in heap order: node h's children are 2h+1 ([lo, mid), taken when CETT > c) and 2h+2 ([mid+1, hi))
  const nlo: string[] = [loIn];
  const nhi: string[] = [hiIn];
  const nmid: string[] = [];
  for (let h = 0; h < P; h++) {
    nmid[h] = body.op('Div', [body.op('Add', [nlo[h], nhi[h]]), two]);
    if (2 * h + 2 < P) {
      [nlo[2 * h + 1], nhi[2 * h + 1]] = [nlo[h], nmid[h]];
      [nlo[2 * h + 2], nhi[2 * h + 2]] = [body.op('Add', [nmid[h], one]), nhi[h]];
    }
  }
  const stackP = (xs: string[]) => (xs.length === 1 ? body.op('Unsqueeze', [xs[0], ax0]) : body.op('Concat', xs.map((x) => body.op('Unsqueeze', [x, ax0])), { axis: 0 }));
  const midP = stackP(nmid); // [P,J,Lg]
  const activeP = stackP(nmid.map((_, h) => body.op('Less', [nlo[h], nhi[h]])));
  const tP = cand(body, midP); // [P,J,Lg] fp32
  const tK = body.op('Reshape', [tP, i64([-1, Lg, 1, 1])]); // [P·J,Lg,1,1]
  const bound = mask16 ? halfBound(body, tK, normsL1F, { f32 }) : undefined; // [P·J,L,1,F] fp16
  const nLoop = N;
  let sumPJ: string;
  if (tun.chunkTokens > 0) {
    // tokens in chunks: a Loop over ⌈T / chunk⌉ slices of a (and N), summing the per-token ratios
    const cs = i64([tun.chunkTokens]);
    const Tn = g.op('Slice', [g.op('Shape', [A]), i64([1]), i64([2])]); // [1]
    const nChunks = g.op('Squeeze', [g.op('Div', [g.op('Add', [Tn, i64([tun.chunkTokens - 1])]), cs]), ax0]);
    const cb = body.body('chunk');
    const [jIn, ccondIn, accIn] = [`j_g${gi}`, `ccond_in_g${gi}`, `acc_in_g${gi}`];
    cb.input(jIn, I64, []);
    cb.input(ccondIn, DT.BOOL, []);
    cb.input(accIn, F32, ['PJ', Lg]);
    const s0 = cb.op('Mul', [cb.op('Unsqueeze', [jIn, ax0]), cs]);
    const e0 = cb.op('Min', [cb.op('Add', [s0, cs]), Tn]);
    const sl = (x: string) => cb.op('Slice', [x, s0, e0, axis1]);
    const part = ratioSum(cb, sl(A), nLoop && sl(nLoop), sl(valid), sl(safeFull), tK, absA && sl(absA), bound);
    cb.output(cb.op('Identity', [ccondIn]), DT.BOOL, []);
    cb.output(cb.op('Add', [accIn, part]), F32, ['PJ', Lg]);
    const acc0 = body.op('Expand', [zeroF, body.op('Slice', [body.op('Shape', [tK]), i64([0]), i64([2])])]);
    [sumPJ] = body.node('Loop', [nChunks, chunkCond, acc0], { body: { graph: cb.subgraph() } }, 1);
  } else sumPJ = ratioSum(body, A, nLoop, valid, safeFull, tK, absA, bound);
  const cettP = body.op('Reshape', [body.op('Div', [sumPJ, count]), i64([P, -1, Lg])]); // [P,J,Lg]
  // the authors' path through the subtree: `cett > c ? hi = mid : lo = mid + 1`, level by level
  const cJ = body.op('Unsqueeze', [cIn, axis1]); // [J,1]
  let lo = loIn;
  let hi = hiIn;
  let node = body.op('Mul', [body.op('Unsqueeze', [loIn, ax0]), i64([0], [])]); // [1,J,Lg] heap index 0
  for (let lev = 0; lev < tun.levels; lev++) {
    const cH = body.op('Squeeze', [body.op('GatherElements', [cettP, node], { axis: 0 }), ax0]); // [J,L]
    const mid = body.op('Div', [body.op('Add', [lo, hi]), two]);
    const active = body.op('Less', [lo, hi]);
    const gt = body.op('Greater', [cH, cJ]);
    const nhiL = body.op('Where', [body.op('And', [active, gt]), mid, hi]);
    lo = body.op('Where', [body.op('And', [active, body.op('Not', [gt])]), body.op('Add', [mid, one]), lo]);
    hi = nhiL;
    if (lev + 1 < tun.levels) node = body.op('Add', [body.op('Mul', [node, two]), body.op('Where', [body.op('Unsqueeze', [gt, ax0]), one, two])]);
  }
  const outs: [string, ElemType, (number | string)[]][] = [
    [body.op('Identity', [condIn]), DT.BOOL, []],
    [body.op('Identity', [lo]), I64, ['J', Lg]],
    [body.op('Identity', [hi]), I64, ['J', Lg]],
    [midP, I64, [P, 'J', Lg]],
    [cettP, F32, [P, 'J', Lg]],
    [tP, F32, [P, 'J', Lg]],
    [activeP, DT.BOOL, [P, 'J', Lg]],
  ];
  for (const [name, e, shape] of outs) body.output(name, e, shape);
  const [gLo, gHi, gMid, gCett, gT, gActive] = g.node('Loop', [trips, trueC, sliceJL(lo0), sliceJL(hi0)], { body: { graph: body.subgraph() } }, 6);
  return { lo: gLo, hi: gHi, mid: gMid, cett: gCett, t: gT, active: gActive, start, end };
  };
  // ---- dense stream: a_l (as [T,F]) for the search; each group's search is emitted as soon as its last layer's a is
  // there, so that (in node order) a group's activations can be freed before the dense stream reaches the next group
  // — at 7B the activations of all 32 layers of 16k tokens are 11.5 GB in fp16 (issue 15's memory)
  const groups: GroupOut[] = [];
  const { hidden: denseOut } = dec.stream(
    ids,
    (_l, _s, a) => {
      a2d.push(g.op('Reshape', [a, flatF]));
      const l1 = a2d.length;
      if (l1 % G === 0 || l1 === L) {
        const grp = searchGroup(groups.length, Math.floor((l1 - 1) / G) * G, l1);
        groups.push(grp);
        // the next layer waits for this group's search: a + 0, where the 0 is computed from the search's result, so
        // onnxruntime cannot run the dense stream ahead and hold every group's activations (and |a|) at once. Exact:
        // lo ≥ 0, so [lo < 0] is 0 and a + 0 = a (−0 becomes +0, which W_out maps to the same sums)
        if (l1 < L) {
          const lo00 = g.op('Gather', [g.op('Reshape', [grp.lo, i64([-1])]), i64([0], [])], { axis: 0 });
          return g.op('Add', [a, g.op('Cast', [g.op('Less', [lo00, i64([0], [])])], { to: T })]);
        }
      }
      return a;
    },
    false,
    { from, to, hidden: denseIn, open: wi },
  );
  if (groups.length !== Math.ceil(L / G)) throw new LabError('INTERNAL', `search graph: ${groups.length} layer groups for ${L} layers in groups of ${G}`);
  const cat = (f: (x: GroupOut) => string, axis: number, name: string) =>
    groups.length === 1 ? g.op('Identity', [f(groups[0])], {}, name) : g.op('Concat', groups.map(f), { axis }, name);
  const loAll = cat((x) => x.lo, 1, 'lo_final'); // [J,L]
  cat((x) => x.hi, 1, 'hi_final');
  for (const [f, name] of [[(x: GroupOut) => x.mid, 'eval_mid'], [(x: GroupOut) => x.cett, 'eval_cett'], [(x: GroupOut) => x.t, 'eval_t'], [(x: GroupOut) => x.active, 'eval_active']] as const) cat(f, 3, name); // [R,P,J,L]
  const start = cat((x) => x.start, 0, 'grid_start'); // [L]
  const end = cat((x) => x.end, 0, 'grid_end');
  const cand = candOf(start, end, g.op('Div', [g.op('Sub', [end, start]), f32(K - 1)]));

  // ---- ε and τ, the sparse stream
  const loF = g.op('Gather', [loAll, i64([0], [])], { axis: 0 }); // [L]: the first target's
  const clamped = g.op('Equal', [loF, i64([0], [])], {}, 'clamped_low');
  const epsIdx = g.op('Max', [g.op('Sub', [loF, one64]), i64([0], [])]);
  const eps = g.op('Where', [clamped, f32(0), cand(g, epsIdx)], {}, 'eps'); // [L]
  if (handsOn) {
    g.op('Identity', [denseOut!], {}, 'hidden_out');
    g.output('hidden_out', T, ['B', 'S', h]);
  }
  if (o.sparseStream !== false) {
    const tau = g.op('Div', [g.op('Unsqueeze', [eps, axis1]), normsLF]); // [L,F]: ε/0 = ∞ (skip), 0/0 = NaN (keep), as the host's τ
    const zeroTop = zeroT(g);
    const keepF: string[] = [];
    const F32c = (x: string) => g.op('Cast', [x], { to: F32 });
    const { final, hidden: sparseOut } = dec.stream(
      ids,
      (l, sAct, a) => {
        const keep = keepMask(g, 'cett', l - from, sAct, a, { tau }, T); // τ's row of layer l (rows cover [from, to))
        keepF.push(F32c(keep));
        return g.op('Where', [keep, a, zeroTop]);
      },
      true,
      { from, to, hidden: sparseIn, open: wi },
    );
    if (handsOn) {
      g.op('Identity', [sparseOut!], {}, 'sparse_out');
      g.output('sparse_out', T, ['B', 'S', h]);
    } else {
      dec.headNll(final!, ids);
      g.output('nll', F32, ['B', 'Sm1']);
    }
    const axisLast = i64([-1]);
    const axes01 = i64([0, 1]);
    const zero1 = i64([0]);
    g.op('Concat', keepF.map((k) => g.op('Unsqueeze', [g.op('ReduceSum', [k, axisLast], { keepdims: 0 }), zero1])), { axis: 0 }, 'active_counts');
    g.op('Concat', keepF.map((k) => g.op('Unsqueeze', [g.op('ReduceSum', [k, axes01], { keepdims: 0 }), zero1])), { axis: 0 }, 'neuron_counts');
    g.output('active_counts', F32, [L, 'B', 'S']);
    g.output('neuron_counts', F32, [L, F]);
  }
  g.output('eps', F32, [L]);
  g.output('clamped_low', DT.BOOL, [L]);
  g.output('lo_final', I64, ['J', L]);
  g.output('hi_final', I64, ['J', L]);
  g.output('eval_mid', I64, ['R', P, 'J', L]);
  g.output('eval_cett', F32, ['R', P, 'J', L]);
  g.output('eval_t', F32, ['R', P, 'J', L]);
  g.output('eval_active', DT.BOOL, ['R', P, 'J', L]);
  g.output('grid_start', F32, [L]);
  g.output('grid_end', F32, [L]);
  return g.build();
}
