/**
 * Weight layout and precision changes on the way into a graph: Linear's [out, in] → MatMul's [in, out], fp32 → fp16.
 * Both run once per weight of every built graph (0.1B: ~130 M values), so the loops are written for speed; the
 * results are exactly those of the plain loops (weights.test.ts checks them against one).
 */
import { f32ArrayToF16 } from '../checkpoint/safetensors';

/** out[c, r] = w[r, c] for a row-major [rows, cols] matrix (bit-exact: NaN payloads kept). */
export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  if (w.length !== rows * cols) throw new RangeError(`transpose: ${w.length} values for [${rows}, ${cols}]`);
  const out = new Float32Array(w.length);
  transposeBits(new Uint32Array(w.buffer, w.byteOffset, w.length), rows, cols, new Uint32Array(out.buffer, out.byteOffset, out.length));
  return out;
}

const TILE = 64;

/**
 * 4×4 blocks held in registers (4 reads from each of 4 rows, 4 contiguous writes to each of 4 output rows) inside
 * 64×64 tiles that stay in cache; the edges (rows or cols not a multiple of 4) one value at a time. Measured in V8 on
 * the dev box: 2–3× the plain double loop for every weight shape of the 0.1B model.
 */
function transposeBits(w: Uint32Array, rows: number, cols: number, out: Uint32Array): void {
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
