// fp16 codecs (safetensors.ts) against independent references: decoding all 65536 bit patterns by the textbook
// formula, and fp32 → fp16 by searching the sorted fp16 values for the nearest (ties to even) with exact arithmetic.
import { describe, expect, it } from 'vitest';
import { decodeToFloat32, f32ArrayToF16, f32ToF16 } from './safetensors';
import { toHalf } from '../graph/weights';

/** (−1)^s · 2^(e−15) · (1 + m/1024), subnormals 2^−14 · m/1024, e = 31 Inf/NaN. */
function textbook(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 31) return m ? NaN : s * Infinity;
  return e === 0 ? s * 2 ** -14 * (m / 1024) : s * 2 ** (e - 15) * (1 + m / 1024);
}

// the finite non-negative halves in increasing order are bit patterns 0 … 0x7bff; Inf (0x7c00) sits at 65536 for rounding
const MAG = Float64Array.from({ length: 0x7c01 }, (_, h) => (h === 0x7c00 ? 65536 : textbook(h)));
/** Nearest half to x (a float32 value), ties to the even pattern; |x| ≥ 65520 → Inf (IEEE overflow under round-to-nearest). */
function nearestHalf(x: number): number {
  if (Number.isNaN(x)) return 0x7e00; // f32ToF16's NaN: quiet, sign kept (checked separately)
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65536) return sign | 0x7c00;
  let lo = 0;
  let hi = 0x7c00;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (MAG[mid] <= a) lo = mid;
    else hi = mid;
  }
  // MAG[lo] ≤ a < MAG[hi]
  const dLo = a - MAG[lo];
  const dHi = MAG[hi] - a;
  const pick = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
  return sign | pick;
}

describe('fp16 → fp32', () => {
  it('decodes all 65536 patterns as the textbook formula (bit-exact, -0 kept, NaN payloads kept)', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const out = decodeToFloat32('F16', new Uint8Array(all.buffer), 65536, 'test');
    const bits = new Uint32Array(out.buffer);
    const wrong: string[] = [];
    for (let h = 0; h < 65536; h++) {
      const want = textbook(h);
      const ok = Number.isNaN(want) ? bits[h] === (((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13)) >>> 0 : Object.is(out[h], want);
      if (!ok) wrong.push(`0x${h.toString(16)}: ${out[h]} vs ${want}`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('fp32 → fp16', () => {
  /** every rounding case: for each sign and exponent, all 8192 values of the 13 bits that are rounded away under
   *  three settings of the kept 10 bits (all zero, all one, mixed), plus random patterns and all halves themselves */
  function cases(): Uint32Array {
    const out: number[] = [];
    for (const sign of [0, 1])
      for (let e = 0; e < 256; e++) {
        const dense = e >= 96 && e <= 144; // the exponents near and inside the half range (subnormals, normals, overflow)
        for (const keep of [0, 0x3ff, 0x2a5])
          for (let low = 0; low < 8192; low += dense ? 1 : 97) out.push(((sign << 31) | (e << 23) | (keep << 13) | low) >>> 0);
      }
    let s = 12345;
    for (let i = 0; i < 200_000; i++) out.push((s = (Math.imul(s, 1103515245) + 12345) >>> 0));
    const halves = decodeToFloat32('F16', new Uint8Array(new Uint16Array(65536).map((_, i) => i).buffer), 65536, 't');
    out.push(...new Uint32Array(halves.buffer));
    return Uint32Array.from(out);
  }

  it('f32ArrayToF16 (and toHalf) give the nearest half, ties to even, for every rounding case', () => {
    const bits = cases();
    const vals = new Float32Array(bits.buffer);
    const got = f32ArrayToF16(vals);
    const viaGraph = toHalf(vals);
    for (let i = 0; i < bits.length; i++) {
      const x = vals[i];
      const want = Number.isNaN(x) ? ((bits[i] >>> 16) & 0x8000) | 0x7e00 : nearestHalf(x);
      if (got[i] !== want) expect(got[i].toString(16), `0x${bits[i].toString(16)} (${x})`).toBe(want.toString(16));
      if (viaGraph[i] !== got[i]) expect(viaGraph[i], 'toHalf').toBe(got[i]);
    }
  });

  it('the array form equals f32ToF16 value by value, and halves round-trip exactly', () => {
    const bits = cases();
    const vals = new Float32Array(bits.buffer);
    const got = f32ArrayToF16(vals);
    for (let i = 0; i < vals.length; i++) if (got[i] !== f32ToF16(vals[i])) expect(got[i], `0x${bits[i].toString(16)}`).toBe(f32ToF16(vals[i]));
    const halves = decodeToFloat32('F16', new Uint8Array(new Uint16Array(65536).map((_, i) => i).buffer), 65536, 't');
    const back = f32ArrayToF16(halves);
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) if (back[h] !== h && !(((h >> 10) & 31) === 31 && h & 0x3ff)) wrong.push(h); // NaNs come back as the quiet NaN
    expect(wrong).toEqual([]);
  });
});
