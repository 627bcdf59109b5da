/**
 * An .onnx decoder as the runner's graph source: instrumented per mask mode by main/graph/instrument-onnx,
 * column norms of W_out (CETT's ‖W_out[:, i]‖₂) read from its down-projection initializers.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { LabError } from '../api/errors';
import type { LoadedCheckpoint } from '../checkpoint/types';
import { OFF_THREAD_BYTES } from '../checkpoint/open';
import { instrumentedOnnx } from '../graph/instrument-onnx';
import { buildOnnxGraphOffThread } from './graph-off-thread';
import { createSession } from './graph-store';
import type { MaskMode } from './runner-types';

export interface OnnxSource {
  dtype: 'float32' | 'float16';
  colNorms: Float32Array[];
  /**
   * A session of the graph instrumented for `kind` (built in the graph worker when the file is large:
   * parsing and instrumenting it takes seconds the engine's thread does not wait on). The model's external-data files
   * are handed to onnxruntime as buffers (`externalData`: the graph is built in memory, so its external references are
   * not resolved from a folder), read without blocking. `signal`: the job's cancel (CANCELLED, nothing kept).
   */
  session(kind: MaskMode['kind'], capture: boolean, so: ort.InferenceSession.SessionOptions, signal?: AbortSignal): Promise<ort.InferenceSession>;
}

/**
 * The runner's view of an opened .onnx checkpoint. Nothing is parsed here: the open (main/checkpoint/open.ts, in a
 * worker for large files) found the down projections, whose column norms are read from their bytes, a layer at a time.
 */
export async function openOnnxSource(ckpt: LoadedCheckpoint): Promise<OnnxSource> {
  const file = ckpt.path;
  const downs = Array.from({ length: ckpt.spec.numLayers }, (_, l) => {
    const w = ckpt.weights.get(`layers.${l}.mlp.down.weight`);
    if (!w) throw new LabError('BAD_CHECKPOINT', `${file}: no down projection found for layer ${l}`);
    return w;
  });
  // W_out as [d, F] (PyTorch layout): neuron i's output direction is column i; one layer at a time with a turn of the
  // event loop between layers (each reads its W_out's bytes from the file)
  const colNorms: Float32Array[] = [];
  for (const w of downs) {
    const [d, F] = w.shape;
    const x = w.toFloat32();
    const acc = new Float64Array(F);
    for (let r = 0; r < d; r++) for (let i = 0; i < F; i++) acc[i] += x[r * F + i] ** 2;
    colNorms.push(Float32Array.from(acc, Math.sqrt));
    await new Promise((r) => setImmediate(r));
  }
  const offThread = fs.statSync(file).size >= OFF_THREAD_BYTES;
  const build = (kind: MaskMode['kind'], capture: boolean, signal?: AbortSignal) =>
    offThread ? buildOnnxGraphOffThread(file, { mode: kind, capture }, signal) : Promise.resolve(instrumentedOnnx(file, { mode: kind, capture }));
  const readExternal = (locations: string[]) => Promise.all(locations.map(async (loc) => ({ path: loc, data: new Uint8Array(await fs.promises.readFile(path.resolve(path.dirname(file), loc))) })));
  return {
    dtype: downs[0].dtype === 'float16' ? 'float16' : 'float32',
    colNorms,
    async session(kind, capture, so, signal) {
      const g = await build(kind, capture, signal);
      if (signal?.aborted) throw new LabError('CANCELLED', 'the measurement was cancelled');
      return createSession(g.bytes, { ...so, externalData: await readExternal(g.locations) }, signal);
    },
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
