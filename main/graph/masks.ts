/**
 * The mask and loss parts of every instrumented graph (built from a checkpoint or patched into an ONNX file):
 * which neurons are kept before down_proj (paper Sec. 4.1–4.2) and the per-token NLL computed in the graph.
 */
import { DT, GraphBuilder, type ElemType } from './onnx-builder';
import { f32ToF16 } from '../checkpoint/safetensors';
import type { MaskMode } from '../inference/runner-types';

const TINY = 1e-18;

export interface MaskInputs {
  tau?: string;
  eps?: string;
  k?: string;
}

/** The graph inputs of a mask mode: cett tau [L,F]; fat eps [1]; topk-token k [1]; topk-batch kzero [1]. */
export function declareMaskInputs(g: GraphBuilder, mode: MaskMode['kind'], L: number, F: number): MaskInputs {
  if (mode === 'cett') return { tau: g.input('tau', DT.FLOAT, [L, F]) };
  if (mode === 'fat') return { eps: g.input('eps', DT.FLOAT, [1]) };
  if (mode === 'topk-token') return { k: g.input('k', DT.INT64, [1]) };
  if (mode === 'topk-batch') return { k: g.input('kzero', DT.INT64, [1]) };
  return {};
}

/**
 * Boolean keep mask [B,S,F] of layer l. s = σ(W_gate x) (non-gated: s = a), a = input of down_proj, both in the
 * graph dtype T; comparisons in fp32.
 */
export function keepMask(g: GraphBuilder, mode: MaskMode['kind'], l: number, sAct: string, a: string, inp: MaskInputs, T: ElemType): string {
  const F32 = DT.FLOAT;
  const toF = (x: string) => (T === F32 ? x : g.op('Cast', [x], { to: F32 }));
  const f = (v: number) => g.f32(g.fresh('mc'), [v], []);
  const tiny = f(TINY);
  switch (mode) {
    case 'dense': {
      const zeroT = g.init(g.fresh('zt'), T, [], T === F32 ? new Float32Array([0]) : new Uint16Array([f32ToF16(0)]));
      return g.op('Not', [g.op('Equal', [a, zeroT])]);
    }
    case 'cett': {
      // skip iff |a_i| < τ_{l,i} = ε_l/‖W_out[:,i]‖₂ (paper Sec. 4.1, Eq. 3; the authors' code)
      const tauL = g.op('Gather', [inp.tau!, g.i64(g.fresh('l'), [l], [])], { axis: 0 }); // [F]
      return g.op('Not', [g.op('Less', [g.op('Abs', [toF(a)]), tauL])]);
    }
    case 'fat':
      return g.op('Not', [g.op('Less', [g.op('Abs', [toF(sAct)]), inp.eps!])]);
    case 'relu':
      return g.op('Not', [g.op('Less', [g.op('Abs', [toF(sAct)]), tiny])]);
    case 'topk-token': {
      const absS = g.op('Abs', [toF(sAct)]);
      const [vals, idx] = g.node('TopK', [absS, inp.k!], { axis: -1, largest: 1, sorted: 0 }, 2);
      const onesK = g.op('Add', [g.op('Mul', [vals, f(0)]), f(1)]);
      const zerosF = g.op('Mul', [absS, f(0)]);
      const top = g.op('ScatterElements', [zerosF, idx, onesK], { axis: -1 });
      return g.op('And', [g.op('Greater', [top, f(0.5)]), g.op('Not', [g.op('Less', [absS, tiny])])]);
    }
    case 'topk-batch': {
      // authors' prune_topk: flatten the layer's |s| over the batch, zero the kzero smallest, inactive iff |s| < 1e-18
      const flat = g.op('Reshape', [g.op('Abs', [toF(sAct)]), g.i64(g.fresh('flat'), [-1])]);
      const [vals, idx] = g.node('TopK', [flat, inp.k!], { axis: -1, largest: 0, sorted: 0 }, 2);
      const zeroed = g.op('ScatterElements', [flat, idx, g.op('Mul', [vals, f(0)])], { axis: 0 });
      return g.op('Reshape', [g.op('Not', [g.op('Less', [zeroed, tiny])]), g.op('Shape', [a])]);
    }
  }
}

/**
 * Layer l's mask applied to a (the input of down_proj): the masked a and the keep mask as fp32 (the counts' input).
 * Where(keep, a, 0) zeroes the skipped a_i (every mode); `byMul` (fp32 CETT masks only) multiplies instead,
 * a · Cast(keep): onnxruntime's CPU Where runs on one thread, its Mul on every core (BENCHMARKS.md 2026-12-05). The same
 * numbers: a kept a_i is multiplied by 1 (exact, NaN and ±∞ included); a skipped one has |a_i| < τ, so it is finite and
 * a_i · 0 is a zero, −0 where a_i < 0. Every consumer (down_proj's sum, then Add, norms, Softmax, the next masks'
 * |a| and == 0) gives the same value for −0 as for +0, so the NLL and the counts are the same bits (masks.test.ts).
 * A mode that skips on s (fat, relu, top-k) keeps Where: there a skipped a_i = s_i · up_i may be non-finite.
 */
export function maskActivations(g: GraphBuilder, mode: MaskMode['kind'], l: number, sAct: string, a: string, inp: MaskInputs, T: ElemType, zeroT: string, byMul = false): { masked: string; keepF: string } {
  const keep = keepMask(g, mode, l, sAct, a, inp, T);
  if (byMul && mode === 'cett' && T === DT.FLOAT) {
    const keepF = g.op('Cast', [keep], { to: DT.FLOAT });
    return { masked: g.op('Mul', [a, keepF]), keepF };
  }
  const masked = mode === 'dense' ? a : g.op('Where', [keep, a, zeroT]);
  return { masked, keepF: g.op('Cast', [keep], { to: DT.FLOAT }) };
}

/** nll [B,S-1] = −log softmax(logits[:, :-1])[ids[:, 1:]], fp32 logits in, logits never leave the graph. */
export function nllFromLogits(g: GraphBuilder, logitsF32: string, ids: string, out = 'nll'): string {
  const i = (v: number[]) => g.i64(g.fresh('c'), v);
  const logp = g.op('LogSoftmax', [g.op('Slice', [logitsF32, i([0]), i([-1]), i([1])])], { axis: -1 });
  const tgt = g.op('Unsqueeze', [g.op('Slice', [ids, i([1]), i([2 ** 62]), i([1])]), i([-1])]);
  return g.op('Neg', [g.op('Squeeze', [g.op('GatherElements', [logp, tgt], { axis: 2 }), i([-1])])], {}, out);
}
