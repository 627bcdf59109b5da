/**
 * Instrument a decoder given as an ONNX file (issue 3, "An ONNX file …"): find each FFN block by graph pattern,
 * mask the input of its down-projection MatMul (paper Sec. 4.1–4.2), and add the outputs of every instrumented
 * graph (nll from the logits, active counts, optionally a). Patterns (weights as initializers, MatMul(x, W)):
 *   gated:     MatMul(x, W_gate[d,F]) → activation → s;  Mul(s, MatMul(x, W_up[d,F])) = a;  MatMul(a, W_down[F,d])
 *   non-gated: MatMul(x, W_in[d,F]) (+ bias) → activation = s = a;                              MatMul(a, W_down[F,d])
 * External data of the model must stay inside its folder (checked by main/checkpoint/onnx's loader first).
 */
import { TensorProto_DataType, type ModelProto, type NodeProto, type TensorProto } from 'onnx-buf';
import { LabError } from '../api/errors';
import type { MaskMode } from '../inference/runner-types';
import { DT, GraphBuilder, type ElemType } from './onnx-builder';
import { declareMaskInputs, keepMask, nllFromLogits } from './masks';

export interface FfnBlock {
  /** index of the down-projection node (MatMul or Gemm) in graph.node */
  down: number;
  /** the node that consumes a (the down projection, or a Reshape in front of it) and the input slot it reads a from */
  consumer: number;
  slot: number;
  /** the FFN's hidden activation a (the Mul output when gated) and the activation output s (= a when non-gated) */
  a: string;
  s: string;
  F: number;
  gated: boolean;
  elem: ElemType;
  /** W_out's initializer and its layout: [F, d] (MatMul(a, W), Gemm) or, when `transposed`, [d, F] (Gemm transB, Transpose(W)) */
  downWeight: string;
  transposed: boolean;
}

/** elementwise ops an activation may be built from (tanh-GELU, SiLU as x·sigmoid(x), fused Gelu, …) */
const ELEMENTWISE = new Set(['Relu', 'Sigmoid', 'Mul', 'Add', 'Sub', 'Div', 'Tanh', 'Erf', 'Pow', 'Gelu', 'FastGelu', 'Where', 'Greater', 'Cast', 'Neg', 'Sqrt', 'Max', 'Min', 'Clip', 'HardSigmoid', 'Identity', 'Softplus']);
/** ops that only re-view their first input (exporters wrap 2-D GEMMs in them: GPT-2's Conv1D is view → addmm → view) */
export const VIEW = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);

/** a linear projection with a constant weight: [in, out] and where the weight lives */
export interface Projection {
  inDim: number;
  outDim: number;
  weight: string;
  /** the initializer is stored [out, in] */
  transposed: boolean;
}

/**
 * MatMul(x, W[in,out]), MatMul(x, Transpose(W[out,in])) (the dynamo exporter's linear) or Gemm(x, W) with or without
 * transB (the TorchScript exporter's 2-D linear / addmm); undefined for anything else.
 */
export function projectionOf(n: NodeProto | undefined, inits: Map<string, TensorProto>, producer: Map<string, NodeProto>): Projection | undefined {
  if (!n || (n.opType !== 'MatMul' && n.opType !== 'Gemm')) return undefined;
  const attr = (k: string) => n.attribute.find((a) => a.name === k);
  if (n.opType === 'Gemm' && Number(attr('transA')?.i ?? 0) === 1) return undefined;
  let wName = n.input[1];
  let transposed = n.opType === 'Gemm' && Number(attr('transB')?.i ?? 0) === 1;
  if (!inits.has(wName)) {
    const t = producer.get(wName);
    const perm = t?.attribute.find((a) => a.name === 'perm')?.ints.map(Number);
    if (t?.opType !== 'Transpose' || !inits.has(t.input[0]) || (perm && !(perm.length === 2 && perm[0] === 1 && perm[1] === 0))) return undefined;
    wName = t.input[0];
    transposed = !transposed;
  }
  const w = inits.get(wName)!;
  if (w.dims.length !== 2) return undefined;
  const [r, c] = w.dims.map(Number);
  return transposed ? { inDim: c, outDim: r, weight: wName, transposed } : { inDim: r, outDim: c, weight: wName, transposed };
}

export function findFfnBlocks(model: ModelProto, file: string): FfnBlock[] {
  const gr = model.graph;
  if (!gr) throw new LabError('BAD_CHECKPOINT', `${file}: the ONNX file has no graph`);
  const inits = new Map<string, TensorProto>(gr.initializer.map((t) => [t.name, t]));
  const producer = new Map<string, NodeProto>();
  for (const n of gr.node) for (const o of n.output) producer.set(o, n);
  const dims = (name: string) => inits.get(name)?.dims.map(Number);
  /** a projection x·W[d,F] (possibly + bias, possibly re-viewed) */
  const isInProj = (name: string, d: number, F: number): boolean => {
    let n = producer.get(name);
    for (let hop = 0; hop < 3 && n && (n.opType === 'Add' || VIEW.has(n.opType)); hop++)
      n = n.opType === 'Add' ? n.input.map((i) => producer.get(i)).find((p) => p && (p.opType === 'MatMul' || p.opType === 'Gemm' || VIEW.has(p.opType))) : producer.get(n.input[0]);
    const w = projectionOf(n, inits, producer);
    return !!w && w.inDim === d && w.outDim === F;
  };
  /** does `name` come from an [d,F] input projection through elementwise (and view) ops only? */
  const reachesInProj = (name: string, d: number, F: number, depth = 0): boolean => {
    if (isInProj(name, d, F)) return true;
    const n = producer.get(name);
    if (!n || depth > 16) return false;
    if (VIEW.has(n.opType)) return reachesInProj(n.input[0], d, F, depth + 1);
    if (!ELEMENTWISE.has(n.opType)) return false;
    return n.input.some((i) => !inits.has(i) && reachesInProj(i, d, F, depth + 1));
  };
  // the hidden size d from the token embedding (the Gather on the largest rank-2 table): a down projection
  // writes d-wide rows. Without it, the next layer's up projection (fed from the residual stream, which comes
  // from the previous down projection) would look like a non-gated FFN of width d.
  let hidden: number | undefined;
  let rows = 0;
  for (const n of gr.node) {
    const e = n.opType === 'Gather' ? dims(n.input[0]) : undefined;
    if (e?.length === 2 && e[0] > rows) [rows, hidden] = [e[0], e[1]];
  }
  const index = new Map(gr.node.map((n, i) => [n, i]));
  const blocks: FfnBlock[] = [];
  gr.node.forEach((n, idx) => {
    const w = projectionOf(n, inits, producer);
    if (!w || w.inDim === w.outDim) return;
    const { inDim: F, outDim: d } = w;
    if (hidden !== undefined && d !== hidden) return;
    // a: the tensor the activation/gating produces, before any re-view in front of the down projection
    let consumer = idx;
    let a = n.input[0];
    let p = producer.get(a);
    for (let hop = 0; hop < 2 && p && VIEW.has(p.opType); hop++) {
      consumer = index.get(p)!;
      a = p.input[0];
      p = producer.get(a);
    }
    if (!p) return;
    const elem = inits.get(w.weight)!.dataType === TensorProto_DataType.FLOAT16 ? DT.FLOAT16 : DT.FLOAT;
    const base = { down: idx, consumer, slot: 0, a, F, elem, downWeight: w.weight, transposed: w.transposed };
    if (p.opType === 'Mul') {
      const [x, y] = p.input;
      // gated: one factor is the up projection itself, the other the activation of the gate projection
      if (isInProj(y, d, F) && !isInProj(x, d, F) && reachesInProj(x, d, F)) return void blocks.push({ ...base, s: x, gated: true });
      if (isInProj(x, d, F) && !isInProj(y, d, F) && reachesInProj(y, d, F)) return void blocks.push({ ...base, s: y, gated: true });
    }
    if (ELEMENTWISE.has(p.opType) && !isInProj(a, d, F) && reachesInProj(a, d, F)) blocks.push({ ...base, s: a, gated: false });
  });
  if (!blocks.length) {
    const seen = new Map<string, number>();
    for (const n of gr.node) seen.set(n.opType, (seen.get(n.opType) ?? 0) + 1);
    const list = [...seen].map(([k, v]) => `${k}×${v}`).join(', ');
    throw new LabError(
      'BAD_CHECKPOINT',
      `${file}: no feed-forward block found. Expected MatMul/Gemm(x, W[d,F]) → activation (→ Mul with a second projection of x) → MatMul/Gemm(a, W[F,d]) with the weights as initializers; node types seen: ${list || 'none'}`,
    );
  }
  return blocks;
}

export interface InstrumentOptions {
  mode: MaskMode['kind'];
  capture: boolean;
}

/** The instrumented model's bytes: inputs input_ids + the mode's mask input; outputs nll, active_counts, neuron_counts (+ act.{l}). */
export function instrumentOnnx(model: ModelProto, file: string, o: InstrumentOptions): { bytes: Uint8Array; layers: number; F: number } {
  const blocks = findFfnBlocks(model, file);
  const F = blocks[0].F;
  if (blocks.some((b) => b.F !== F)) throw new LabError('UNSUPPORTED', `${file}: FFN blocks of different widths (${[...new Set(blocks.map((b) => b.F))].join(', ')})`);
  const gr = model.graph!;
  const ids = gr.input.find((i) => i.name === 'input_ids') ?? gr.input.find((i) => i.type?.value.case === 'tensorType' && [TensorProto_DataType.INT64, TensorProto_DataType.INT32].includes(i.type.value.value.elemType));
  if (!ids) throw new LabError('BAD_CHECKPOINT', `${file}: no integer token-id input (looked for 'input_ids')`);
  const logitsOut = gr.output.find((x) => x.name === 'logits') ?? gr.output[0];
  if (!logitsOut) throw new LabError('BAD_CHECKPOINT', `${file}: the graph has no output (expected logits)`);
  const L = blocks.length;
  const g = GraphBuilder.adopt(model);
  const maskIn = declareMaskInputs(g, o.mode, L, F);
  const counts: string[] = [];
  const neuron: string[] = [];
  const i64 = (v: number[]) => g.i64(g.fresh('c'), v);
  // the runner feeds int64 'input_ids': a token input named otherwise, or int32, is renamed and converted in-graph
  const idsTT = ids.type?.value.case === 'tensorType' ? ids.type.value.value : undefined;
  const idsElem = idsTT?.elemType ?? TensorProto_DataType.INT64;
  if (ids.name !== 'input_ids' || idsElem !== TensorProto_DataType.INT64) {
    const inner = ids.name === 'input_ids' ? g.fresh('ids') : ids.name;
    if (inner !== ids.name) for (const n of g.graphNodes) n.input = n.input.map((x) => (x === 'input_ids' ? inner : x));
    ids.name = 'input_ids';
    if (idsTT) idsTT.elemType = TensorProto_DataType.INT64;
    g.op(idsElem === TensorProto_DataType.INT64 ? 'Identity' : 'Cast', ['input_ids'], idsElem === TensorProto_DataType.INT64 ? {} : { to: idsElem }, inner);
  }
  const idsName = 'input_ids';
  const bsf = g.op('Concat', [g.op('Shape', [idsName]), i64([F])], { axis: 0 });
  blocks.forEach((b, l) => {
    const keep = keepMask(g, o.mode, l, b.s, b.a, maskIn, b.elem);
    if (o.mode !== 'dense') {
      const zero = g.init(g.fresh('zero'), b.elem, [], b.elem === DT.FLOAT ? new Float32Array([0]) : new Uint16Array([0]));
      g.graphNodes[b.consumer].input[b.slot] = g.op('Where', [keep, b.a, zero]); // zero a_i before down_proj (paper Sec. 4.1–4.2)
    }
    // counts per token as [B, S] whatever the exporter's layout of a ([B,S,F] or [B·S,F])
    const keepF = g.op('Reshape', [g.op('Cast', [keep], { to: DT.FLOAT }), bsf]);
    counts.push(g.op('Unsqueeze', [g.op('ReduceSum', [keepF, i64([-1])], { keepdims: 0 }), i64([0])]));
    neuron.push(g.op('Unsqueeze', [g.op('ReduceSum', [keepF, i64([0, 1])], { keepdims: 0 }), i64([0])]));
    if (o.capture) g.op('Reshape', [b.elem === DT.FLOAT ? b.a : g.op('Cast', [b.a], { to: DT.FLOAT }), i64([-1, F])], {}, `act.${l}`);
  });
  const logitsF = g.op('Cast', [logitsOut.name], { to: DT.FLOAT });
  nllFromLogits(g, logitsF, idsName);
  g.op('Concat', counts, { axis: 0 }, 'active_counts');
  g.op('Concat', neuron, { axis: 0 }, 'neuron_counts');
  // never ship logits (or a KV cache) to the host: only the instrumented outputs remain
  g.setOutputs(() => false);
  g.output('nll', DT.FLOAT, ['B', 'Sm1']);
  g.output('active_counts', DT.FLOAT, [L, 'B', 'S']);
  g.output('neuron_counts', DT.FLOAT, [L, F]);
  if (o.capture) for (let l = 0; l < L; l++) g.output(`act.${l}`, DT.FLOAT, ['BS', F]);
  return { bytes: g.build(), layers: L, F };
}
