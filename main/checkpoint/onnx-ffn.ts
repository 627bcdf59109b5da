/**
 * The FFN blocks of a decoder given as an ONNX file, found by graph pattern (issue 3, "An ONNX file …"): what opening
 * the file describes (main/checkpoint/onnx.ts: the card's shape, each W_out) and what instrumenting it masks
 * (main/graph/instrument-onnx.ts): one pattern match for both. Patterns (weights as initializers, MatMul(x, W)):
 *   gated:     MatMul(x, W_gate[d,F]) → activation → s;  Mul(s, MatMul(x, W_up[d,F])) = a;  MatMul(a, W_down[F,d])
 *   non-gated: MatMul(x, W_in[d,F]) (+ bias) → activation = s = a;                              MatMul(a, W_down[F,d])
 * Each MatMul may be a Gemm (transB or not), its weight a Transpose of an initializer (projectionOf), and each
 * projection's output may reach the activation/Mul through the exporters' wrappers (WRAPPER: Reshape, Identity, Cast,
 * … — TorchScript's 2-D linear is Reshape → Gemm → Reshape, often followed by an Identity) and a bias Add: gate, up
 * and down are all seen through the same wrappers (projectionBehind), so a wrapped gated block is found gated.
 */
import { TensorProto_DataType, type ModelProto, type NodeProto, type TensorProto } from 'onnx-buf';
import { LabError } from '../api/errors';

export interface FfnBlock {
  /** index of the down-projection node (MatMul or Gemm) in graph.node */
  down: number;
  /** the node that consumes a (the down projection, or a Reshape in front of it) and the input slot it reads a from */
  consumer: number;
  slot: number;
  /**
   * the FFN's hidden activation a (the Mul output when gated) and the activation output s (= a when non-gated). Behind a
   * Cast in front of the down projection (a mixed-precision export), a is the Cast's output, in W_out's element type (what
   * W_out multiplies), and s keeps the product's element type, unknown here: `sOtherType` (masks read it cast to fp32)
   */
  a: string;
  s: string;
  sOtherType?: boolean;
  F: number;
  gated: boolean;
  /** the initializers of the up projection (W_in when non-gated) and, when gated, of the gate projection */
  up: string;
  gate?: string;
  /** W_out's element type (FLOAT16 or FLOAT): the type a takes in the graph */
  elem: TensorProto_DataType;
  /** W_out's initializer and its layout: [F, d] (MatMul(a, W), Gemm) or, when `transposed`, [d, F] (Gemm transB, Transpose(W)) */
  downWeight: string;
  transposed: boolean;
}

/** elementwise ops an activation may be built from (tanh-GELU, SiLU as x·sigmoid(x), fused Gelu, …) */
const ELEMENTWISE = new Set(['Relu', 'Sigmoid', 'Mul', 'Add', 'Sub', 'Div', 'Tanh', 'Erf', 'Pow', 'Gelu', 'FastGelu', 'Where', 'Greater', 'Cast', 'Neg', 'Sqrt', 'Max', 'Min', 'Clip', 'HardSigmoid', 'Identity', 'Softplus']);
/** ops that only re-view their first input (exporters wrap 2-D GEMMs in them: GPT-2's Conv1D is view → addmm → view) */
export const VIEW = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);
/** ops an exporter puts between a projection and what reads it without changing a value: re-views, Identity, Cast
 * (a Transpose of activations is not one: it would move the F axis the masks act on; a Transpose of the WEIGHT is
 * projectionOf's) */
const WRAPPER = new Set([...VIEW, 'Identity', 'Cast']);

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
  /** the projection x·W[d,F] that `name` is, seen through wrappers and a bias Add (one walk for gate, up and W_in) */
  const projectionBehind = (name: string, d: number, F: number): Projection | undefined => {
    let n = producer.get(name);
    for (let hop = 0; hop < 8 && n && (n.opType === 'Add' || WRAPPER.has(n.opType)); hop++)
      n = n.opType === 'Add' ? n.input.map((i) => producer.get(i)).find((p) => p && (p.opType === 'MatMul' || p.opType === 'Gemm' || WRAPPER.has(p.opType))) : producer.get(n.input[0]);
    const w = projectionOf(n, inits, producer);
    return w && w.inDim === d && w.outDim === F ? w : undefined;
  };
  const isInProj = (name: string, d: number, F: number) => !!projectionBehind(name, d, F);
  /** the [d,F] input projection `name` comes from through elementwise (and view) ops only, if any */
  const reachedProj = (name: string, d: number, F: number, depth = 0): Projection | undefined => {
    const w = projectionBehind(name, d, F);
    if (w) return w;
    const n = producer.get(name);
    if (!n || depth > 16) return undefined;
    if (VIEW.has(n.opType)) return reachedProj(n.input[0], d, F, depth + 1);
    if (!ELEMENTWISE.has(n.opType)) return undefined;
    for (const i of n.input) {
      const r = inits.has(i) ? undefined : reachedProj(i, d, F, depth + 1);
      if (r) return r;
    }
    return undefined;
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
    // a: the tensor the activation/gating produces, before any re-view in front of the down projection; p: its producer
    let consumer = idx;
    let a = n.input[0];
    let p = producer.get(a);
    // through re-views, Identity and Cast (a mixed-precision export casts the gated product to W_out's type): a stops at
    // the first Cast (a stays in W_out's element type, which the masks are built in); p is found behind it
    let cast = false;
    for (let hop = 0; hop < 6 && p && (WRAPPER.has(p.opType)); hop++) {
      if (p.opType === 'Cast') cast = true;
      if (!cast) {
        consumer = index.get(p)!;
        a = p.input[0];
      }
      p = producer.get(p.input[0]);
    }
    if (!p) return;
    const elem = inits.get(w.weight)!.dataType === TensorProto_DataType.FLOAT16 ? TensorProto_DataType.FLOAT16 : TensorProto_DataType.FLOAT;
    const base = { down: idx, consumer, slot: 0, a, F, elem, downWeight: w.weight, transposed: w.transposed };
    if (p.opType === 'Mul') {
      const [x, y] = p.input;
      // gated: one factor is the up projection itself, the other the activation of the gate projection
      for (const [s, u] of [[x, y], [y, x]]) {
        const up = projectionBehind(u, d, F);
        const gate = up && !isInProj(s, d, F) ? reachedProj(s, d, F) : undefined;
        if (up && gate && gate.weight !== up.weight) return void blocks.push({ ...base, s, ...(cast ? { sOtherType: true } : {}), gated: true, up: up.weight, gate: gate.weight });
      }
    }
    const up = ELEMENTWISE.has(p.opType) && !isInProj(a, d, F) ? reachedProj(a, d, F) : undefined;
    if (up) blocks.push({ ...base, s: a, gated: false, up: up.weight });
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
