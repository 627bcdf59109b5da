/**
 * Minimal lazy ZIP reader for pytorch_model.bin (torch.save writes a ZIP64-capable archive of stored,
 * uncompressed entries). We read only the central directory, then each entry at its offset when asked, so
 * multi-GB checkpoints are never read whole; deflated entries (rare: a re-zipped file) go through fflate.
 */
import fs from 'node:fs';
import { inflateSync } from 'fflate';
import { LabError } from '../api/errors';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

function bad(file: string, problem: string): LabError {
  return new LabError('BAD_CHECKPOINT', `${file}: ${problem}`);
}

function readAt(fd: number, pos: number, len: number, file: string, what: string): Buffer {
  const b = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const n = fs.readSync(fd, b, got, Math.min(len - got, 1 << 30), pos + got);
    if (n <= 0) throw bad(file, `${what} is cut short at byte ${pos + got} (truncated zip?)`);
    got += n;
  }
  return b;
}

const u64 = (b: Buffer, o: number) => Number(b.readBigUInt64LE(o));

export function readZipDirectory(file: string): ZipEntry[] {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    if (size < 22) throw bad(file, `only ${size} bytes: not a zip archive (truncated?)`);
    const tailLen = Math.min(size, 65557);
    const tail = readAt(fd, size - tailLen, tailLen, file, 'end of archive');
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--)
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    if (eocd < 0) throw bad(file, 'no zip end-of-directory record: the file is truncated or is not a zip archive');
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || tail.readUInt32LE(loc) !== 0x07064b50) throw bad(file, 'zip64 locator missing (damaged zip)');
      const z64off = u64(tail, loc + 8);
      const z = readAt(fd, z64off, 56, file, 'zip64 directory record');
      if (z.readUInt32LE(0) !== 0x06064b50) throw bad(file, 'zip64 directory record damaged');
      count = u64(z, 32);
      cdSize = u64(z, 40);
      cdOffset = u64(z, 48);
    }
    if (cdOffset + cdSize > size) throw bad(file, `zip directory claims bytes ${cdOffset}..${cdOffset + cdSize} of a ${size}-byte file (truncated zip?)`);
    const cd = readAt(fd, cdOffset, cdSize, file, 'zip directory');
    const out: ZipEntry[] = [];
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== 0x02014b50) throw bad(file, `zip directory entry ${i} is damaged`);
      const method = cd.readUInt16LE(p + 10);
      let compressedSize = cd.readUInt32LE(p + 20);
      let sz = cd.readUInt32LE(p + 24);
      const nl = cd.readUInt16LE(p + 28);
      const el = cd.readUInt16LE(p + 30);
      const cl = cd.readUInt16LE(p + 32);
      let localOffset = cd.readUInt32LE(p + 42);
      const name = cd.toString('utf8', p + 46, p + 46 + nl);
      // zip64 extra field: the 64-bit values of the fields that were 0xFFFFFFFF, in this order
      let e = p + 46 + nl;
      const eEnd = e + el;
      while (e + 4 <= eEnd) {
        const id = cd.readUInt16LE(e);
        const len = cd.readUInt16LE(e + 2);
        if (id === 1) {
          let q = e + 4;
          if (sz === 0xffffffff) {
            sz = u64(cd, q);
            q += 8;
          }
          if (compressedSize === 0xffffffff) {
            compressedSize = u64(cd, q);
            q += 8;
          }
          if (localOffset === 0xffffffff) localOffset = u64(cd, q);
        }
        e += 4 + len;
      }
      out.push({ name, method, compressedSize, size: sz, localOffset });
      p += 46 + nl + el + cl;
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** Where an entry's (possibly compressed) bytes start: after its local header, whose name and extra lengths vary. */
function dataStart(fd: number, file: string, e: ZipEntry): number {
  const lh = readAt(fd, e.localOffset, 30, file, `zip entry '${e.name}'`);
  if (lh.readUInt32LE(0) !== 0x04034b50) throw bad(file, `zip entry '${e.name}' has a damaged local header`);
  const start = e.localOffset + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28);
  if (start + e.compressedSize > fs.fstatSync(fd).size) throw bad(file, `zip entry '${e.name}' is cut short (truncated zip?)`);
  return start;
}

/** The file offset of a stored (uncompressed) entry's bytes, so they can be used in place; undefined when compressed. */
export function storedEntryOffset(file: string, e: ZipEntry): number | undefined {
  if (e.method !== 0) return undefined;
  const fd = fs.openSync(file, 'r');
  try {
    return dataStart(fd, file, e);
  } finally {
    fs.closeSync(fd);
  }
}

export function readZipEntry(file: string, e: ZipEntry): Uint8Array {
  const fd = fs.openSync(file, 'r');
  try {
    const start = dataStart(fd, file, e);
    const data = readAt(fd, start, e.compressedSize, file, `zip entry '${e.name}'`);
    if (e.method === 0) return data;
    if (e.method === 8) {
      // Issue 19 (decompression bombs): inflate into a buffer one byte longer than the size the directory declares,
      // so memory stays bounded by that size (which callers check against what they expect) and a stream that
      // inflates to more, or less, is refused.
      let out: Uint8Array;
      try {
        out = inflateSync(data, { out: new Uint8Array(e.size + 1) });
      } catch (err) {
        throw bad(file, `zip entry '${e.name}' cannot be inflated (${(err as Error).message})`);
      }
      if (out.length !== e.size)
        throw bad(file, `zip entry '${e.name}' inflates to ${out.length > e.size ? 'more than' : 'only'} ${out.length > e.size ? e.size : out.length} bytes, but the zip directory declares ${e.size}: refused (damaged, or a decompression bomb)`);
      return out;
    }
    throw bad(file, `zip entry '${e.name}' uses compression method ${e.method} (only stored and deflate are read)`);
  } finally {
    fs.closeSync(fd);
  }
}
