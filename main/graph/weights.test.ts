// transpose / transpose16 / toHalf / toStored16 (weights.ts) against the plain loops and decoders they replace or invert.
import { describe, expect, it } from 'vitest';
import { decodeToFloat32, f32ToF16 } from '../checkpoint/safetensors';
import { toHalf, toStored16, transpose, transpose16 } from './weights';

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
    expect(() => transpose(new Float32Array(6), 2, 3, new Float32Array(5))).toThrow(RangeError);
  });
  it('writes into a given buffer (reused across weights)', () => {
    const out = new Float32Array(12).fill(NaN);
    const w = Float32Array.from({ length: 12 }, (_, i) => i);
    expect(transpose(w, 3, 4, out)).toBe(out);
    expect(Array.from(out)).toEqual(Array.from(plainTranspose(w, 3, 4)));
  });
});

describe('transpose16', () => {
  it('equals the plain loop on 16-bit patterns for every shape class', () => {
    for (const [rows, cols] of [[1, 1], [1, 9], [9, 1], [3, 5], [5, 3], [31, 33], [33, 31], [32, 64], [64, 32], [70, 1000], [1000, 70]]) {
      const w = Uint16Array.from({ length: rows * cols }, (_, i) => (i * 40503) & 0xffff);
      const want = new Uint16Array(w.length);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) want[c * rows + r] = w[r * cols + c];
      expect(Array.from(transpose16(w, rows, cols)), `[${rows}, ${cols}]`).toEqual(Array.from(want));
      expect(Array.from(transpose16(w, rows, cols, new Uint16Array(w.length))), `[${rows}, ${cols}] into a buffer`).toEqual(Array.from(want));
    }
  });
});

describe('toStored16', () => {
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  it('inverts the fp16 decode for all 65536 patterns (NaN payloads, ±0, subnormals, ±Inf)', () => {
    const back = toStored16(decodeToFloat32('F16', new Uint8Array(all.buffer), all.length, 'test'), 'float16');
    expect(back).toBeDefined();
    const wrong = all.filter((h, i) => back![i] !== h);
    expect(Array.from(wrong.slice(0, 10))).toEqual([]);
  });
  it('inverts the bf16 decode for all 65536 patterns', () => {
    const back = toStored16(decodeToFloat32('BF16', new Uint8Array(all.buffer), all.length, 'test'), 'bfloat16');
    expect(back).toBeDefined();
    expect(Array.from(all.filter((h, i) => back![i] !== h).slice(0, 10))).toEqual([]);
  });
  it('writes over the input and returns a view of its first half', () => {
    const a = Float32Array.from([1, -2, 0.5, 65504]);
    const h = toStored16(a, 'float16')!;
    expect(h.buffer).toBe(a.buffer);
    expect(Array.from(h)).toEqual([0x3c00, 0xc000, 0x3800, 0x7bff]);
  });
  it('says undefined for a value that is not exactly fp16 / bf16', () => {
    for (const v of [1 / 3, 1 + 2 ** -11, 2 ** -25, 3 * 2 ** -25, 65536, 1e-40, 2 ** -20 * (1 + 2 ** -12)]) expect(toStored16(Float32Array.from([0, v]), 'float16'), String(v)).toBeUndefined();
    for (const v of [1 / 3, 1 + 2 ** -8, 1e-40 * 3]) expect(toStored16(Float32Array.from([1, v]), 'bfloat16'), String(v)).toBeUndefined();
    // values that are exact stay accepted: fp16's smallest subnormal and largest normal; bf16 far outside fp16's range
    expect(Array.from(toStored16(Float32Array.from([2 ** -24, -65504]), 'float16')!)).toEqual([0x0001, 0xfbff]);
    expect(Array.from(toStored16(Float32Array.from([2 ** 100, -(2 ** -100)]), 'bfloat16')!)).toEqual([0x7180, 0x8d80]);
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
