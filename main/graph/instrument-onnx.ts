/**
 * Instrument a decoder given as an ONNX file (issue 3, "An ONNX file …"): each FFN block found by graph pattern
 * (main/checkpoint/onnx-ffn.ts findFfnBlocks, the same match the checkpoint's card and W_out come from), the input of
 * its down-projection MatMul masked (paper Sec. 4.1–4.2), and the outputs of every instrumented graph added (nll from
 * the logits, active counts, optionally a). External data of the model must stay inside its folder (checked by
 * main/checkpoint/onnx.ts externalDataFiles first).
 */
import { TensorProto_DataType, type ModelProto } from 'onnx-buf';
import { LabError } from '../api/errors';
import { findFfnBlocks } from '../checkpoint/onnx-ffn';
import { externalDataFiles, externalLocations, parseOnnx } from '../checkpoint/onnx';
import { withoutFiles } from '../checkpoint/interrupt';
import type { MaskMode } from '../inference/runner-types';
import { DT, GraphBuilder } from './onnx-builder';
import { declareMaskInputs, keepMask, nllFromLogits } from './masks';

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
    // s behind a Cast in front of W_out has the product's element type, not W_out's: read as fp32 (exact for fp16/fp32);
    // a (the Cast's output) is in W_out's, as the masks expect
    const s = b.sOtherType && o.mode !== 'dense' && o.mode !== 'cett' ? g.op('Cast', [b.s], { to: DT.FLOAT }) : b.s;
    const keep = keepMask(g, o.mode, l, s, b.a, maskIn, b.elem); // (a fp32 s cast again where W_out is fp16: exact)
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

/**
 * The .onnx file instrumented for measuring and the external-data locations its initializers name: what a session of it
 * needs. Parsing and instrumenting hold no file (a cancel may end the worker doing it: main/inference/graph-worker.ts).
 */
export function instrumentedOnnx(file: string, o: InstrumentOptions): { bytes: Uint8Array; locations: string[] } {
  const model = parseOnnx(file);
  externalDataFiles(model, file); // locations inside the model's folder, files present and long enough (else a clear error)
  return { bytes: withoutFiles(() => instrumentOnnx(model, file, o).bytes), locations: externalLocations(model) };
}
