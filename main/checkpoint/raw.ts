/** A stored tensor before architecture mapping: safetensors entries and pickled torch tensors both become this. */
import { LabError } from '../api/errors';
import { countNonFinite } from './finite';
import { checkInterrupted } from './interrupt';
import { decodeInto, decodeToFloat32, dtypeBytes } from './safetensors';
import type { StorageDType, StoredBytes, WeightTensor } from './types';

export interface RawTensor {
  name: string;
  file: string;
  /** safetensors spelling: F32, F16, BF16, I64, ... */
  dtype: string;
  shape: number[];
  byteLength: number;
  /** the tensor's bytes, contiguous row-major little-endian */
  read(): Uint8Array;
  /**
   * Readers that can seek: fn gets `range(start, dst)`, which reads bytes [start, start + dst.length) of read() into
   * dst, through one open file for the duration of fn (synchronous).
   */
  withRanges?<T>(fn: (range: (start: number, dst: Uint8Array) => void) => T): T;
  /** Where read()'s bytes start in `file`, when they are stored there contiguously and uncompressed (else undefined). */
  locate?(): number | undefined;
}

const WEIGHT: Record<string, StorageDType> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/**
 * Tensors are read in pieces of this many bytes into one reused buffer: decoding and the NaN/Inf scan then never hold
 * a second whole copy of a tensor (the raw bytes) next to the fp32 result, and the piece stays in cache between the
 * read and the decode.
 */
const PIECE = 1 << 20;
let scratch: Uint8Array | undefined;
function piece(): Uint8Array {
  scratch ??= new Uint8Array(PIECE); // its own ArrayBuffer: offset 0, aligned for any typed view
  return scratch;
}

type Seekable = RawTensor & Required<Pick<RawTensor, 'withRanges'>>;

/** Calls fn on consecutive pieces of r's bytes, each a whole number of elements of `bytes` bytes (synchronous). */
function forEachPiece(r: Seekable, bytes: number, fn: (chunk: Uint8Array, firstElement: number) => void): void {
  const buf = piece();
  const step = Math.floor(PIECE / bytes) * bytes;
  r.withRanges((range) => {
    for (let at = 0; at < r.byteLength; at += step) {
      checkInterrupted(); // a cancelled open stops here; withRanges closes its file (interrupt.ts)
      const chunk = buf.subarray(0, Math.min(step, r.byteLength - at));
      range(at, chunk);
      fn(chunk, at / bytes);
    }
  });
}

export function weightFromRaw(r: RawTensor, name = r.name): WeightTensor {
  const numel = r.shape.reduce((a, b) => a * b, 1);
  const where = () => `${r.file}: tensor '${r.name}'`;
  const check = () => {
    if (!WEIGHT[r.dtype] && r.dtype !== 'F64') throw new LabError('BAD_CHECKPOINT', `${r.file}: tensor '${r.name}' has dtype ${r.dtype}; weights must be F32, F16 or BF16`);
  };
  const size = dtypeBytes(r.dtype) ?? 1;
  const seekable = r.withRanges && r.byteLength === numel * size ? (r as Seekable) : undefined;
  return {
    name,
    shape: r.shape,
    dtype: WEIGHT[r.dtype] ?? 'float32',
    toFloat32() {
      check();
      if (!seekable) return decodeToFloat32(r.dtype, r.read(), numel, where());
      const out = new Float32Array(numel);
      // fp32: straight into the result's own bytes (one copy, from the page cache); others: decoded piece by piece
      if (r.dtype === 'F32') seekable.withRanges((range) => range(0, new Uint8Array(out.buffer)));
      else forEachPiece(seekable, size, (chunk, first) => decodeInto(r.dtype, chunk, out, first, chunk.length / size, where()));
      return out;
    },
    stored(): StoredBytes | undefined {
      const dtype = WEIGHT[r.dtype];
      if (!dtype || r.byteLength !== numel * size) return undefined;
      const offset = r.locate?.();
      return offset === undefined ? undefined : { file: r.file, offset, length: r.byteLength, dtype, transposed: false };
    },
    nonFinite() {
      check();
      if (!seekable) return countNonFinite(r.dtype, r.read());
      let n = 0;
      forEachPiece(seekable, size, (chunk) => (n += countNonFinite(r.dtype, chunk)));
      return n;
    },
  };
}
