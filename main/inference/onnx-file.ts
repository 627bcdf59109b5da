/**
 * An .onnx decoder as the runner's graph source: instrumented per mask mode by main/graph/instrument-onnx,
 * column norms of W_out read from its down-projection initializers (paper Sec. 2.2).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import * as ort from 'onnxruntime-node';
import { ModelProtoSchema, TensorProto_DataLocation, TensorProto_DataType, type ModelProto } from 'onnx-buf';
import { LabError } from '../api/errors';
import { findFfnBlocks, instrumentOnnx } from '../graph/instrument-onnx';
import type { MaskMode } from './runner-types';
import { externalDataFiles, initializerFloats as floats } from '../checkpoint/onnx';

export interface OnnxSource {
  dtype: 'float32' | 'float16';
  colNorms: Float32Array[];
  build(kind: MaskMode['kind'], capture: boolean): Uint8Array;
  /**
   * The model's external-data files as onnxruntime's `externalData` session option (the instrumented graph is
   * built in memory, so its external references are resolved from these buffers, not from a folder).
   */
  externalData(): { path: string; data: Uint8Array }[];
}

export function openOnnxSource(file: string): OnnxSource {
  const read = (): ModelProto => fromBinary(ModelProtoSchema, fs.readFileSync(file));
  const model = read();
  externalDataFiles(model, file); // locations inside the model's folder, files present and long enough (else a clear error)
  const locations = new Set<string>();
  for (const t of model.graph?.initializer ?? [])
    if (t.dataLocation === TensorProto_DataLocation.EXTERNAL) locations.add(t.externalData.find((e) => e.key === 'location')!.value);
  const blocks = findFfnBlocks(model, file);
  const inits = new Map(model.graph!.initializer.map((t) => [t.name, t]));
  const colNorms = blocks.map((b) => {
    const w = inits.get(b.downWeight)!;
    const x = floats(w, file);
    // [F, d] for MatMul(a, W): neuron i's output direction is row i; stored [d, F] (Gemm transB, Transpose): column i
    const F = b.F;
    const d = x.length / F;
    const acc = new Float64Array(F);
    if (b.transposed) for (let r = 0; r < d; r++) for (let i = 0; i < F; i++) acc[i] += x[r * F + i] ** 2;
    else for (let i = 0; i < F; i++) for (let k = 0; k < d; k++) acc[i] += x[i * d + k] ** 2;
    return Float32Array.from(acc, Math.sqrt);
  });
  return {
    dtype: blocks[0].elem === TensorProto_DataType.FLOAT16 ? 'float16' : 'float32',
    colNorms,
    build: (kind, capture) => instrumentOnnx(read(), file, { mode: kind, capture }).bytes,
    externalData: () => [...locations].map((loc) => ({ path: loc, data: fs.readFileSync(path.resolve(path.dirname(file), loc)) })),
  };
}

/**
 * Feeds for the inputs an exported decoder may take besides input_ids and our mask parameters (optimum/transformers
 * exports): attention_mask (all ones: no padding), position_ids and cache_position (0…S−1), an empty KV cache for
 * `past_key_values.*` / `past.*` inputs (past length 0: the whole sequence is the prompt), use_cache_branch = false
 * for merged decoders. Anything else is refused with its name, type and shape.
 */
export function exporterFeeds(
  meta: readonly ort.InferenceSession.ValueMetadata[],
  known: ReadonlySet<string>,
  B: number,
  S: number,
  spec: { numKvHeads: number; headDim: number },
  file: string,
): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const m of meta) {
    if (known.has(m.name)) continue;
    const type = m.isTensor ? m.type : undefined;
    const shape = m.isTensor ? m.shape : [];
    const isInt = type === 'int64' || type === 'int32';
    const ints = (dims: number[], f: (i: number) => number): ort.Tensor => {
      const n = dims.reduce((x, y) => x * y, 1);
      return type === 'int32' ? new ort.Tensor('int32', Int32Array.from({ length: n }, (_, i) => f(i)), dims) : new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(f(i))), dims);
    };
    if (m.name === 'attention_mask' && isInt) feeds[m.name] = ints([B, S], () => 1);
    else if (m.name === 'position_ids' && isInt) feeds[m.name] = ints([B, S], (i) => i % S);
    else if (m.name === 'cache_position' && isInt) feeds[m.name] = ints([S], (i) => i);
    else if (m.name === 'use_cache_branch' && type === 'bool') feeds[m.name] = new ort.Tensor('bool', new Uint8Array([0]), [1]);
    else if (/^past(_key_values)?[._]/.test(m.name) && (type === 'float32' || type === 'float16') && shape.length === 4) {
      // [batch, kv heads, past length, head dim]: symbolic dims are named by the exporter; the past length is 0
      const dims = shape.map((d, i) => {
        if (typeof d === 'number') return d;
        if (/batch/i.test(d) || (i === 0 && !/seq|len|past/i.test(d))) return B;
        if (/seq|len|past|total/i.test(d) || i === 2) return 0;
        return i === 1 ? spec.numKvHeads : spec.headDim;
      });
      if (dims[2] !== 0) throw new LabError('UNSUPPORTED', `${file}: KV-cache input '${m.name}' has a fixed past length ${dims[2]}; only exports with a dynamic past length can be run`);
      feeds[m.name] = type === 'float32' ? new ort.Tensor('float32', new Float32Array(0), dims) : new ort.Tensor('float16', new Uint16Array(0), dims);
    } else
      throw new LabError(
        'UNSUPPORTED',
        `${file}: the graph needs input '${m.name}' (${type ?? 'not a tensor'} [${shape.join(', ')}]), which Sparsity Lab cannot fill; besides input_ids it fills attention_mask, position_ids, cache_position, past_key_values.* (empty cache) and use_cache_branch`,
      );
  }
  return feeds;
}
