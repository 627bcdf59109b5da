/** Typed arrays as BLOBs with dtype and shape: compact (4 bytes per value) and exact for float32 data. */
import { LabError } from '../api/errors';

export interface StoredArray {
  dtype: 'float32' | 'float64';
  shape: number[];
  data: ArrayLike<number>;
}

export function toBlob(a: StoredArray): Buffer {
  const t = a.dtype === 'float64' ? Float64Array.from(a.data) : Float32Array.from(a.data);
  return Buffer.from(t.buffer, t.byteOffset, t.byteLength);
}

export function fromBlob(blob: Buffer, dtype: string, shape: number[], where: string): Float32Array | Float64Array {
  const size = dtype === 'float64' ? 8 : dtype === 'float32' ? 4 : 0;
  if (!size) throw new LabError('SESSION_ERROR', `${where}: unknown dtype '${String(dtype).slice(0, 40)}'`);
  // the shape comes from the file: check it is a list of sizes before using it
  const okShape = Array.isArray(shape) && shape.length <= 4 && shape.every((d) => Number.isInteger(d) && d >= 0);
  const n = okShape ? shape.reduce((x, y) => x * y, 1) : NaN;
  if (!okShape || !Buffer.isBuffer(blob) || blob.length !== n * size)
    throw new LabError('SESSION_ERROR', `${where}: ${Buffer.isBuffer(blob) ? blob.length : 'non-BLOB'} bytes do not match shape ${JSON.stringify(shape).slice(0, 60)} of ${dtype}`);
  const copy = new Uint8Array(blob); // aligned copy
  return dtype === 'float64' ? new Float64Array(copy.buffer) : new Float32Array(copy.buffer);
}
