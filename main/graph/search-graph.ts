/**
 * The CETT search-step graph (METHOD.md §2–3, issue 10): one ORT call does, for one batch, what one outer step of
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
import { DT, GraphBuilder, type ElemType } from './onnx-builder';
import { f32ToF16 } from '../checkpoint/safetensors';
import type { LoadedCheckpoint } from '../checkpoint/types';
import { keepMask, nllFromLogits } from './masks';
import { makeDecoder, type ExternalTarget, type GraphDType } from './llama-graph';

export const SEARCH_CANDIDATES = 65536;

export interface SearchGraphOptions {
  dtype: GraphDType;
  maxSeq: number;
  /** per layer [F] ‖W_out[:,i]‖₂ (fp32, from the checkpoint's weights) */
  colNorms: Float32Array[];
  /** the decoder's fused (contrib-op) attention/rope/RMSNorm form, as the runner uses on CUDA */
  fused?: boolean;
}

export function buildSearchGraph(ckpt: LoadedCheckpoint, o: SearchGraphOptions, external?: ExternalTarget): Uint8Array {
  const g = new GraphBuilder(`sparsity-lab-search-${ckpt.spec.family}`);
  return g.withExternal(external, () => buildInto(g, ckpt, o));
}

function buildInto(g: GraphBuilder, ckpt: LoadedCheckpoint, o: SearchGraphOptions): Uint8Array {
  const dec = makeDecoder(g, ckpt, o);
  const { T, spec: s } = dec;
  const F32 = DT.FLOAT;
  const I64 = DT.INT64;
  const { hiddenSize: h, intermediateSize: F, numLayers: L } = s;
  const K = SEARCH_CANDIDATES;

  const ids = g.input('input_ids', I64, ['B', 'S']);
  // J CETT targets searched side by side (the first drives the sparse stream; the others are the outer search's
  // possible next steps, so that the next call finds their paths in the memo and needs no dense stream)
  const cIn = g.input('c', F32, ['J']);
  const lo0 = g.input('lo', I64, ['J', L]);
  const hi0 = g.input('hi', I64, ['J', L]);
  const iters = g.input('iters', I64, []);

  const i64 = (v: number[], dims?: number[]) => g.i64(g.fresh('k'), v, dims);
  const f32 = (v: number) => g.f32(g.fresh('f'), [v], []);
  const zeroT = (b: GraphBuilder) => b.init(b.fresh('zt'), T, [], T === F32 ? new Float32Array([0]) : new Uint16Array([f32ToF16(0)]));
  const flatF = i64([-1, F]);
  const axis1 = i64([1]);
  const norms = new Float32Array(L * F);
  o.colNorms.forEach((n, l) => norms.set(n, l * F));
  const normsLF = g.f32('col_norms', norms, [L, F]);

  // ---- dense stream: keep a_l (as [T,F]) for the search
  const a2d: string[] = [];
  dec.stream(
    ids,
    (_l, _s, a) => {
      a2d.push(g.op('Reshape', [a, flatF]));
      return a;
    },
    false,
  );

  // ---- all layers at once (one kernel per op instead of one per layer): A [L,T,F], N [L,T,F] fp32, W_outᵀ [L,F,d]
  const ax0 = i64([0]);
  const A = g.op('Concat', a2d.map((x) => g.op('Unsqueeze', [x, ax0])), { axis: 0 });
  const Wst = g.op('Concat', Array.from({ length: L }, (_, l) => g.op('Unsqueeze', [dec.linear(`layers.${l}.mlp.down.weight`, h, F), ax0])), { axis: 0 });
  const N = g.op('Mul', [g.op('Abs', [dec.toF(A)]), g.op('Unsqueeze', [normsLF, axis1])]); // |a|·‖W_out[:,i]‖, fp32
  const minN = g.op('ReduceMin', [N], { axes: [1, 2], keepdims: 0 }); // [L]
  // q99 of norm.view(-1)[::max(numel // 65536, 1)] per layer (the authors' subsample), torch.quantile linear interpolation
  const flat = g.op('Reshape', [N, i64([L, -1])]); // [L, T·F]
  const numel = g.op('Slice', [g.op('Shape', [flat]), i64([1]), i64([2])]); // [1]
  const stride = g.op('Max', [g.op('Div', [numel, i64([K])]), i64([1])]);
  const sub = g.op('Slice', [flat, i64([0]), numel, axis1, stride]); // [L, m]
  const m = g.op('Slice', [g.op('Shape', [sub]), i64([1]), i64([2])]); // [1]
  const [sorted] = g.node('TopK', [sub, m], { axis: 1, largest: 0, sorted: 1 }, 2);
  const one64 = i64([1], []);
  const nm1 = g.op('Sub', [g.op('Squeeze', [m, ax0]), one64]);
  const pos = g.op('Mul', [g.op('Cast', [nm1], { to: F32 }), f32(0.99)]);
  const loPos = g.op('Floor', [pos]);
  const qlo = g.op('Cast', [loPos], { to: I64 });
  const qhi = g.op('Min', [g.op('Add', [qlo, one64]), nm1]);
  const w = g.op('Sub', [pos, loPos]);
  const va = g.op('Gather', [sorted, qlo], { axis: 1 }); // [L]
  const vb = g.op('Gather', [sorted, qhi], { axis: 1 });
  const diff = g.op('Sub', [vb, va]);
  // at::lerp: w < 0.5 ? a + w·(b−a) : b − (b−a)·(1−w)
  const q99 = g.op('Where', [g.op('Less', [w, f32(0.5)]), g.op('Add', [va, g.op('Mul', [w, diff])]), g.op('Sub', [vb, g.op('Mul', [diff, g.op('Sub', [f32(1), w])])])]);
  const start = g.op('Identity', [minN], {}, 'grid_start'); // [L]
  const end = g.op('Identity', [q99], {}, 'grid_end');
  const full = g.op('ReduceL2', [dec.toF(g.op('MatMul', [A, Wst]))], { axes: [2], keepdims: 0 }); // [L,T] ‖a W_outᵀ‖ per token
  const valid = g.op('Greater', [full, f32(0)]);
  const safeFull = g.op('Where', [valid, full, f32(1)]);
  const count = g.op('Max', [g.op('ReduceSum', [g.op('Cast', [valid], { to: F32 }), axis1], { keepdims: 0 }), f32(1)]); // [L]
  const step = g.op('Div', [g.op('Sub', [end, start]), f32(K - 1)]);
  const half = i64([K / 2], []);
  const kMinus1 = i64([K - 1], []);
  /** torch.linspace (CUDA kernel, fp32): idx < steps/2 ? start + step·idx : end − step·(steps − 1 − idx) */
  const cand = (b: GraphBuilder, idx: string): string => {
    const up = b.op('Add', [start, b.op('Mul', [step, b.op('Cast', [idx], { to: F32 })])]);
    const down = b.op('Sub', [end, b.op('Mul', [step, b.op('Cast', [b.op('Sub', [kMinus1, idx])], { to: F32 })])]);
    return b.op('Where', [b.op('Less', [idx, half]), up, down]);
  };

  // ---- the bisection loop: one iteration = one candidate per layer, all layers in one batched product
  const body = g.body('bisect');
  body.input('iter', I64, []);
  body.input('cond_in', DT.BOOL, []);
  body.input('lo_in', I64, ['J', L]);
  body.input('hi_in', I64, ['J', L]);
  const two = body.i64(body.fresh('two'), [2], []);
  const active = body.op('Less', ['lo_in', 'hi_in']);
  const mid = body.op('Div', [body.op('Add', ['lo_in', 'hi_in']), two]);
  const t = cand(body, mid); // [L] fp32
  const tail = body.op('Where', [body.op('LessOrEqual', [N, body.op('Reshape', [t, i64([-1, L, 1, 1])])]), A, zeroT(body)]); // [J,L,T,F]
  const prod = body.op('MatMul', [tail, Wst]); // [J,L,T,d]
  const tn = body.op('ReduceL2', [T === F32 ? prod : body.op('Cast', [prod], { to: F32 })], { axes: [3], keepdims: 0 }); // [J,L,T]
  const ratio = body.op('Where', [valid, body.op('Div', [tn, safeFull]), f32(0)]);
  const cett = body.op('Div', [body.op('ReduceSum', [ratio, i64([2])], { keepdims: 0 }), count]); // [J,L]
  const gt = body.op('Greater', [cett, body.op('Unsqueeze', [cIn, axis1])]);
  const hiOut = body.op('Where', [body.op('And', [active, gt]), mid, 'hi_in']);
  const loOut = body.op('Where', [body.op('And', [active, body.op('Not', [gt])]), body.op('Add', [mid, body.i64(body.fresh('one'), [1], [])]), 'lo_in']);
  const condOut = body.op('Identity', ['cond_in']);
  const outs: [string, ElemType, (number | string)[]][] = [
    [condOut, DT.BOOL, []],
    [loOut, I64, ['J', L]],
    [hiOut, I64, ['J', L]],
    [mid, I64, ['J', L]],
    [cett, F32, ['J', L]],
    [t, F32, ['J', L]],
    [active, DT.BOOL, ['J', L]],
  ];
  for (const [name, e, shape] of outs) body.output(name, e, shape);
  const trueC = g.init('loop_cond', DT.BOOL, [], new Uint8Array([1]));
  const [loAll] = g.node('Loop', [iters, trueC, lo0, hi0], { body: { graph: body.subgraph() } }, ['lo_final', 'hi_final', 'eval_mid', 'eval_cett', 'eval_t', 'eval_active']);

  // ---- ε and τ, the sparse stream
  const loF = g.op('Gather', [loAll, i64([0], [])], { axis: 0 }); // [L]: the first target's
  const clamped = g.op('Equal', [loF, i64([0], [])], {}, 'clamped_low');
  const epsIdx = g.op('Max', [g.op('Sub', [loF, one64]), i64([0], [])]);
  const eps = g.op('Where', [clamped, f32(0), cand(g, epsIdx)], {}, 'eps'); // [L]
  const tau = g.op('Div', [g.op('Unsqueeze', [eps, axis1]), normsLF]); // [L,F]: ε/0 = ∞ (skip), 0/0 = NaN (keep), as the host's τ
  const zeroTop = zeroT(g);
  const keepF: string[] = [];
  const F32c = (x: string) => g.op('Cast', [x], { to: F32 });
  const { logits } = dec.stream(
    ids,
    (l, sAct, a) => {
      const keep = keepMask(g, 'cett', l, sAct, a, { tau }, T);
      keepF.push(F32c(keep));
      return g.op('Where', [keep, a, zeroTop]);
    },
    true,
  );
  nllFromLogits(g, logits!, ids);
  const axisLast = i64([-1]);
  const axes01 = i64([0, 1]);
  const zero1 = i64([0]);
  g.op('Concat', keepF.map((k) => g.op('Unsqueeze', [g.op('ReduceSum', [k, axisLast], { keepdims: 0 }), zero1])), { axis: 0 }, 'active_counts');
  g.op('Concat', keepF.map((k) => g.op('Unsqueeze', [g.op('ReduceSum', [k, axes01], { keepdims: 0 }), zero1])), { axis: 0 }, 'neuron_counts');
  g.output('nll', F32, ['B', 'Sm1']);
  g.output('active_counts', F32, [L, 'B', 'S']);
  g.output('neuron_counts', F32, [L, F]);
  g.output('eps', F32, [L]);
  g.output('clamped_low', DT.BOOL, [L]);
  g.output('lo_final', I64, ['J', L]);
  g.output('hi_final', I64, ['J', L]);
  g.output('eval_mid', I64, ['R', 'J', L]);
  g.output('eval_cett', F32, ['R', 'J', L]);
  g.output('eval_t', F32, ['R', 'J', L]);
  g.output('eval_active', DT.BOOL, ['R', 'J', L]);
  g.output('grid_start', F32, [L]);
  g.output('grid_end', F32, [L]);
  return g.build();
}
