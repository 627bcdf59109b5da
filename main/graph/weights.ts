/**
 * Weight layout and precision changes on the way into a graph: Linear's [out, in] → MatMul's [in, out], fp32 → fp16,
 * and back from fp32 to the 16-bit patterns a checkpoint stored (fp16/bf16 weights kept as such in an fp32 graph).
 * They run once per weight of every built graph (0.1B: ~130 M values), so the loops are written for speed; the
 * results are exactly those of the plain loops (weights.test.ts checks them against one).
 */
import { f32ArrayToF16 } from '../checkpoint/safetensors';

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
