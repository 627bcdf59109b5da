/**
 * Weight layout and precision changes on the way into a graph: Linear's [out, in] → MatMul's [in, out], fp32 → fp16,
 * and back from fp32 to the 16-bit patterns a checkpoint stored (fp16/bf16 weights kept as such in an fp32 graph).
 * They run once per weight of every built graph (0.1B: ~130 M values), so the loops are written for speed; the
 * results are exactly those of the plain loops (weights.test.ts checks them against one).
 */
import fs from 'node:fs';
import { f32ArrayToF16 } from '../checkpoint/safetensors';
import { checkInterrupted } from '../checkpoint/interrupt';
import { DT, type ElemType } from './onnx-builder';
import type { LoadedCheckpoint, StorageDType, StoredBytes, WeightTensor } from '../checkpoint/types';

/**
 * The weight matrices that an fp32 graph with halfWeights keeps in their stored 16-bit dtype (canonical names); norms,
 * biases and the output projection (lmHead in llama-graph.ts) are not.
 */
export const BIG_WEIGHT = /^(embed\.(tokens|positions)|layers\.\d+\.(attn\.[qkvo]|mlp\.(gate|up|down))\.weight)$/;

/** The ONNX element type of a weight dtype, and back. */
export function onnxElem(e: ElemType): StorageDType | undefined {
  return e === DT.FLOAT ? 'float32' : e === DT.FLOAT16 ? 'float16' : e === DT.BFLOAT16 ? 'bfloat16' : undefined;
}

/**
 * The element type a graph keeps checkpoint tensor `name` in: the graph dtype, except the big matrices of an fp32
 * graph with halfWeights that the checkpoint stores as fp16/bf16 (kept so, Cast to fp32 before use). `keep16` false:
 * always the graph dtype (the output projection).
 */
export function weightElem(ckpt: LoadedCheckpoint, name: string, o: { dtype: 'float32' | 'float16'; halfWeights?: boolean }, keep16 = true): ElemType {
  const T = o.dtype === 'float16' ? DT.FLOAT16 : DT.FLOAT;
  if (!keep16 || !o.halfWeights || T !== DT.FLOAT || !BIG_WEIGHT.test(name)) return T;
  const d = ckpt.weights.get(name)?.dtype;
  return d === 'float16' ? DT.FLOAT16 : d === 'bfloat16' ? DT.BFLOAT16 : T;
}

/**
 * The bytes of `t` (rows from … from+count−1 when given) in its checkpoint file, when a graph can point at them as an
 * initializer of dtype `want`: stored contiguously, in that dtype. Row picks need the canonical row-major layout.
 */
export function inPlace(t: WeightTensor | undefined, want: StorageDType | undefined, rows?: { from: number; count: number }): StoredBytes | undefined {
  const b = t?.stored?.();
  if (!b || !want || b.dtype !== want) return undefined;
  if (!rows || (rows.from === 0 && rows.count === t!.shape[0])) return b;
  if (b.transposed) return undefined;
  const rowBytes = b.length / t!.shape[0];
  return { ...b, offset: b.offset + rows.from * rowBytes, length: rows.count * rowBytes };
}

/**
 * out[c, r] = w[r, c] for a row-major [rows, cols] matrix (bit-exact: NaN payloads kept). `out` (same length, not
 * overlapping w) is written when given, so that a caller can reuse one buffer for every weight.
 */
export function transpose(w: Float32Array, rows: number, cols: number, out = new Float32Array(w.length)): Float32Array {
  if (w.length !== rows * cols || out.length !== w.length) throw new RangeError(`transpose: ${w.length} values for [${rows}, ${cols}]`);
  transposeBits(new Uint32Array(w.buffer, w.byteOffset, w.length), rows, cols, new Uint32Array(out.buffer, out.byteOffset, out.length));
  return out;
}

/** transpose() of 16-bit patterns (fp16/bf16 weights kept in their stored dtype). */
export function transpose16(w: Uint16Array, rows: number, cols: number, out = new Uint16Array(w.length)): Uint16Array {
  if (w.length !== rows * cols || out.length !== w.length) throw new RangeError(`transpose16: ${w.length} values for [${rows}, ${cols}]`);
  transposeBits(w, rows, cols, out);
  return out;
}

const TILE = 64;

/**
 * 4×4 blocks held in registers (4 reads from each of 4 rows, 4 contiguous writes to each of 4 output rows) inside
 * 64×64 tiles that stay in cache; the edges (rows or cols not a multiple of 4) one value at a time. Measured in V8 on
 * the dev box: 2–3× the plain double loop for every weight shape of the 0.1B model.
 */
function transposeBits(w: Uint32Array | Uint16Array, rows: number, cols: number, out: Uint32Array | Uint16Array): void {
  const rows4 = rows & ~3;
  const cols4 = cols & ~3;
  for (let r0 = 0; r0 < rows4; r0 += TILE) {
    const r1 = Math.min(rows4, r0 + TILE);
    for (let c0 = 0; c0 < cols4; c0 += TILE) {
      const c1 = Math.min(cols4, c0 + TILE);
      for (let r = r0; r < r1; r += 4) {
        const a = r * cols;
        const b = a + cols;
        const c = b + cols;
        const d = c + cols;
        for (let col = c0; col < c1; col += 4) {
          const o0 = col * rows + r;
          const o1 = o0 + rows;
          const o2 = o1 + rows;
          const o3 = o2 + rows;
          out[o0] = w[a + col];
          out[o0 + 1] = w[b + col];
          out[o0 + 2] = w[c + col];
          out[o0 + 3] = w[d + col];
          out[o1] = w[a + col + 1];
          out[o1 + 1] = w[b + col + 1];
          out[o1 + 2] = w[c + col + 1];
          out[o1 + 3] = w[d + col + 1];
          out[o2] = w[a + col + 2];
          out[o2 + 1] = w[b + col + 2];
          out[o2 + 2] = w[c + col + 2];
          out[o2 + 3] = w[d + col + 2];
          out[o3] = w[a + col + 3];
          out[o3 + 1] = w[b + col + 3];
          out[o3 + 2] = w[c + col + 3];
          out[o3 + 3] = w[d + col + 3];
        }
      }
    }
  }
  // the right edge (cols4 … cols) of the block rows, then the bottom edge (rows4 … rows) in full
  for (let r = 0; r < rows4; r++) for (let c = cols4; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  for (let r = rows4; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
}

/** fp32 → IEEE half (round to nearest even), as f32ToF16 value by value. */
export function toHalf(a: Float32Array): Uint16Array {
  return f32ArrayToF16(a);
}

/**
 * The 16-bit patterns of a weight that a checkpoint stored as fp16 or bf16, recovered from its fp32 decode (widening
 * fp16/bf16 to fp32 is exact, so this is its exact inverse: NaN payloads, ±0, subnormals and ±Inf included). Written
 * in place over the first half of `a`'s own bytes (value i is read before 2-byte slot i is written), so `a` is
 * destroyed either way. Returns undefined when some value is not exactly an fp16/bf16 value (then the caller must
 * decode again and keep fp32).
 */
export function toStored16(a: Float32Array, kind: 'float16' | 'bfloat16'): Uint16Array | undefined {
  const n = a.length;
  const u = new Uint32Array(a.buffer, a.byteOffset, n);
  const out = new Uint16Array(a.buffer, a.byteOffset, n);
  if (kind === 'bfloat16') {
    for (let i = 0; i < n; i++) {
      const x = u[i];
      if ((x & 0xffff) !== 0) return undefined;
      out[i] = x >>> 16;
    }
    return out;
  }
  for (let i = 0; i < n; i++) {
    const x = u[i];
    const e = (x >>> 23) & 0xff;
    const m = x & 0x7fffff;
    let h: number;
    if (e >= 113 && e <= 142) {
      // normal in fp16 as well: the low 13 mantissa bits must be zero
      if ((m & 0x1fff) !== 0) return undefined;
      h = ((e - 112) << 10) | (m >>> 13);
    } else if (e === 0) {
      if (m !== 0) return undefined; // an fp32 subnormal is below fp16's range
      h = 0;
    } else if (e === 255) {
      if (m !== 0 && (m & 0x1fff) !== 0) return undefined; // a NaN whose payload fp16 cannot hold
      h = 0x7c00 | (m >>> 13);
    } else if (e >= 103 && e <= 112) {
      // fp16 subnormal k·2⁻²⁴: k = (1.m)·2^(e−127+24), exact iff the bits shifted out are zero
      const full = m | 0x800000;
      const shift = 126 - e;
      if ((full & ((1 << shift) - 1)) !== 0) return undefined;
      h = full >>> shift;
    } else return undefined; // outside fp16's range
    out[i] = ((x >>> 16) & 0x8000) | h;
  }
  return out;
}

/** One checkpoint tensor as a graph holds it (planWeights). */
export interface PlannedTensor {
  /** initializer name (the canonical tensor name; 'lm_head.tied' for a tied output projection kept apart) */
  name: string;
  /** the checkpoint tensor it comes from */
  src: string;
  elem: ElemType;
  /** canonical shape ([out, in] for matrices) */
  dims: number[];
  /** the checkpoint's own bytes, when the graph points at them */
  place?: StoredBytes;
  /** bytes in the graph's dtype */
  bytes: number;
  /** why it is converted (absent: in place) */
  reason?: string;
}

/**
 * The shape a planned tensor has as the graph holds it: its canonical dims, reversed where the graph points at a matrix
 * the checkpoint stores transposed (its bytes as they are: products then read it without transB). The initializer
 * (makeDecoder), the graph input of a block fed its weights (weightInputs) and the tensor fed to it (block-weights.ts)
 * all take this shape, so the fed bytes are the initializer's.
 */
export function storedDims(p: Pick<PlannedTensor, 'dims' | 'place'>): number[] {
  return p.place?.transposed ? [...p.dims].reverse() : p.dims;
}

/** What a graph build does with every checkpoint tensor, and the disk cost of the copies (the checkpoint card's facts). */
export interface WeightPlan {
  tensors: Map<string, PlannedTensor>;
  /** bytes the graph points at in the checkpoint's files */
  inPlaceBytes: number;
  /** bytes written as converted copies (into the graph cache, once per checkpoint and graph dtype) */
  convertedBytes: number;
  /** the copies grouped by reason */
  conversions: { reason: string; tensors: number; bytes: number }[];
}

const ELEM_BYTES = (e: ElemType) => (e === DT.FLOAT ? 4 : 2);
const SHORT: Record<StorageDType, string> = { float32: 'fp32', float16: 'fp16', bfloat16: 'bf16' };

/**
 * Decides, for a graph of dtype `o.dtype` (with halfWeights on the CPU), which checkpoint tensors the graph points at in
 * place and which must be converted (dtype, layout, or bytes not stored contiguously). `refs` false: no in-place
 * pointing is possible (no folder holds both the checkpoint and the graph), so everything is converted. makeDecoder
 * builds from this plan, so the card's figures are the build's own.
 */
export function planWeights(ckpt: LoadedCheckpoint, o: { dtype: 'float32' | 'float16'; halfWeights?: boolean }, refs = true): WeightPlan {
  const s = ckpt.spec;
  const T = o.dtype === 'float16' ? DT.FLOAT16 : DT.FLOAT;
  const tensors = new Map<string, PlannedTensor>();
  const add = (name: string, src: string, elem: ElemType) => {
    const t = ckpt.weights.get(src);
    if (!t) return;
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const b = t.stored?.();
    const place = refs ? inPlace(t, onnxElem(elem)) : undefined;
    // tables are read by rows, vectors as they are: both need the canonical layout
    const usable = place && !(place.transposed && (t.shape.length !== 2 || /^embed\./.test(src)));
    let reason: string | undefined;
    if (!usable) {
      const want = SHORT[onnxElem(elem)!];
      if (!refs) reason = 'no folder holds both the checkpoint and the graph cache (another drive?)';
      else if (!b) reason = 'not stored as one contiguous range (split, strided or compressed)';
      else if (b.dtype !== onnxElem(elem)) reason = `${SHORT[b.dtype]} → ${want}${name.startsWith('lm_head') ? ' (output projection)' : ''}`;
      else reason = 'stored transposed';
    }
    tensors.set(name, { name, src, elem, dims: t.shape, ...(usable ? { place } : {}), bytes: numel * ELEM_BYTES(elem), ...(reason ? { reason } : {}) });
  };
  const layerNorm = s.norm === 'layer';
  for (const [name, t] of ckpt.weights) {
    if (name === 'lm_head.weight') add(name, name, weightElem(ckpt, name, o, false));
    else if (layerNorm && /norm\.(weight|bias)$/.test(name) && t.shape.length === 1) add(name, name, DT.FLOAT);
    else add(name, name, weightElem(ckpt, name, o));
  }
  // a tied output projection shares the token table where that table is in the graph dtype and canonical layout
  const emb = tensors.get('embed.tokens');
  if (s.tieEmbeddings && emb && (emb.elem !== T || emb.place?.transposed)) add('lm_head.tied', 'embed.tokens', T);
  let inPlaceBytes = 0;
  let convertedBytes = 0;
  const by = new Map<string, { reason: string; tensors: number; bytes: number }>();
  for (const p of tensors.values()) {
    if (!p.reason) inPlaceBytes += p.place!.length;
    else {
      convertedBytes += p.bytes;
      const r = by.get(p.reason) ?? { reason: p.reason, tensors: 0, bytes: 0 };
      r.tensors++;
      r.bytes += p.bytes;
      by.set(p.reason, r);
    }
  }
  return { tensors, inPlaceBytes, convertedBytes, conversions: [...by.values()].sort((a, b) => b.bytes - a.bytes) };
}

/**
 * A planned tensor's values in its graph dtype and canonical layout (decoded from the checkpoint). In the graph worker
 * a cancel stops the build here, before the next tensor (main/checkpoint/interrupt.ts; the decode checks every MiB).
 */
export function convertTensor(ckpt: LoadedCheckpoint, p: PlannedTensor): Float32Array | Uint16Array {
  checkInterrupted();
  const t = ckpt.weights.get(p.src)!;
  const v = t.toFloat32();
  if (p.elem === DT.FLOAT) return v;
  if (p.elem === DT.FLOAT16 && t.dtype !== 'float16') return toHalf(v);
  // the stored 16-bit patterns back from their exact fp32 widening
  const bits = toStored16(v, p.elem === DT.BFLOAT16 ? 'bfloat16' : 'float16');
  if (!bits) throw new Error(`${p.src}: values are not exactly ${SHORT[onnxElem(p.elem)!]}`);
  return bits;
}

/**
 * Writes every converted tensor of `plan` to `file` (page-aligned, canonical layout) and returns where each one is:
 * graphs then point at these bytes like at the checkpoint's own (one copy per checkpoint and graph dtype, shared by
 * all graphs built from it). Tensors go one at a time: the peak is one decoded tensor.
 */
export function writeConverted(ckpt: LoadedCheckpoint, plan: WeightPlan, file: string): Map<string, StoredBytes> {
  const out = new Map<string, StoredBytes>();
  const fd = fs.openSync(file, 'w');
  try {
    let offset = 0;
    for (const p of plan.tensors.values()) {
      if (!p.reason) continue;
      const data = convertTensor(ckpt, p);
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      const at = Math.ceil(offset / 4096) * 4096;
      for (let q = 0; q < bytes.length; ) q += fs.writeSync(fd, bytes, q, Math.min(bytes.length - q, 1 << 30), at + q);
      offset = at + bytes.length;
      out.set(p.name, { file, offset: at, length: bytes.length, dtype: onnxElem(p.elem)!, transposed: false });
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}
