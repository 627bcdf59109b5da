/**
 * An .onnx file as a checkpoint: validated as an ONNX ModelProto whose external data stays inside the
 * model's folder, recognised as a decoder (integer token-id input), and its FFN blocks found by pattern
 * (MatMul [d,F] → activation (→ Mul with a second [d,F] MatMul when gated) → MatMul [F,d]). Shape numbers
 * come from the graph; heads, norms and rope come from a config.json beside it (optimum exports write one).
 * The FFN pattern match is onnx-ffn.ts (main/graph/instrument-onnx.ts masks the same blocks); instrumenting the graph
 * is main/graph's job, this module only describes it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataLocation, TensorProto_DataType as DT, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from 'onnx-buf';
import { findFfnBlocks, projectionOf, VIEW, type FfnBlock } from './onnx-ffn';
import { f16ToF32 } from './safetensors';
import { LabError } from '../api/errors';
import { ConfigReader, type RawConfig } from './config';
import { ADAPTERS, pickAdapter } from './adapters/registry';
import { deferredTokenizer, loadTokenizer, type TokenizerFacts } from './tokenizer';
import { hashFiles } from './hash';
import { checkInterrupted, withoutFiles } from './interrupt';
import type { ActivationName, Family, LoadedCheckpoint, ModelSpec, StorageDType, WeightTensor } from './types';
import { JSON_LIMITS, readCheckpointJson } from './json-file';

const bad = (file: string, problem: string) => new LabError('BAD_CHECKPOINT', `${file}: ${problem}`);

/** An .onnx file larger than this is refused (protobuf's own 2 GiB limit: larger models keep their weights as external data). */
const MAX_ONNX_BYTES = 2 ** 31;
const READ_CHUNK = 64 * 2 ** 20;

/**
 * The file's bytes, read in chunks with a cancel check between them (interrupt.ts: in the checkpoint reader's worker
 * an abandoned open stops within one chunk, its file closed).
 */
export function readOnnxBytes(file: string): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw bad(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size > MAX_ONNX_BYTES) throw bad(file, `${size} bytes: an ONNX protobuf holds at most 2 GiB (larger models keep their weights as external data)`);
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      checkInterrupted();
      const k = fs.readSync(fd, buf, got, Math.min(READ_CHUNK, size - got), got);
      if (k <= 0) throw bad(file, `ended after ${got} of ${size} bytes while being read`);
      got += k;
    }
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

/** Parses the file as an ONNX ModelProto (the buffer is kept: inline raw_data are views into it). */
export function parseOnnx(file: string, bytes: Uint8Array = readOnnxBytes(file)): ModelProto {
  let model: ModelProto;
  try {
    model = withoutFiles(() => fromBinary(ModelProtoSchema, bytes)); // seconds for a 2 GiB file: a cancel ends the worker at once
  } catch (e) {
    throw bad(file, `not a readable ONNX model (${(e as Error).message})`);
  }
  checkInterrupted();
  return model;
}

function numel(t: TensorProto): number {
  return t.dims.reduce((a, b) => a * Number(b), 1);
}

/** Bytes per element of the ONNX data types whose size is fixed (strings and 4-bit types are left out). */
const ELEM_BYTES: Partial<Record<number, number>> = {
  [DT.FLOAT]: 4, [DT.UINT8]: 1, [DT.INT8]: 1, [DT.UINT16]: 2, [DT.INT16]: 2, [DT.INT32]: 4, [DT.INT64]: 8, [DT.BOOL]: 1,
  [DT.FLOAT16]: 2, [DT.DOUBLE]: 8, [DT.UINT32]: 4, [DT.UINT64]: 8, [DT.COMPLEX64]: 8, [DT.COMPLEX128]: 16, [DT.BFLOAT16]: 2,
  [DT.FLOAT8E4M3FN]: 1, [DT.FLOAT8E4M3FNUZ]: 1, [DT.FLOAT8E5M2]: 1, [DT.FLOAT8E5M2FNUZ]: 1,
};

/**
 * Every initializer's declared shape must match the data it holds (issue 19: [16, 2^40] over 2 KB made the card
 * say 3.5e13 parameters): dims are whole numbers ≥ 0 with a safe product, and the element count equals the
 * elements in raw_data, in the typed field, or in the external data's length. Run before anything counts.
 */
export function checkInitializerSizes(model: ModelProto, file: string): void {
  for (const t of model.graph?.initializer ?? []) {
    const dims = t.dims.map(Number);
    if (dims.some((v) => !Number.isSafeInteger(v) || v < 0)) throw bad(file, `initializer '${t.name}' declares shape [${dims.join(', ')}]: dims must be whole numbers ≥ 0`);
    const n = dims.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(n)) throw bad(file, `initializer '${t.name}' declares shape [${dims.join(', ')}]: too many elements`);
    const size = ELEM_BYTES[t.dataType];
    if (size === undefined) continue;
    const complex = t.dataType === DT.COMPLEX64 || t.dataType === DT.COMPLEX128 ? 2 : 1;
    let held: number;
    let where: string;
    if (t.dataLocation === TensorProto_DataLocation.EXTERNAL) {
      const kv = new Map(t.externalData.map((e) => [e.key, e.value]));
      const len = kv.get('length');
      if (len === undefined) continue; // to the end of the file: externalDataFiles checked the range; its size is checked when read
      held = Number(len) / size;
      where = `${len} bytes of external data`;
    } else if (t.rawData.length) {
      held = t.rawData.length / size;
      where = `${t.rawData.length} bytes of raw_data`;
    } else {
      const typed = [t.floatData, t.int32Data, t.int64Data, t.doubleData, t.uint64Data].find((a) => a.length > 0);
      held = typed ? typed.length / complex : 0;
      where = `${typed?.length ?? 0} typed value(s)`;
    }
    if (held !== n) throw bad(file, `initializer '${t.name}' declares shape [${dims.join(', ')}] (${n} elements) but holds ${where} (${Number.isInteger(held) ? held : held.toFixed(2)} elements)`);
  }
}

/** External-data files of the model, each checked to stay inside the model's folder and to hold its bytes. */
export function externalDataFiles(model: ModelProto, file: string): string[] {
  const dir = fs.realpathSync(path.dirname(file));
  const out = new Set<string>();
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataLocation !== 1) continue; // EXTERNAL
    const kv = new Map(t.externalData.map((e) => [e.key, e.value]));
    const loc = kv.get('location');
    if (!loc) throw bad(file, `initializer '${t.name}' is external but names no location`);
    const target = path.resolve(dir, loc);
    if (path.isAbsolute(loc) || !(target + path.sep).startsWith(dir + path.sep) || target === dir)
      throw bad(file, `initializer '${t.name}' points at external data '${loc}', outside the model's folder: refused`);
    if (!fs.existsSync(target)) throw bad(file, `external data file '${loc}' of initializer '${t.name}' is missing`);
    const real = fs.realpathSync(target);
    if (!(real + path.sep).startsWith(dir + path.sep)) throw bad(file, `external data '${loc}' links outside the model's folder: refused`);
    const size = fs.statSync(real).size;
    const off = Number(kv.get('offset') ?? 0);
    const len = Number(kv.get('length') ?? size - off);
    if (!(off >= 0 && len >= 0 && off + len <= size)) throw bad(file, `initializer '${t.name}' claims bytes ${off}..${off + len} of '${loc}', which holds ${size}`);
    out.add(real);
  }
  return [...out].sort();
}

/** What the graph says beyond its FFN blocks (those come from findFfnBlocks, onnx-ffn.ts). */
interface GraphFacts {
  vocabSize?: number;
  hiddenSize?: number;
  activation?: ActivationName;
  parameters: number;
  embedding: number;
  dtype: StorageDType;
}

const ACT_OPS: Record<string, ActivationName> = { Relu: 'relu', Gelu: 'gelu', FastGelu: 'gelu_tanh', BiasGelu: 'gelu', Erf: 'gelu', Tanh: 'gelu_tanh', Sigmoid: 'silu', Silu: 'silu' };

function analyse(model: ModelProto, file: string): GraphFacts {
  const g = model.graph!;
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  const initNames = new Set(inits.keys());
  const graphInputs = g.input.filter((i) => !initNames.has(i.name));
  const intInput = graphInputs.find((i) => {
    const tt = i.type?.value.case === 'tensorType' ? i.type.value.value : undefined;
    return tt && [DT.INT64, DT.INT32].includes(tt.elemType);
  });
  if (!intInput)
    throw new LabError('UNSUPPORTED', `${file}: not a decoder language model: no integer token-id input (inputs: ${graphInputs.map((i) => i.name).join(', ') || 'none'})`);
  // weight shapes as [in, out] for MatMul/Gemm with an initializer operand (MatMul x·W; Gemm transB flips)
  const producer = new Map<string, NodeProto>();
  for (const n of g.node) for (const o of n.output) producer.set(o, n);
  const mats: { node: number; inDim: number; outDim: number; output: string }[] = [];
  g.node.forEach((n, i) => {
    const w = projectionOf(n, inits, producer);
    if (w) mats.push({ node: i, inDim: w.inDim, outDim: w.outDim, output: n.output[0] });
  });
  const gather = g.node.find((n) => n.opType === 'Gather' && inits.get(n.input[0])?.dims.length === 2);
  const emb = gather ? inits.get(gather.input[0]) : undefined;
  const vocabSize = emb ? Number(emb.dims[0]) : undefined;
  const hiddenSize = emb ? Number(emb.dims[1]) : undefined;
  // FFN: the F for which [d,F] and [F,d] matrices both exist (d = hidden size), F ≠ d
  const byPair = new Map<string, number>();
  for (const m of mats) byPair.set(`${m.inDim}x${m.outDim}`, (byPair.get(`${m.inDim}x${m.outDim}`) ?? 0) + 1);
  let best: { F: number; down: number; up: number } | undefined;
  const dims = hiddenSize ? [hiddenSize] : [...new Set(mats.map((m) => m.inDim))];
  for (const d of dims)
    for (const m of mats) {
      if (m.outDim !== d || m.inDim === d) continue;
      const F = m.inDim;
      const down = byPair.get(`${F}x${d}`) ?? 0;
      const up = byPair.get(`${d}x${F}`) ?? 0;
      if (up >= down && down > 0 && (!best || down > best.down)) best = { F, down, up };
    }
  if (!best) {
    const seen = [...new Set(g.node.map((n) => n.opType))].sort().join(', ');
    throw new LabError(
      'UNSUPPORTED',
      `${file}: no feed-forward block found. Expected MatMul/Gemm [d,F] → activation (→ Mul with a gate projection) → MatMul/Gemm [F,d] with weight initializers; node types seen: ${seen}` +
        (g.node.some((n) => n.opType === 'If')
          ? ". This looks like a merged decoder (optimum's decoder_model_merged.onnx: the layers sit inside an If); open the export's decoder_model.onnx or model.onnx instead"
          : ''),
    );
  }
  // activation: the op types that consume the up/gate projections (through an optional bias Add)
  const consumers = (name: string) => g.node.filter((n) => n.input.includes(name));
  const actCounts = new Map<ActivationName, number>();
  for (const m of mats.filter((x) => x.outDim === best!.F)) {
    let next = consumers(m.output);
    // through a bias Add and the exporters' re-views (GPT-2's Conv1D: view → addmm → view)
    for (let hop = 0; hop < 3 && next.length === 1 && (next[0].opType === 'Add' || VIEW.has(next[0].opType)); hop++) next = consumers(next[0].output[0]);
    for (const n of next) {
      const a = ACT_OPS[n.opType];
      if (a) actCounts.set(a, (actCounts.get(a) ?? 0) + 1);
      else if (n.opType === 'Div' && consumers(n.output[0]).some((c) => c.opType === 'Erf')) actCounts.set('gelu', (actCounts.get('gelu') ?? 0) + 1);
    }
  }
  const activation = [...actCounts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  let parameters = 0;
  let embedding = 0;
  const bytes = new Map<StorageDType, number>();
  const used = namesReached(g);
  for (const t of g.initializer) {
    if (!used.has(t.name)) continue; // the model never reads it: not a parameter of it (an exporter's leftover, padding)
    const dt = t.dataType === DT.FLOAT ? 'float32' : t.dataType === DT.FLOAT16 ? 'float16' : t.dataType === DT.BFLOAT16 ? 'bfloat16' : undefined;
    if (!dt) continue;
    const n = numel(t);
    if (n < 2) continue; // scalars (eps, scale constants) are not parameters
    parameters += n;
    if (vocabSize && t.dims.length === 2 && (Number(t.dims[0]) === vocabSize || Number(t.dims[1]) === vocabSize)) embedding += n;
    bytes.set(dt, (bytes.get(dt) ?? 0) + n);
  }
  const dtype = [...bytes.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'float32';
  return { vocabSize, hiddenSize, activation, parameters, embedding, dtype };
}

/**
 * The value names the graph's outputs depend on: walked back from the outputs through the nodes that produce them, a
 * node's subgraphs (If/Loop bodies, which read outer values by name) counted whole. An initializer outside this set is
 * read by no node the outputs need.
 */
function namesReached(g: GraphProto): Set<string> {
  const producer = new Map<string, NodeProto>();
  for (const n of g.node) for (const o of n.output) if (o) producer.set(o, n);
  const reached = new Set<string>();
  const done = new Set<NodeProto>();
  const todo = g.output.map((o) => o.name);
  const readInside = (sub: GraphProto) => {
    for (const n of sub.node) {
      todo.push(...n.input);
      for (const a of n.attribute) for (const s of [...(a.g ? [a.g] : []), ...a.graphs]) readInside(s);
    }
    todo.push(...sub.output.map((o) => o.name));
  };
  while (todo.length) {
    const name = todo.pop()!;
    if (!name || reached.has(name)) continue;
    reached.add(name);
    const n = producer.get(name);
    if (!n || done.has(n)) continue;
    done.add(n);
    todo.push(...n.input);
    for (const a of n.attribute) for (const s of [...(a.g ? [a.g] : []), ...a.graphs]) readInside(s);
  }
  return reached;
}

/** `len` bytes of `f` from `off`, in a new (aligned) buffer; `what` names them in the error. */
function readRange(f: string, off: number, len: number, file: string, what: string): Uint8Array {
  const out = new Uint8Array(len);
  const fd = fs.openSync(f, 'r');
  try {
    let got = 0;
    while (got < len) {
      const k = fs.readSync(fd, out, got, len - got, off + got);
      if (k <= 0) throw new LabError('BAD_CHECKPOINT', `${file}: ${what} is shorter than it claims`);
      got += k;
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/** Where an initializer's bytes are in a file: its external data, or its inline raw_data inside the .onnx file itself. */
export interface ByteRange {
  file: string;
  offset: number;
  length: number;
}

/** An external initializer's byte range (location checked by the loader first). */
function externalRange(t: TensorProto, file: string): ByteRange {
  const kv = new Map(t.externalData.map((e) => [e.key, e.value]));
  const f = path.resolve(path.dirname(file), kv.get('location') ?? '');
  const off = Number(kv.get('offset') ?? 0);
  return { file: f, offset: off, length: Number(kv.get('length') ?? fs.statSync(f).size - off) };
}

/** An initializer's raw bytes: inline, or from its external-data file (location checked by the loader first). */
function rawBytes(t: TensorProto, file: string): Uint8Array {
  if (t.dataLocation !== TensorProto_DataLocation.EXTERNAL) return Uint8Array.from(t.rawData); // may be a view into a pooled Buffer
  const r = externalRange(t, file);
  return readRange(r.file, r.offset, r.length, file, `external data of '${t.name}'`);
}

/** fp32 or fp16 bytes as fp32 values. */
function floatsOf(bytes: Uint8Array, dataType: number, name: string, file: string): Float32Array {
  if (dataType === DT.FLOAT) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  if (dataType === DT.FLOAT16) return Float32Array.from(new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2), (h) => f16ToF32(h));
  throw new LabError('UNSUPPORTED', `${file}: down-projection '${name}' has data type ${dataType}; fp32 or fp16 expected`);
}

/** An fp32/fp16 initializer's values as fp32 (inline raw_data, float_data / int32_data, or external data). */
export function initializerFloats(t: TensorProto, file: string): Float32Array {
  const ext = t.dataLocation === TensorProto_DataLocation.EXTERNAL;
  if (t.dataType === DT.FLOAT && !ext && !t.rawData.length) return Float32Array.from(t.floatData);
  if (t.dataType === DT.FLOAT16 && !ext && !t.rawData.length) return Float32Array.from(t.int32Data, (h) => f16ToF32(h));
  return floatsOf(rawBytes(t, file), t.dataType, t.name, file);
}

/**
 * W_out of one FFN block as the open hands it on (plain data: it crosses from the checkpoint reader's worker): where its
 * bytes are (a byte range of the .onnx file for inline raw_data, of its external data otherwise), or its values when
 * the file keeps them in typed fields (small models), and how it is laid out.
 */
export interface OnnxDownRef {
  name: string;
  d: number;
  F: number;
  dataType: number;
  /** stored [d, F] (Gemm transB, Transpose(W)); else [F, d] (MatMul(a, W)) */
  transposed: boolean;
  range?: ByteRange;
  values?: Float32Array;
}

function downRefs(model: ModelProto, file: string, fileBytes: Uint8Array, blocks: FfnBlock[]): OnnxDownRef[] {
  const inits = new Map(model.graph!.initializer.map((t) => [t.name, t]));
  return blocks.map((b) => {
    const src = inits.get(b.downWeight)!;
    const [r, c] = src.dims.map(Number);
    const ref: OnnxDownRef = { name: b.downWeight, d: (r * c) / b.F, F: b.F, dataType: src.dataType, transposed: b.transposed };
    if (src.dataType !== DT.FLOAT && src.dataType !== DT.FLOAT16) ref.values = new Float32Array(0); // refused when decoded (floatsOf)
    else if (src.dataLocation === TensorProto_DataLocation.EXTERNAL) ref.range = externalRange(src, file);
    else if (src.rawData.length && src.rawData.buffer === fileBytes.buffer)
      ref.range = { file: path.resolve(file), offset: src.rawData.byteOffset - fileBytes.byteOffset, length: src.rawData.byteLength };
    else ref.values = initializerFloats(src, file); // typed fields (or a copy the parser made): the values themselves
    return ref;
  });
}

/**
 * W_out of every FFN block, found by the same pattern match the instrumented graph uses (findFfnBlocks): canonical
 * `layers.{l}.mlp.down.weight` [d, F] (PyTorch layout), so CETT-PPL-p% reads an .onnx file as it reads an HF folder.
 * Bytes are read from the file when decoded (the parsed model is not kept).
 */
function downWeights(refs: OnnxDownRef[], file: string): Map<string, WeightTensor> {
  const out = new Map<string, WeightTensor>();
  refs.forEach((b, l) => {
    out.set(`layers.${l}.mlp.down.weight`, {
      name: b.name,
      shape: [b.d, b.F],
      dtype: b.dataType === DT.FLOAT16 ? 'float16' : 'float32',
      toFloat32: () => {
        const x = b.values?.length ? b.values.slice() : floatsOf(b.values ? new Uint8Array(0) : readRange(b.range!.file, b.range!.offset, b.range!.length, file, `'${b.name}'`), b.dataType, b.name, file);
        if (b.transposed) return x; // stored [d, F]
        const y = new Float32Array(x.length); // stored [F, d]: transpose to [d, F]
        for (let i = 0; i < b.F; i++) for (let k = 0; k < b.d; k++) y[k * b.F + i] = x[i * b.d + k];
        return y;
      },
    });
  });
  return out;
}

/**
 * What opening an .onnx file finds by parsing it (plain data: the checkpoint reader's worker parses a large file, up to
 * 2 GiB of inline initializers, and hands this to the engine's thread, open.ts): the card's spec, the notices, where
 * each W_out is, and the files the content hash covers.
 */
export interface OnnxFacts {
  spec: ModelSpec;
  notices: string[];
  down: OnnxDownRef[];
  /** the .onnx file, its external-data files and config.json (if any): what the content hash reads */
  hashed: string[];
  /** external-data locations as the graph names them (relative to the file's folder) */
  externalLocations: string[];
}

/** `hash: false`: skip the content hash (it reads the file and its external data through once); contentHash is then ''. */
export async function loadOnnx(file: string, opts: { family?: Family; hash?: boolean } = {}): Promise<LoadedCheckpoint> {
  const facts = inspectOnnx(file, opts);
  return onnxCheckpoint(file, facts, opts.hash === false ? '' : await hashFiles(facts.hashed));
}

/**
 * The LoadedCheckpoint of an inspected .onnx file: no byte of the model is parsed again. Its tokenizer is loaded here,
 * or, when the worker that inspected the file found it (`tokenizerFound`), only when text is encoded on this thread.
 */
export async function onnxCheckpoint(file: string, facts: OnnxFacts, contentHash: string, tokenizerFound?: TokenizerFacts | null): Promise<LoadedCheckpoint> {
  const notices = [...facts.notices];
  const dir = path.dirname(file);
  const tokenizer = tokenizerFound !== undefined ? (tokenizerFound ? await deferredTokenizer(dir, tokenizerFound) : undefined) : await loadTokenizer(dir);
  if (!tokenizer) notices.push('no tokenizer.json or tokenizer.model beside the file: text cannot be tokenized');
  return { path: path.resolve(file), format: 'onnx', spec: facts.spec, weights: downWeights(facts.down, file), tokenizer, contentHash, notices };
}

/** Parses and checks an .onnx file (synchronous: the worker runs it for large files; cancellable while reading). */
export function inspectOnnx(file: string, opts: { family?: Family } = {}): OnnxFacts {
  const bytes = readOnnxBytes(file);
  const model = parseOnnx(file, bytes);
  if (!model.graph || model.graph.node.length === 0) throw bad(file, 'ONNX model has no graph');
  const ext = externalDataFiles(model, file);
  checkInitializerSizes(model, file);
  // the FFN blocks themselves (onnx-ffn.ts: the match W_out and the instrumented graph come from) give the card its
  // shape: a projection of the same [F, d] that no activation feeds is not a layer
  const found = analyse(model, file);
  const blocks = findFfnBlocks(model, file);
  // gated as the blocks the instrumented graph masks are (one answer: a block's s and a come from the same match)
  const gatedAt = blocks.flatMap((b, l) => (b.gated ? [l] : []));
  if (gatedAt.length && gatedAt.length < blocks.length)
    throw new LabError('UNSUPPORTED', `${file}: FFN blocks differ in kind: layers ${gatedAt.join(', ')} are gated (act(x·W_gate) ⊙ x·W_up), the other ${blocks.length - gatedAt.length} of ${blocks.length} are not`);
  const facts = { ...found, intermediateSize: blocks[0].F, layers: blocks.length, gated: gatedAt.length === blocks.length };
  const notices: string[] = [];
  const dir = path.dirname(file);
  const cfgFile = path.join(dir, 'config.json');
  let spec: ModelSpec;
  const fromGraph = { intermediateSize: facts.intermediateSize, numLayers: facts.layers, gated: facts.gated, dtype: facts.dtype, parameters: facts.parameters, nonEmbeddingParameters: facts.parameters - facts.embedding };
  if (fs.existsSync(cfgFile)) {
    const raw = readCheckpointJson(cfgFile, JSON_LIMITS.config, 'not valid JSON') as RawConfig;
    const cfg = new ConfigReader(raw, cfgFile);
    const mt = cfg.str('model_type', 'unknown');
    const { adapter, notice } = pickAdapter(mt, cfgFile, [], cfg.has('hidden_size') && cfg.has('intermediate_size'), opts.family);
    if (notice) notices.push(notice);
    const d = adapter.spec(cfg, mt);
    for (const [k, g] of [['intermediateSize', facts.intermediateSize], ['numLayers', facts.layers], ['hiddenSize', facts.hiddenSize], ['vocabSize', facts.vocabSize]] as const)
      if (g !== undefined && d[k] !== g) notices.push(`${k} is ${g} in the graph but ${d[k]} in config.json; the graph's value is used`);
    spec = { ...d, ...fromGraph, hiddenSize: facts.hiddenSize ?? d.hiddenSize, vocabSize: facts.vocabSize ?? d.vocabSize, activation: d.activation, widthDepthRatio: (facts.hiddenSize ?? d.hiddenSize) / facts.layers };
    if (facts.activation && facts.activation !== d.activation && !(d.activation === 'fatrelu' || d.activation === 'relu2'))
      notices.push(`the graph's activation looks like ${facts.activation}, config.json says ${d.activation}`);
  } else {
    const family: Family = opts.family ?? (facts.gated ? 'llama' : 'gpt2');
    if (!ADAPTERS.some((a) => a.family === family)) throw new LabError('UNSUPPORTED', `--family ${family}: unknown family`);
    if (!facts.hiddenSize || !facts.vocabSize) throw new LabError('UNSUPPORTED', `${file}: no token-embedding Gather found and no config.json beside the file`);
    notices.push(`no config.json beside ${path.basename(file)}: family '${family}' guessed from the graph; heads and positions are unknown`);
    spec = {
      family,
      modelType: 'onnx',
      activation: facts.activation ?? 'relu',
      hiddenSize: facts.hiddenSize,
      numHeads: 0,
      numKvHeads: 0,
      headDim: 0,
      vocabSize: facts.vocabSize,
      maxPositions: 0,
      norm: facts.gated ? 'rms' : 'layer',
      normEps: 1e-5,
      positional: facts.gated ? 'rope' : 'learned',
      ropeTheta: 10000,
      rotaryDim: 0,
      parallelResidual: false,
      qkNorm: false,
      qkvBias: false,
      attnOutBias: false,
      mlpBias: false,
      tieEmbeddings: false,
      embedScale: 1,
      residualScale: 1,
      logitScale: 1,
      positionOffset: 0,
      ...fromGraph,
      widthDepthRatio: facts.hiddenSize / facts.layers,
    };
    if (!facts.activation) notices.push('the activation could not be recognised in the graph');
  }
  return { spec, notices, down: downRefs(model, file, bytes, blocks), hashed: [file, ...ext, ...(fs.existsSync(cfgFile) ? [cfgFile] : [])], externalLocations: externalLocations(model) };
}

/** The external-data locations the model's initializers name, as written (relative to its folder; checked by externalDataFiles). */
export function externalLocations(model: ModelProto): string[] {
  const out = new Set<string>();
  for (const t of model.graph?.initializer ?? [])
    if (t.dataLocation === TensorProto_DataLocation.EXTERNAL) out.add(t.externalData.find((e) => e.key === 'location')?.value ?? '');
  return [...out];
}
