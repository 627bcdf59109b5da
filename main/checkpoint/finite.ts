/**
 * NaN/Inf counting on the stored bits, without decoding: a float is NaN or ±Inf exactly when its exponent field is
 * all ones (F32 0x7f800000, F16 0x7c00, BF16 0x7f80, F64 0x7ff00000 in the high word). Two 16-bit values are checked
 * per 32-bit word: masking keeps each half's exponent, and adding one exponent unit carries into the half's top bit
 * only when the exponent was all ones (0x7c00 + 0x0400 = 0x8000; no carry can cross into the other half). A run
 * of words is screened with one OR; only a run that has a hit is counted value by value.
 */
import { LabError } from '../api/errors';

const RUN = 4096; // words screened per OR

/** Per word: mask of the exponent bits, the unit added, and where the carries land. */
const FORM: Record<string, { bytes: number; mask: number; unit: number; top: number; word: 'all' | 'odd' }> = {
  F32: { bytes: 4, mask: 0x7f800000, unit: 0x00800000, top: 0x80000000 | 0, word: 'all' },
  F16: { bytes: 2, mask: 0x7c007c00, unit: 0x04000400, top: 0x80008000 | 0, word: 'all' },
  BF16: { bytes: 2, mask: 0x7f807f80, unit: 0x00800080, top: 0x80008000 | 0, word: 'all' },
  F64: { bytes: 8, mask: 0x7ff00000, unit: 0x00100000, top: 0x80000000 | 0, word: 'odd' }, // little-endian: high word second
};

function screen(u: Uint32Array, from: number, to: number, step: number, mask: number, unit: number): number {
  let acc = 0;
  for (let i = from; i < to; i += step) acc |= (u[i] & mask) + unit;
  return acc;
}

function countRun(u: Uint32Array, from: number, to: number, step: number, mask: number, unit: number, top: number): number {
  let n = 0;
  for (let i = from; i < to; i += step) {
    const hit = ((u[i] & mask) + unit) & top;
    if (hit) n += (hit & 0x8000 ? 1 : 0) + (hit & 0x80000000 ? 1 : 0);
  }
  return n;
}

/** How many NaN/±Inf values `bytes` holds as little-endian `dtype` (F32, F16, BF16, F64). */
export function countNonFinite(dtype: string, bytes: Uint8Array): number {
  const f = FORM[dtype];
  if (!f) throw new LabError('BAD_CHECKPOINT', `dtype ${dtype} is not a float type`);
  const numel = Math.floor(bytes.byteLength / f.bytes);
  let b = bytes;
  if (b.byteOffset % 4 !== 0) b = b.slice(0, numel * f.bytes); // a copy at offset 0 (rare: our reads are aligned)
  const words = Math.floor((numel * f.bytes) / 4);
  const u = new Uint32Array(b.buffer, b.byteOffset, words);
  const step = f.word === 'odd' ? 2 : 1;
  const start = f.word === 'odd' ? 1 : 0;
  let n = 0;
  for (let r = 0; r < words; r += RUN) {
    const end = Math.min(words, r + RUN);
    if (screen(u, r + start, end, step, f.mask, f.unit) & f.top) n += countRun(u, r + start, end, step, f.mask, f.unit, f.top);
  }
  if (f.bytes === 2 && numel % 2 === 1) {
    // an odd count of 16-bit values: the last one has no partner word
    const last = b[numel * 2 - 2] | (b[numel * 2 - 1] << 8);
    if ((last & f.mask & 0xffff) === (f.mask & 0xffff)) n++;
  }
  return n;
}

/** The same count on decoded values (the fallback for tensors without raw access). */
export function countNonFiniteF32(a: Float32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) n++;
  return n;
}
