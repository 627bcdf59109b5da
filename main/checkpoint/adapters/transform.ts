/**
 * Lazy tensor views for adapters: rename, transpose (GPT-2 Conv1D stores [in, out], the canonical layout is
 * Linear's [out, in]) and row picks (splitting fused q/k/v). Nothing is decoded until toFloat32() is called.
 */
import type { WeightTensor } from '../types';

export function renamed(t: WeightTensor, name: string): WeightTensor {
  return { name, shape: t.shape, dtype: t.dtype, toFloat32: () => t.toFloat32(), ...sameValues(t), ...(t.stored ? { stored: () => t.stored!() } : {}) };
}

export function transposed(t: WeightTensor, name: string): WeightTensor {
  const [r, c] = t.shape;
  return {
    name,
    shape: [c, r],
    dtype: t.dtype,
    ...sameValues(t),
    // the same bytes read the other way round (a Conv1D [in, out] matrix is the canonical [out, in] transposed)
    stored() {
      const b = t.stored?.();
      return b && t.shape.length === 2 ? { ...b, transposed: !b.transposed } : undefined;
    },
    toFloat32() {
      const a = t.toFloat32();
      const out = new Float32Array(a.length);
      for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = a[i * c + j];
      return out;
    },
  };
}

/** Rows `rows` (in order) of a [R, C] matrix or entries of an [R] vector. */
export function pickRows(t: WeightTensor, name: string, rows: number[]): WeightTensor {
  const cols = t.shape.length === 2 ? t.shape[1] : 1;
  return {
    name,
    shape: t.shape.length === 2 ? [rows.length, cols] : [rows.length],
    dtype: t.dtype,
    // consecutive rows of a row-major matrix are one byte range of it
    stored() {
      const b = t.stored?.();
      if (!b || b.transposed || !rows.length || rows.some((r, i) => r !== rows[0] + i)) return undefined;
      const rowBytes = b.length / t.shape[0];
      return { ...b, offset: b.offset + rows[0] * rowBytes, length: rows.length * rowBytes };
    },
    toFloat32() {
      const a = t.toFloat32();
      const out = new Float32Array(rows.length * cols);
      rows.forEach((r, i) => out.set(a.subarray(r * cols, (r + 1) * cols), i * cols));
      return out;
    },
  };
}

/** A view holding exactly t's values (renamed, transposed) counts its NaN/Inf on t's stored bits. */
function sameValues(t: WeightTensor): Pick<WeightTensor, 'nonFinite'> {
  const f = t.nonFinite;
  return f ? { nonFinite: () => f.call(t) } : {};
}

export const range = (start: number, n: number): number[] => Array.from({ length: n }, (_, i) => start + i);
