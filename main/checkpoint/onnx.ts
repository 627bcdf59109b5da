/**
 * An .onnx file as a checkpoint: validated as an ONNX ModelProto whose external data stays inside the
 * model's folder, recognised as a decoder (integer token-id input), and its FFN blocks found by pattern
 * (MatMul [d,F] → activation (→ Mul with a second [d,F] MatMul when gated) → MatMul [F,d]). Shape numbers
 * come from the graph; heads, norms and rope come from a config.json beside it (optimum exports write one).
 * Instrumenting the graph is main/graph's job; this module only describes it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataLocation, TensorProto_DataType as DT, type ModelProto, type NodeProto, type TensorProto } from 'onnx-buf';
import { findFfnBlocks, projectionOf, VIEW } from '../graph/instrument-onnx';
import { f16ToF32 } from './safetensors';
import { LabError } from '../api/errors';
import { ConfigReader, type RawConfig } from './config';
import { ADAPTERS, pickAdapter } from './adapters/registry';
import { loadTokenizer } from './tokenizer';
import { hashFiles } from './hash';
import type { ActivationName, Family, LoadedCheckpoint, ModelSpec, StorageDType, WeightTensor } from './types';

const bad = (file: string, problem: string) => new LabError('BAD_CHECKPOINT', `${file}: ${problem}`);

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

interface GraphFacts {
  vocabSize?: number;
  hiddenSize?: number;
  intermediateSize: number;
  layers: number;
  gated: boolean;
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
  for (const t of g.initializer) {
    const dt = t.dataType === DT.FLOAT ? 'float32' : t.dataType === DT.FLOAT16 ? 'float16' : t.dataType === DT.BFLOAT16 ? 'bfloat16' : undefined;
    if (!dt) continue;
    const n = numel(t);
    if (n < 2) continue; // scalars (eps, scale constants) are not parameters
    parameters += n;
    if (vocabSize && t.dims.length === 2 && (Number(t.dims[0]) === vocabSize || Number(t.dims[1]) === vocabSize)) embedding += n;
    bytes.set(dt, (bytes.get(dt) ?? 0) + n);
  }
  const dtype = [...bytes.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'float32';
  return { vocabSize, hiddenSize, intermediateSize: best.F, layers: best.down, gated: best.up >= 2 * best.down, activation, parameters, embedding, dtype };
}

/** An initializer's raw bytes: inline, or from its external-data file (location checked by the loader first). */
function rawBytes(t: TensorProto, file: string): Uint8Array {
  if (t.dataLocation !== TensorProto_DataLocation.EXTERNAL) return Uint8Array.from(t.rawData); // may be a view into a pooled Buffer
  const kv = new Map(t.externalData.map((e) => [e.key, e.value]));
  const f = path.resolve(path.dirname(file), kv.get('location') ?? '');
  const off = Number(kv.get('offset') ?? 0);
  const len = Number(kv.get('length') ?? fs.statSync(f).size - off);
  const out = new Uint8Array(len);
  const fd = fs.openSync(f, 'r');
  try {
    if (fs.readSync(fd, out, 0, len, off) !== len) throw new LabError('BAD_CHECKPOINT', `${file}: external data of '${t.name}' is shorter than it claims`);
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/** An fp32/fp16 initializer's values as fp32 (inline raw_data, float_data / int32_data, or external data). */
export function initializerFloats(t: TensorProto, file: string): Float32Array {
  const ext = t.dataLocation === TensorProto_DataLocation.EXTERNAL;
  if (t.dataType === DT.FLOAT) {
    if (ext || t.rawData.length) return new Float32Array(rawBytes(t, file).buffer);
    return Float32Array.from(t.floatData);
  }
  if (t.dataType === DT.FLOAT16) {
    const src = ext || t.rawData.length ? new Uint16Array(rawBytes(t, file).buffer) : Uint16Array.from(t.int32Data);
    return Float32Array.from(src, (h) => f16ToF32(h));
  }
  throw new LabError('UNSUPPORTED', `${file}: down-projection '${t.name}' has data type ${t.dataType}; fp32 or fp16 expected`);
}

/**
 * W_out of every FFN block, from the graph's initializers, found by the same pattern match the instrumented graph uses
 * (findFfnBlocks): canonical `layers.{l}.mlp.down.weight` [d, F] (PyTorch layout), so CETT-PPL-p% reads an .onnx file
 * as it reads an HF folder. Inline bytes are copied out (the parsed model is not kept); external data is read when
 * decoded.
 */
function downWeights(model: ModelProto, file: string): Map<string, WeightTensor> {
  const out = new Map<string, WeightTensor>();
  const inits = new Map(model.graph!.initializer.map((t) => [t.name, t]));
  findFfnBlocks(model, file).forEach((b, l) => {
    const src = inits.get(b.downWeight)!;
    const [r, c] = src.dims.map(Number);
    const d = r * c / b.F;
    const t = src.dataLocation === TensorProto_DataLocation.EXTERNAL ? src : { ...src, rawData: Uint8Array.from(src.rawData), floatData: [...src.floatData], int32Data: [...src.int32Data] } as TensorProto;
    out.set(`layers.${l}.mlp.down.weight`, {
      name: b.downWeight,
      shape: [d, b.F],
      dtype: src.dataType === DT.FLOAT16 ? 'float16' : 'float32',
      toFloat32: () => {
        const x = initializerFloats(t, file);
        if (b.transposed) return x; // stored [d, F] (Gemm transB, Transpose(W))
        const y = new Float32Array(x.length); // stored [F, d] (MatMul(a, W)): transpose to [d, F]
        for (let i = 0; i < b.F; i++) for (let k = 0; k < d; k++) y[k * b.F + i] = x[i * d + k];
        return y;
      },
    });
  });
  return out;
}

/** `hash: false`: skip the content hash (it reads the file and its external data through once); contentHash is then ''. */
export async function loadOnnx(file: string, opts: { family?: Family; hash?: boolean } = {}): Promise<LoadedCheckpoint> {
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, fs.readFileSync(file));
  } catch (e) {
    throw bad(file, `not a readable ONNX model (${(e as Error).message})`);
  }
  if (!model.graph || model.graph.node.length === 0) throw bad(file, 'ONNX model has no graph');
  const ext = externalDataFiles(model, file);
  checkInitializerSizes(model, file);
  const facts = analyse(model, file);
  const notices: string[] = [];
  const dir = path.dirname(file);
  const cfgFile = path.join(dir, 'config.json');
  let spec: ModelSpec;
  const fromGraph = { intermediateSize: facts.intermediateSize, numLayers: facts.layers, gated: facts.gated, dtype: facts.dtype, parameters: facts.parameters, nonEmbeddingParameters: facts.parameters - facts.embedding };
  if (fs.existsSync(cfgFile)) {
    let raw: RawConfig;
    try {
      raw = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as RawConfig;
    } catch (e) {
      throw bad(cfgFile, `not valid JSON (${(e as Error).message})`);
    }
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
  const tokenizer = await loadTokenizer(dir);
  if (!tokenizer) notices.push('no tokenizer.json or tokenizer.model beside the file: text cannot be tokenized');
  const contentHash = opts.hash === false ? '' : await hashFiles([file, ...ext, ...(fs.existsSync(cfgFile) ? [cfgFile] : [])]);
  return { path: path.resolve(file), format: 'onnx', spec, weights: downWeights(model, file), tokenizer, contentHash, notices };
}
