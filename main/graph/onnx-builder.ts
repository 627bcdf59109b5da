/**
 * A small typed builder for ONNX graphs on top of onnx-buf (the generated protobuf schema of ONNX 1.20).
 * Plain ai.onnx ops at opset 17, IR version 8: what every onnxruntime execution provider we use
 * (CPU, CUDA, WebGPU) supports.
 */
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  ValueInfoProtoSchema,
  type ModelProto,
  type NodeProto,
  type GraphProto,
  type TensorProto,
  type ValueInfoProto,
  type AttributeProto,
} from 'onnx-buf';
import type { StoredBytes } from '../checkpoint/types';

export const DT = TensorProto_DataType;
export type ElemType = TensorProto_DataType;

export const OPSET = 17;
export const IR_VERSION = 8n;

/** A dimension: a fixed size or a symbolic name (dynamic). */
export type Dim = number | string;

export type AttrValue = number | bigint | string | number[] | bigint[] | { float: number } | { floats: number[] } | { graph: GraphProto } | TensorProto;

function valueInfo(name: string, elem: ElemType, shape?: Dim[]): ValueInfoProto {
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, {
      value: {
        case: 'tensorType',
        value: create(TypeProto_TensorSchema, {
          elemType: elem,
          shape: shape
            ? create(TensorShapeProtoSchema, {
                dim: shape.map((d) =>
                  create(TensorShapeProto_DimensionSchema, {
                    value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d },
                  }),
                ),
              })
            : undefined,
        }),
      },
    }),
  });
}

function attribute(name: string, v: AttrValue): AttributeProto {
  const A = AttributeProto_AttributeType;
  if (typeof v === 'bigint') return create(AttributeProtoSchema, { name, type: A.INT, i: v });
  if (typeof v === 'number') {
    // Integral JS numbers are INT attributes; use { float } to force FLOAT (ORT rejects alpha=1 typed INT).
    if (Number.isInteger(v)) return create(AttributeProtoSchema, { name, type: A.INT, i: BigInt(v) });
    return create(AttributeProtoSchema, { name, type: A.FLOAT, f: v });
  }
  if (typeof v === 'string') return create(AttributeProtoSchema, { name, type: A.STRING, s: new TextEncoder().encode(v) as Uint8Array<ArrayBuffer> });
  if (Array.isArray(v)) {
    return create(AttributeProtoSchema, { name, type: A.INTS, ints: (v as Array<number | bigint>).map((x) => BigInt(x)) });
  }
  if ('float' in v) return create(AttributeProtoSchema, { name, type: A.FLOAT, f: v.float });
  if ('floats' in v) return create(AttributeProtoSchema, { name, type: A.FLOATS, floats: v.floats });
  if ('graph' in v) return create(AttributeProtoSchema, { name, type: A.GRAPH, g: v.graph });
  return create(AttributeProtoSchema, { name, type: A.TENSOR, t: v as TensorProto });
}

export function tensorProto(name: string, elem: ElemType, dims: number[], raw: Uint8Array): TensorProto {
  return create(TensorProtoSchema, { name, dataType: elem, dims: dims.map((d) => BigInt(d)), rawData: raw as Uint8Array<ArrayBuffer> });
}

/** A byte range of a file. */
export interface FileRange {
  file: string;
  offset: number;
  length: number;
}

function externalTensor(name: string, elem: ElemType, dims: number[], location: string, offset: number, length: number): TensorProto {
  const kv = (key: string, value: string) => create(StringStringEntryProtoSchema, { key, value });
  return create(TensorProtoSchema, {
    name,
    dataType: elem,
    dims: dims.map((d) => BigInt(d)),
    dataLocation: TensorProto_DataLocation.EXTERNAL,
    externalData: [kv('location', location), kv('offset', String(offset)), kv('length', String(length))],
  });
}

/** `file` relative to `dir` with '/' separators when it lies inside dir, else undefined. */
export function relativeInside(dir: string, file: string): string | undefined {
  const rel = path.relative(dir, file);
  if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  return rel.split(path.sep).join('/');
}

/**
 * The deepest folder holding every one of the existing folders `dirs` (by real path: symlinks resolved, as
 * onnxruntime resolves them), or undefined when there is none (different drives on Windows).
 */
export function commonFolder(dirs: string[]): string | undefined {
  if (!dirs.length) return undefined;
  const real = dirs.map((d) => fs.realpathSync(d));
  let base = real[0];
  for (const d of real.slice(1)) {
    while (relativeInside(base, path.join(d, 'x')) === undefined) {
      const up = path.dirname(base);
      if (up === base) return undefined;
      base = up;
    }
  }
  return base;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export class GraphBuilder {
  private nodes: NodeProto[] = [];
  private inputs: ValueInfoProto[] = [];
  private outputs: ValueInfoProto[] = [];
  private initializers: TensorProto[] = [];
  private counter = 0;
  private ext?: { fd: number; location: string; offset: number; minBytes: number };
  /** the folder external-data locations are relative to, when initRef may point into existing files */
  private refBase?: string;
  /** bytes pointed at in place (initRef) and written as external data (init) by this builder */
  readonly written = { refBytes: 0, dataBytes: 0 };
  constructor(readonly name = 'graph') {}

  /**
   * Lets initRef point initializers at bytes of existing files (the checkpoint's own). ONNX external-data locations
   * are relative paths, and onnxruntime (1.29) refuses any whose real path (symlinks resolved) leaves the folder it
   * resolves them from; the session must be opened with `base` as that folder (openSessionFromBuffer's folder).
   */
  refsFrom(base: string): void {
    this.refBase = base;
  }

  private preparedCopies?: Map<string, StoredBytes>;
  /** A converted copy of checkpoint tensor `name` prepared on disk for this build (ExternalTarget.converted), if any. */
  prepared(name: string): StoredBytes | undefined {
    return this.preparedCopies?.get(name);
  }

  /** Whether initRef works (refsFrom was called). */
  get canRef(): boolean {
    return this.refBase !== undefined;
  }

  /**
   * An initializer whose data are `length` bytes at `offset` of `file` (already in the tensor's ONNX layout and dtype,
   * little-endian): nothing is copied. Needs refsFrom; `file`'s real path must lie inside that folder.
   */
  initRef(name: string, elem: ElemType, dims: number[], r: FileRange): string {
    if (this.refBase === undefined) throw new Error('initRef: no reference folder (refsFrom) set');
    const location = relativeInside(this.refBase, fs.realpathSync(r.file));
    if (location === undefined) throw new Error(`initRef: ${r.file} is not inside ${this.refBase}`);
    this.initializers.push(externalTensor(name, elem, dims, location, r.offset, r.length));
    this.written.refBytes += r.length;
    return name;
  }

  /**
   * Store initializers of ≥ minBytes in an external data file (ONNX external data: the only way past protobuf's
   * 2 GB limit, and it keeps the weights out of JS memory). `location` is the file name relative to the .onnx
   * file; offsets are page-aligned so onnxruntime can map the file instead of copying it.
   */
  externalData(file: string, location: string, minBytes = 1024): void {
    this.ext = { fd: fs.openSync(file, 'w'), location, offset: 0, minBytes };
  }

  /** Close the external data file (after build). */
  closeExternal(): void {
    if (this.ext) fs.closeSync(this.ext.fd);
    this.ext = undefined;
  }

  /**
   * Runs `build` with large initializers written to `external` when given (see externalData), closing the file after.
   * Then a full garbage collection: a build to a file is a big model's, whose weights were decoded and converted
   * tensor by tensor (0.1B: ~130 M values, hundreds of MB of transient arrays). They are garbage once written, but V8
   * collects them only under allocation pressure, so they were often still resident when onnxruntime then mapped and
   * pre-packed the file: 0–200 MB more peak RSS from run to run (bench compile, 0.1B: fp32 checkpoint 1.23–1.56×
   * its weights, fp16 1.82–2.01×; with the collection 1.23–1.24× and 1.67–1.68×, for a few ms).
   */
  withExternal(external: { file?: string; location?: string; base?: string; converted?: Map<string, StoredBytes> } | undefined, build: () => Uint8Array): Uint8Array {
    if (external?.base !== undefined) {
      this.refsFrom(external.base);
      this.preparedCopies = external.converted;
    }
    if (!external?.file) return build();
    this.externalData(external.file, external.location ?? path.basename(external.file));
    try {
      return build();
    } finally {
      this.closeExternal();
      collectGarbage();
    }
  }

  private namePrefix = '';
  private opsetVersion = OPSET;
  private adoptedModel?: ModelProto;

  /** A fresh unique value name with a readable prefix. */
  fresh(prefix: string): string {
    return `${this.namePrefix}${prefix}__${this.counter++}`;
  }

  /**
   * Continue an existing model's graph (ONNX-file instrumentation): its nodes, inputs, outputs and initializers
   * are kept; new names get `namePrefix` so they cannot collide with the model's own.
   */
  static adopt(model: ModelProto, namePrefix = 'slab_'): GraphBuilder {
    const g = new GraphBuilder(model.graph?.name ?? 'graph');
    const gr = model.graph!;
    g.nodes = [...gr.node];
    g.inputs = [...gr.input];
    g.outputs = [...gr.output];
    g.initializers = [...gr.initializer];
    g.namePrefix = namePrefix;
    g.adoptedModel = model;
    g.opsetVersion = Number(model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? OPSET);
    return g;
  }

  /** The adopted graph's nodes / outputs, to rewire inputs or drop outputs. */
  get graphNodes(): NodeProto[] {
    return this.nodes;
  }
  setOutputs(keep: (o: ValueInfoProto) => boolean): void {
    this.outputs = this.outputs.filter(keep);
  }

  input(name: string, elem: ElemType, shape: Dim[]): string {
    this.inputs.push(valueInfo(name, elem, shape));
    return name;
  }

  output(name: string, elem: ElemType, shape?: Dim[]): string {
    this.outputs.push(valueInfo(name, elem, shape));
    return name;
  }

  /** Constant tensor stored as an initializer (raw little-endian bytes). */
  init(name: string, elem: ElemType, dims: number[], data: ArrayBufferView): string {
    const e = this.ext;
    if (e && data.byteLength >= e.minBytes) {
      const at = Math.ceil(e.offset / 4096) * 4096;
      const bytes = bytesOf(data);
      // in ≤ 1 GiB pieces (fs.writeSync's length limit), each retried until written whole
      for (let p = 0; p < bytes.length; ) p += fs.writeSync(e.fd, bytes, p, Math.min(bytes.length - p, 1 << 30), at + p);
      e.offset = at + data.byteLength;
      this.initializers.push(externalTensor(name, elem, dims, e.location, at, data.byteLength));
      this.written.dataBytes += data.byteLength;
      return name;
    }
    this.initializers.push(tensorProto(name, elem, dims, bytesOf(data)));
    return name;
  }

  /** Shorthand constants. */
  f32(name: string, values: number[] | Float32Array, dims: number[] = [values.length]): string {
    return this.init(name, DT.FLOAT, dims, values instanceof Float32Array ? values : new Float32Array(values));
  }
  i64(name: string, values: number[], dims: number[] = [values.length]): string {
    return this.init(name, DT.INT64, dims, new BigInt64Array(values.map((v) => BigInt(v))));
  }

  /** Adds a node; returns its output names (one fresh name per requested output unless named). */
  node(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs: number | string[] = 1, domain = ''): string[] {
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(op)) : outputs;
    this.nodes.push(
      create(NodeProtoSchema, {
        opType: op,
        domain,
        name: this.fresh(`n_${op}`),
        input: inputs,
        output: outs,
        attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
      }),
    );
    return outs;
  }

  /** Single-output node. */
  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, out?: string): string {
    return this.node(op, inputs, attrs, out ? [out] : 1)[0];
  }

  /**
   * A builder for a control-flow body (Loop/If): its value names get `prefix` so they cannot collide with the
   * outer graph's; the body may read outer-scope values by name. Finish it with `subgraph()`.
   */
  body(prefix: string): GraphBuilder {
    const b = new GraphBuilder(`${this.name}_${prefix}`);
    b.namePrefix = `${this.namePrefix}${prefix}_`;
    return b;
  }

  /** This builder's nodes, inputs, outputs and initializers as a GraphProto (a Loop/If body). */
  subgraph(): GraphProto {
    return create(GraphProtoSchema, { name: this.name, node: this.nodes, input: this.inputs, output: this.outputs, initializer: this.initializers });
  }

  get initializerCount(): number {
    return this.initializers.length;
  }

  build(opset = this.opsetVersion): Uint8Array {
    const graph = create(GraphProtoSchema, {
      name: this.name,
      node: this.nodes,
      input: this.inputs,
      output: this.outputs,
      initializer: this.initializers,
    });
    // every non-default domain a node uses (onnxruntime's contrib ops: com.microsoft) is imported at version 1
    const used = new Set(this.nodes.map((n) => n.domain).filter((d) => d !== '' && d !== 'ai.onnx'));
    const extra = (have: { domain: string }[]) =>
      [...used].filter((d) => !have.some((o) => o.domain === d)).map((domain) => create(OperatorSetIdProtoSchema, { domain, version: 1n }));
    if (this.adoptedModel) {
      // keep the adopted model's IR version, opsets (custom domains too) and metadata; the opset is at least 17
      const m = this.adoptedModel;
      const opsets = m.opsetImport.map((o) => (o.domain === '' || o.domain === 'ai.onnx' ? create(OperatorSetIdProtoSchema, { domain: o.domain, version: BigInt(Math.max(opset, OPSET)) }) : o));
      opsets.push(...extra(opsets));
      return toBinary(ModelProtoSchema, create(ModelProtoSchema, { ...m, opsetImport: opsets, irVersion: m.irVersion < BigInt(IR_VERSION) ? BigInt(IR_VERSION) : m.irVersion, graph }));
    }
    const model = create(ModelProtoSchema, {
      irVersion: IR_VERSION,
      producerName: 'sparsity-lab',
      opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(opset) }), ...extra([])],
      graph,
    });
    return toBinary(ModelProtoSchema, model);
  }
}

let fullGc: (() => void) | null | undefined;
/**
 * A full garbage collection: V8's gc(), exposed on first use through --expose-gc and a fresh vm context (as
 * jest-leak-detector does; the flag only adds a gc() global to contexts made later). A no-op where that fails.
 */
export function collectGarbage(): void {
  if (fullGc === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      fullGc = vm.runInNewContext('gc') as () => void;
    } catch {
      fullGc = null;
    }
  }
  fullGc?.();
}
