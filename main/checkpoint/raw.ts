/** A stored tensor before architecture mapping: safetensors entries and pickled torch tensors both become this. */
import { LabError } from '../api/errors';
import { decodeToFloat32 } from './safetensors';
import type { StorageDType, WeightTensor } from './types';

export interface RawTensor {
  name: string;
  file: string;
  /** safetensors spelling: F32, F16, BF16, I64, ... */
  dtype: string;
  shape: number[];
  byteLength: number;
  /** the tensor's bytes, contiguous row-major little-endian */
  read(): Uint8Array;
}

const WEIGHT: Record<string, StorageDType> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

export function weightFromRaw(r: RawTensor, name = r.name): WeightTensor {
  const numel = r.shape.reduce((a, b) => a * b, 1);
  return {
    name,
    shape: r.shape,
    dtype: WEIGHT[r.dtype] ?? 'float32',
    toFloat32() {
      if (!WEIGHT[r.dtype] && r.dtype !== 'F64')
        throw new LabError('BAD_CHECKPOINT', `${r.file}: tensor '${r.name}' has dtype ${r.dtype}; weights must be F32, F16 or BF16`);
      return decodeToFloat32(r.dtype, r.read(), numel, `${r.file}: tensor '${r.name}'`);
    },
  };
}
