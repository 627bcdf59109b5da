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
}

export function buildSearchGraph(ckpt: LoadedCheckpoint, o: SearchGraphOptions, external?: ExternalTarget): Uint8Array {
  const g = new GraphBuilder(`sparsity-lab-search-${ckpt.spec.family}`);
  if (!external) return buildInto(g, ckpt, o);
  g.externalData(external.file, external.location);
  try {
    return buildInto(g, ckpt, o);
  } finally {
    g.closeExternal();
  }
}

function buildInto(g: GraphBuilder, ckpt: LoadedCheckpoint, o: SearchGraphOptions): Uint8Array {
  const dec = makeDecoder(g, ckpt, o);
  const { T, spec: s } = dec;
  const F32 = DT.FLOAT;
  const I64 = DT.INT64;
  const { hiddenSize: h, intermediateSize: F, numLayers: L } = s;
  const K = SEARCH_CANDIDATES;

  const ids = g.input('input_ids', I64, ['B', 'S']);
  const cIn = g.input('c', F32, []);
  const lo0 = g.input('lo', I64, [L]);
  const hi0 = g.input('hi', I64, [L]);
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

  // ---- per layer: N, grid, full norms
  const nMat: string[] = [];
  const wt: string[] = [];
  const valid: string[] = [];
  const safeFull: string[] = [];
  const count: string[] = [];
  const starts: string[] = [];
  const ends: string[] = [];
  const n65536 = i64([K], []);
  const one64 = i64([1], []);
  for (let l = 0; l < L; l++) {
    const colN = g.op('Gather', [normsLF, i64([l], [])], { axis: 0 }); // [F]
    const n = g.op('Mul', [g.op('Abs', [dec.toF(a2d[l])]), colN]); // [T,F] fp32
    nMat.push(n);
    wt.push(dec.linear(`layers.${l}.mlp.down.weight`, h, F)); // [F,d], the model's own down_proj initializer
    const minN = g.op('ReduceMin', [n], { keepdims: 0 });
    // q99 of norm.view(-1)[::max(numel // 65536, 1)] (the authors' subsample), torch.quantile linear interpolation
    const flat = g.op('Reshape', [n, i64([-1])]);
    const numel = g.op('Size', [flat]);
    const stride = g.op('Max', [g.op('Div', [numel, n65536]), one64]);
    const sub = g.op('Slice', [flat, i64([0]), g.op('Unsqueeze', [numel, i64([0])]), i64([0]), g.op('Unsqueeze', [stride, i64([0])])]);
    const m = g.op('Shape', [sub]); // [1]
    const [sorted] = g.node('TopK', [sub, m], { axis: 0, largest: 0, sorted: 1 }, 2);
    const nm1 = g.op('Sub', [g.op('Squeeze', [m, i64([0])]), one64]);
    const pos = g.op('Mul', [g.op('Cast', [nm1], { to: F32 }), f32(0.99)]);
    const loF = g.op('Floor', [pos]);
    const qlo = g.op('Cast', [loF], { to: I64 });
    const qhi = g.op('Min', [g.op('Add', [qlo, one64]), nm1]);
    const w = g.op('Sub', [pos, loF]);
    const va = g.op('Gather', [sorted, qlo], { axis: 0 });
    const vb = g.op('Gather', [sorted, qhi], { axis: 0 });
    const diff = g.op('Sub', [vb, va]);
    // at::lerp: w < 0.5 ? a + w·(b−a) : b − (b−a)·(1−w)
    const q99 = g.op('Where', [g.op('Less', [w, f32(0.5)]), g.op('Add', [va, g.op('Mul', [w, diff])]), g.op('Sub', [vb, g.op('Mul', [diff, g.op('Sub', [f32(1), w])])])]);
    starts.push(g.op('Unsqueeze', [minN, i64([0])]));
    ends.push(g.op('Unsqueeze', [q99, i64([0])]));
    const full = g.op('ReduceL2', [dec.toF(g.op('MatMul', [a2d[l], wt[l]]))], { axes: [1], keepdims: 0 }); // [T]
    const ok = g.op('Greater', [full, f32(0)]);
    valid.push(ok);
    safeFull.push(g.op('Where', [ok, full, f32(1)]));
    count.push(g.op('Max', [g.op('ReduceSum', [g.op('Cast', [ok], { to: F32 }), i64([0])], { keepdims: 0 }), f32(1)]));
  }
  const start = g.op('Concat', starts, { axis: 0 }, 'grid_start'); // [L]
  const end = g.op('Concat', ends, { axis: 0 }, 'grid_end');
  const step = g.op('Div', [g.op('Sub', [end, start]), f32(K - 1)]);
  const half = i64([K / 2], []);
  const kMinus1 = i64([K - 1], []);
  /** torch.linspace (CUDA kernel, fp32): idx < steps/2 ? start + step·idx : end − step·(steps − 1 − idx) */
  const cand = (b: GraphBuilder, idx: string): string => {
    const up = b.op('Add', [start, b.op('Mul', [step, b.op('Cast', [idx], { to: F32 })])]);
    const down = b.op('Sub', [end, b.op('Mul', [step, b.op('Cast', [b.op('Sub', [kMinus1, idx])], { to: F32 })])]);
    return b.op('Where', [b.op('Less', [idx, half]), up, down]);
  };

  // ---- the bisection loop
  const body = g.body('bisect');
  body.input('iter', I64, []);
  body.input('cond_in', DT.BOOL, []);
  body.input('lo_in', I64, [L]);
  body.input('hi_in', I64, [L]);
  const two = body.i64(body.fresh('two'), [2], []);
  const active = body.op('Less', ['lo_in', 'hi_in']);
  const mid = body.op('Div', [body.op('Add', ['lo_in', 'hi_in']), two]);
  const t = cand(body, mid); // [L] fp32
  const zt = zeroT(body);
  const cetts: string[] = [];
  for (let l = 0; l < L; l++) {
    const tl = body.op('Gather', [t, body.i64(body.fresh('l'), [l], [])], { axis: 0 });
    const tail = body.op('Where', [body.op('LessOrEqual', [nMat[l], tl]), a2d[l], zt]);
    const prod = body.op('MatMul', [tail, wt[l]]);
    const tn = body.op('ReduceL2', [T === F32 ? prod : body.op('Cast', [prod], { to: F32 })], { axes: [1], keepdims: 0 }); // [T]
    const ratio = body.op('Where', [valid[l], body.op('Div', [tn, safeFull[l]]), f32(0)]);
    const cl = body.op('Div', [body.op('ReduceSum', [ratio, i64([0])], { keepdims: 0 }), count[l]]);
    cetts.push(body.op('Unsqueeze', [cl, i64([0])]));
  }
  const cett = body.op('Concat', cetts, { axis: 0 });
  const gt = body.op('Greater', [cett, cIn]);
  const hiOut = body.op('Where', [body.op('And', [active, gt]), mid, 'hi_in']);
  const loOut = body.op('Where', [body.op('And', [active, body.op('Not', [gt])]), body.op('Add', [mid, body.i64(body.fresh('one'), [1], [])]), 'lo_in']);
  const condOut = body.op('Identity', ['cond_in']);
  const outs: [string, ElemType, (number | string)[]][] = [
    [condOut, DT.BOOL, []],
    [loOut, I64, [L]],
    [hiOut, I64, [L]],
    [mid, I64, [L]],
    [cett, F32, [L]],
    [t, F32, [L]],
    [active, DT.BOOL, [L]],
  ];
  for (const [name, e, shape] of outs) body.output(name, e, shape);
  const trueC = g.init('loop_cond', DT.BOOL, [], new Uint8Array([1]));
  const [loF] = g.node('Loop', [iters, trueC, lo0, hi0], { body: { graph: body.subgraph() } }, [
    'lo_final',
    'hi_final',
    'eval_mid',
    'eval_cett',
    'eval_t',
    'eval_active',
  ]);

  // ---- ε and τ, the sparse stream
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
  g.output('lo_final', I64, [L]);
  g.output('hi_final', I64, [L]);
  g.output('eval_mid', I64, ['R', L]);
  g.output('eval_cett', F32, ['R', L]);
  g.output('eval_t', F32, ['R', L]);
  g.output('eval_active', DT.BOOL, ['R', L]);
  g.output('grid_start', F32, [L]);
  g.output('grid_end', F32, [L]);
  return g.build();
}
