/**
 * safetensors: an 8-byte little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}},
 * then the raw data. We validate the header against the file (a header can lie) and read tensors lazily
 * at their offsets, so multi-GB files are never read whole.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';
import type { StorageDType, WeightTensor } from './types';
import { badCheckpoint, JSON_LIMITS, readCheckpointJson } from './json-file';
import { checkRegularFile } from '../base/regular-file';

const BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1, U16: 2, U32: 4, U64: 8 };
const WEIGHT_DTYPES: Record<string, StorageDType> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };
const MAX_HEADER = 100 * 1024 * 1024;

export interface SafetensorsEntry {
  name: string;
  file: string;
  dtype: string; // safetensors dtype string
  shape: number[];
  /** absolute byte offset in the file and length */
  offset: number;
  length: number;
}

function bad(file: string, problem: string): LabError {
  return new LabError('BAD_CHECKPOINT', `${file}: ${problem}`);
}

export function readSafetensorsHeader(file: string): SafetensorsEntry[] {
  checkRegularFile(file, 'a safetensors file', badCheckpoint);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw bad(file, `cannot open (${(e as Error).message})`);
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size < 8) throw bad(file, `file is ${size} bytes: too short for a safetensors header (truncated?)`);
    const lenBuf = Buffer.alloc(8);
    fs.readSync(fd, lenBuf, 0, 8, 0);
    const n = lenBuf.readBigUInt64LE(0);
    if (n > BigInt(size - 8)) throw bad(file, `header length ${n} is larger than the file (${size} bytes): truncated or not a safetensors file`);
    if (n > BigInt(MAX_HEADER)) throw bad(file, `header length ${n} exceeds ${MAX_HEADER} bytes`);
    const hdr = Buffer.alloc(Number(n));
    fs.readSync(fd, hdr, 0, hdr.length, 8);
    let json: unknown;
    try {
      json = JSON.parse(hdr.toString('utf8'));
    } catch {
      throw bad(file, 'header is not valid JSON (not a safetensors file, or damaged)');
    }
    if (!json || typeof json !== 'object' || Array.isArray(json)) throw bad(file, 'header is not a JSON object');
    const dataStart = 8 + Number(n);
    const dataLen = size - dataStart;
    const entries: SafetensorsEntry[] = [];
    for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
      if (name === '__metadata__') continue;
      const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (!e || typeof e !== 'object') throw bad(file, `tensor '${name}': entry is not an object`);
      if (typeof e.dtype !== 'string' || !Object.prototype.hasOwnProperty.call(BYTES, e.dtype)) throw bad(file, `tensor '${name}': unknown dtype '${String(e.dtype)}'`);
      if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(file, `tensor '${name}': invalid shape ${JSON.stringify(e.shape)}`);
      const off = e.data_offsets;
      if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[1] < off[0])
        throw bad(file, `tensor '${name}': invalid data_offsets ${JSON.stringify(off)}`);
      const numel = (e.shape as number[]).reduce((a, b) => a * b, 1);
      const want = numel * BYTES[e.dtype];
      if (off[1] - off[0] !== want) throw bad(file, `tensor '${name}': header says shape ${JSON.stringify(e.shape)} ${e.dtype} (${want} bytes) but its offsets span ${off[1] - off[0]} bytes`);
      if (off[1] > dataLen) throw bad(file, `tensor '${name}': data ends at byte ${off[1]} but the file holds only ${dataLen} data bytes (truncated file?)`);
      entries.push({ name, file, dtype: e.dtype, shape: e.shape as number[], offset: dataStart + off[0], length: want });
    }
    const sorted = [...entries].sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < sorted.length; i++)
      if (sorted[i].offset < sorted[i - 1].offset + sorted[i - 1].length) throw bad(file, `tensors '${sorted[i - 1].name}' and '${sorted[i].name}' overlap`);
    return entries;
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads a sharded checkpoint's index (`model.safetensors.index.json`) and all its shards' headers. */
export function readShardedSafetensors(indexFile: string): SafetensorsEntry[] {
  const idx = (readCheckpointJson(indexFile, JSON_LIMITS.index, 'cannot read the shard index') ?? {}) as { weight_map?: Record<string, string> };
  if (!idx.weight_map || typeof idx.weight_map !== 'object') throw bad(indexFile, 'no weight_map');
  const dir = path.dirname(indexFile);
  const shards = new Set(Object.values(idx.weight_map));
  const out: SafetensorsEntry[] = [];
  for (const s of shards) {
    if (typeof s !== 'string' || s.includes('/') || s.includes('\\') || s.startsWith('.')) throw bad(indexFile, `shard name '${String(s)}' is not a plain file name`);
    const f = path.join(dir, s);
    if (!fs.existsSync(f)) throw bad(indexFile, `shard '${s}' listed in the index is missing`);
    out.push(...readSafetensorsHeader(f));
  }
  for (const [name, shard] of Object.entries(idx.weight_map))
    if (!out.some((e) => e.name === name && path.basename(e.file) === shard)) throw bad(indexFile, `tensor '${name}' is listed in the index but not found in shard '${shard}'`);
  return out;
}

export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** fp16 bit pattern → fp32 bit pattern, all 65536 (exact: NaN payloads and signed zeros kept) */
const F16_BITS = (() => {
  const t = new Uint32Array(65536);
  const f = new Float32Array(t.buffer);
  for (let i = 0; i < 65536; i++) {
    const e = (i >> 10) & 0x1f;
    if (e === 31) t[i] = ((i & 0x8000) << 16) | 0x7f800000 | ((i & 0x3ff) << 13);
    else f[i] = f16ToF32(i); // finite values are exact in fp32; -0 stays -0
  }
  return t;
})();

export function decodeToFloat32(dtype: string, bytes: Uint8Array, numel: number, where: string): Float32Array {
  if (bytes.byteLength < numel * (BYTES[dtype] ?? 1)) throw new LabError('BAD_CHECKPOINT', `${where}: ${bytes.byteLength} bytes for ${numel} ${dtype} values`);
  const out = new Float32Array(numel);
  decodeInto(dtype, bytes, out, 0, numel, where);
  return out;
}

/** Decodes `numel` values of `bytes` into out[at …]. */
export function decodeInto(dtype: string, bytes: Uint8Array, out: Float32Array, at: number, numel: number, where: string): void {
  // typed-array views when the bytes are aligned (the usual case: our own reads), DataView otherwise
  const aligned = (k: number) => bytes.byteOffset % k === 0;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const o = new Uint32Array(out.buffer, out.byteOffset + at * 4, numel);
  if (dtype === 'F32') {
    if (aligned(4)) o.set(new Uint32Array(bytes.buffer, bytes.byteOffset, numel)); // bits, not values: NaN payloads kept
    else for (let i = 0; i < numel; i++) o[i] = dv.getUint32(i * 4, true);
  } else if (dtype === 'F16') {
    if (aligned(4)) {
      // two halves per 32-bit load (little-endian: the first value is the low half)
      const pairs = numel >>> 1;
      const u = new Uint32Array(bytes.buffer, bytes.byteOffset, pairs);
      for (let i = 0; i < pairs; i++) {
        const x = u[i];
        o[2 * i] = F16_BITS[x & 0xffff];
        o[2 * i + 1] = F16_BITS[x >>> 16];
      }
      if (numel & 1) o[numel - 1] = F16_BITS[dv.getUint16((numel - 1) * 2, true)];
    } else for (let i = 0; i < numel; i++) o[i] = F16_BITS[dv.getUint16(i * 2, true)];
  } else if (dtype === 'BF16') {
    if (aligned(2)) {
      const u = new Uint16Array(bytes.buffer, bytes.byteOffset, numel);
      for (let i = 0; i < numel; i++) o[i] = u[i] << 16;
    } else for (let i = 0; i < numel; i++) o[i] = dv.getUint16(i * 2, true) << 16;
  } else if (dtype === 'F64') for (let i = 0; i < numel; i++) out[at + i] = dv.getFloat64(i * 8, true);
  else throw new LabError('BAD_CHECKPOINT', `${where}: dtype ${dtype} cannot be used as a weight (expected F32, F16 or BF16)`);
}

/** Bytes per element of a safetensors dtype (undefined: unknown). */
export function dtypeBytes(dtype: string): number | undefined {
  return BYTES[dtype];
}

/** Reads bytes [start, start + dst.length) of one tensor into dst through an open fd (in ≤ 1 GiB pieces: fs.readSync's limit). */
function readEntryRange(e: SafetensorsEntry, fd: number, start: number, dst: Uint8Array): void {
  if (start < 0 || start + dst.length > e.length) throw new RangeError(`${e.name}: bytes ${start}…${start + dst.length} outside the tensor (${e.length} bytes)`);
  let got = 0;
  while (got < dst.length) {
    const n = fs.readSync(fd, dst, got, Math.min(dst.length - got, 1 << 30), e.offset + start + got);
    if (n <= 0) throw new LabError('BAD_CHECKPOINT', `${e.file}: tensor '${e.name}' is cut short (file truncated?)`);
    got += n;
  }
}

function withFd<T>(file: string, fn: (fd: number) => T): T {
  const fd = fs.openSync(file, 'r');
  try {
    return fn(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The bytes of one tensor, read at its offset (a buffer of its own: offset 0, so aligned for typed-array views). */
function readEntryBytes(e: SafetensorsEntry): Buffer {
  const buf = Buffer.allocUnsafeSlow(e.length); // every byte is read below or the read throws
  withFd(e.file, (fd) => readEntryRange(e, fd, 0, buf));
  return buf;
}

export function tensorFromEntry(e: SafetensorsEntry, canonicalName: string): WeightTensor {
  const numel = e.shape.reduce((a, b) => a * b, 1);
  return {
    name: canonicalName,
    shape: e.shape,
    dtype: WEIGHT_DTYPES[e.dtype] ?? 'float32',
    toFloat32() {
      return decodeToFloat32(e.dtype, readEntryBytes(e), numel, `${e.file}: tensor '${e.name}'`);
    },
  };
}

/** Writes a safetensors file (tests, the demo lab, benchmarks). Float data is encoded as `dtype`. */
export function writeSafetensors(file: string, tensors: { name: string; shape: number[]; data: Float32Array }[], dtype: 'F32' | 'F16' | 'BF16' = 'F32'): void {
  const header: Record<string, unknown> = {};
  let off = 0;
  const bytes = BYTES[dtype];
  for (const t of tensors) {
    const n = t.data.length * bytes;
    header[t.name] = { dtype, shape: t.shape, data_offsets: [off, off + n] };
    off += n;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8);
  const hb = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + hb.length + off);
  out.writeBigUInt64LE(BigInt(hb.length), 0);
  hb.copy(out, 8);
  let p = 8 + hb.length;
  for (const t of tensors) {
    const n = t.data.length;
    if (dtype === 'F32') out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, n * 4), p);
    else {
      const u16 = new Uint16Array(n);
      if (dtype === 'F16') for (let i = 0; i < n; i++) u16[i] = f32ToF16(t.data[i]);
      else {
        const u = new Uint32Array(Float32Array.from(t.data).buffer);
        for (let i = 0; i < n; i++) {
          const x = u[i];
          u16[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff; // round to nearest even
        }
      }
      out.set(new Uint8Array(u16.buffer), p);
    }
    p += n * bytes;
  }
  fs.writeFileSync(file, out);
}

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);
/** IEEE half from float, round to nearest even. */
export function f32ToF16(v: number): number {
  f32buf[0] = v;
  return f32BitsToF16(u32buf[0]);
}

/** IEEE half from the bits of an IEEE single, round to nearest even (NaN → quiet NaN of the same sign). */
function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  let exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  exp = exp - 127 + 15;
  if (exp >= 0x1f) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    let h = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (exp << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/**
 * A whole array to IEEE half (round to nearest even), the same values as f32ToF16 element by element: the bits are
 * read through a Uint32Array view; values in the normal half range (biased fp32 exponent 113…142) take an inline
 * path, the rest (zeros, subnormals, overflow, Inf/NaN) go through f32BitsToF16.
 */
export function f32ArrayToF16(a: Float32Array, out: Uint16Array = new Uint16Array(a.length)): Uint16Array {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const n = a.length;
  for (let i = 0; i < n; i++) {
    const x = u[i];
    const exp = (x >>> 23) & 0xff;
    if (exp >= 113 && exp <= 142) {
      let h = ((exp - 112) << 10) | ((x & 0x7fffff) >>> 13);
      const rem = x & 0x1fff;
      if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry out of the mantissa bumps the exponent (to Inf at the top): correct
      out[i] = ((x >>> 16) & 0x8000) | h;
    } else out[i] = f32BitsToF16(x);
  }
  return out;
}

/** The entry as a RawTensor: bytes read at its offset only when asked. */
export function rawFromEntry(e: SafetensorsEntry): import('./raw').RawTensor {
  return {
    name: e.name,
    file: e.file,
    dtype: e.dtype,
    shape: e.shape,
    byteLength: e.length,
    read() {
      return readEntryBytes(e);
    },
    withRanges(fn) {
      return withFd(e.file, (fd) => fn((start, dst) => readEntryRange(e, fd, start, dst)));
    },
    locate: () => e.offset,
  };
}
