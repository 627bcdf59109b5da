/**
 * An .onnx decoder as the runner's graph source: instrumented per mask mode by main/graph/instrument-onnx,
 * column norms of W_out read from its down-projection initializers (METHOD.md §1).
 */
import fs from 'node:fs';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataLocation, TensorProto_DataType, type ModelProto, type TensorProto } from 'onnx-buf';
import { LabError } from '../api/errors';
import { f16ToF32 } from '../checkpoint/safetensors';
import { findFfnBlocks, instrumentOnnx } from '../graph/instrument-onnx';
import type { MaskMode } from './runner-types';

// Uint8Array.from: rawData may be a view into a pooled Buffer (Buffer.slice does not copy)
function floats(t: TensorProto, file: string): Float32Array {
  if (t.dataType === TensorProto_DataType.FLOAT) {
    if (t.rawData.length) return new Float32Array(Uint8Array.from(t.rawData).buffer);
    return Float32Array.from(t.floatData);
  }
  if (t.dataType === TensorProto_DataType.FLOAT16) {
    const src = t.rawData.length ? new Uint16Array(Uint8Array.from(t.rawData).buffer) : Uint16Array.from(t.int32Data);
    return Float32Array.from(src, (h) => f16ToF32(h));
  }
  throw new LabError('UNSUPPORTED', `${file}: down-projection '${t.name}' has data type ${t.dataType}; fp32 or fp16 expected`);
}

export interface OnnxSource {
  dtype: 'float32' | 'float16';
  colNorms: Float32Array[];
  build(kind: MaskMode['kind'], capture: boolean): Uint8Array;
}

export function openOnnxSource(file: string): OnnxSource {
  const read = (): ModelProto => fromBinary(ModelProtoSchema, fs.readFileSync(file));
  const model = read();
  if (model.graph?.initializer.some((t) => t.dataLocation === TensorProto_DataLocation.EXTERNAL))
    throw new LabError('UNSUPPORTED', `${file}: ONNX models with external data cannot be run by this build yet (the instrumented graph would have to sit beside the data files)`);
  const blocks = findFfnBlocks(model, file);
  const inits = new Map(model.graph!.initializer.map((t) => [t.name, t]));
  const colNorms = blocks.map((b) => {
    const w = inits.get(model.graph!.node[b.down].input[1])!;
    const [F, d] = w.dims.map(Number);
    const x = floats(w, file); // [F, d] for MatMul(a, W): neuron i's output direction is row i
    return Float32Array.from({ length: F }, (_, i) => {
      let acc = 0;
      for (let k = 0; k < d; k++) acc += x[i * d + k] ** 2;
      return Math.sqrt(acc);
    });
  });
  return {
    dtype: blocks[0].elem === TensorProto_DataType.FLOAT16 ? 'float16' : 'float32',
    colNorms,
    build: (kind, capture) => instrumentOnnx(read(), file, { mode: kind, capture }).bytes,
  };
}
