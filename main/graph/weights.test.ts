// transpose / toHalf (weights.ts) against the plain loops they replace.
import { describe, expect, it } from 'vitest';
import { f32ToF16 } from '../checkpoint/safetensors';
import { toHalf, transpose } from './weights';

function plainTranspose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

describe('transpose', () => {
  it('equals the plain loop for square, tall, wide and odd shapes (strip edges included)', () => {
    for (const [rows, cols] of [[1, 1], [1, 9], [9, 1], [3, 5], [5, 3], [31, 33], [33, 31], [32, 64], [64, 32], [70, 1000], [1000, 70]]) {
      const w = Float32Array.from({ length: rows * cols }, (_, i) => i * 0.5 - 7);
      expect(Array.from(transpose(w, rows, cols)), `[${rows}, ${cols}]`).toEqual(Array.from(plainTranspose(w, rows, cols)));
    }
  });
  it('moves bits, not values: NaN payloads and -0 survive', () => {
    const bits = Uint32Array.from([0x7fa00001, 0x80000000, 0xffc12345, 0x3f800000, 0x7f800000, 0x00000001]);
    const t = new Uint32Array(transpose(new Float32Array(bits.buffer), 2, 3).buffer);
    expect(Array.from(t)).toEqual([bits[0], bits[3], bits[1], bits[4], bits[2], bits[5]]);
  });
  it('refuses a shape that does not fit the data', () => {
    expect(() => transpose(new Float32Array(6), 4, 2)).toThrow(RangeError);
  });
});

describe('toHalf', () => {
  it('equals f32ToF16 value by value (random bits: all classes of float)', () => {
    let s = 99;
    const bits = Uint32Array.from({ length: 100_000 }, () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0));
    const a = new Float32Array(bits.buffer);
    const h = toHalf(a);
    const wrong: number[] = [];
    for (let i = 0; i < a.length; i++) if (h[i] !== f32ToF16(a[i])) wrong.push(bits[i]);
    expect(wrong).toEqual([]);
  });
});
