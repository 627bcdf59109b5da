/**
 * A checkpoint's content hash: 64 hex digits over the bytes of its files (config + weights), streamed; cached in
 * memory by path + size + mtime. It keys the graph cache (main/inference/graph-cache.ts) and identifies a checkpoint
 * in session files, so it depends on the contents only (not on paths or mtimes: a copy on another machine hashes the
 * same) and changes whenever any byte changes.
 *
 * Why not SHA-256 over everything: it runs at ~220 MB/s on the dev box (no SHA extensions), 1.4 s of the 0.1B fp16
 * compile benchmark and ~30 s for a 7B checkpoint. Each file's bytes go through `LaneHash` instead (~1 GB/s in
 * plain JS), and SHA-256 frames the result: sha256(for each file: name, size, LaneHash(bytes)).
 *
 * LaneHash (scheme "lanes256"): the bytes as little-endian 32-bit words, word i into lane i mod 8, each lane the
 * xxHash32 round acc ← rotl(acc + w·P2, 13)·P1. For a fixed word the round is a bijection of acc, and for a fixed
 * acc a bijection of w, so changing any one word (any byte) always changes that lane's final state, and every later
 * round keeps it different: a single changed byte, word or run of words in one lane can never go unnoticed. Changes
 * touching several words of one lane collide with probability ~2⁻³² (for that lane), changes spread over all eight
 * lanes ~2⁻²⁵⁶. Not cryptographic: a collision can be crafted on purpose; the graph cache is the user's own directory,
 * where a crafted file could as well be the cached graph itself, so that threat is out of scope.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { checkInterrupted } from './interrupt';
import { writeFileAtomic } from '../base/atomic-write';
import { readOwnJson } from '../base/regular-file';

const P1 = 0x9e3779b1 | 0;
const P2 = 0x85ebca77 | 0;
const P3 = 0xc2b2ae3d | 0;
const SEED = [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0x082efa98, 0xec4e6c89];

/** The round over whole 32-byte stripes: u.length must be a multiple of 8. */
function lanes(u: Uint32Array, s: Int32Array): void {
  let a0 = s[0];
  let a1 = s[1];
  let a2 = s[2];
  let a3 = s[3];
  let a4 = s[4];
  let a5 = s[5];
  let a6 = s[6];
  let a7 = s[7];
  const n = u.length;
  for (let i = 0; i < n; i += 8) {
    a0 = (a0 + Math.imul(u[i], P2)) | 0;
    a0 = Math.imul((a0 << 13) | (a0 >>> 19), P1);
    a1 = (a1 + Math.imul(u[i + 1], P2)) | 0;
    a1 = Math.imul((a1 << 13) | (a1 >>> 19), P1);
    a2 = (a2 + Math.imul(u[i + 2], P2)) | 0;
    a2 = Math.imul((a2 << 13) | (a2 >>> 19), P1);
    a3 = (a3 + Math.imul(u[i + 3], P2)) | 0;
    a3 = Math.imul((a3 << 13) | (a3 >>> 19), P1);
    a4 = (a4 + Math.imul(u[i + 4], P2)) | 0;
    a4 = Math.imul((a4 << 13) | (a4 >>> 19), P1);
    a5 = (a5 + Math.imul(u[i + 5], P2)) | 0;
    a5 = Math.imul((a5 << 13) | (a5 >>> 19), P1);
    a6 = (a6 + Math.imul(u[i + 6], P2)) | 0;
    a6 = Math.imul((a6 << 13) | (a6 >>> 19), P1);
    a7 = (a7 + Math.imul(u[i + 7], P2)) | 0;
    a7 = Math.imul((a7 << 13) | (a7 >>> 19), P1);
  }
  s[0] = a0;
  s[1] = a1;
  s[2] = a2;
  s[3] = a3;
  s[4] = a4;
  s[5] = a5;
  s[6] = a6;
  s[7] = a7;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Streaming LaneHash: update() with any split of the bytes gives the same digest. */
export class LaneHash {
  private s = Int32Array.from(SEED);
  private pending = new Uint8Array(32);
  private nPending = 0;
  private total = 0;

  update(bytes: Uint8Array): this {
    this.total += bytes.length;
    let p = 0;
    if (this.nPending) {
      const take = Math.min(32 - this.nPending, bytes.length);
      this.pending.set(bytes.subarray(0, take), this.nPending);
      this.nPending += take;
      p = take;
      if (this.nPending < 32) return this;
      this.stripes(this.pending, 0, 32);
      this.nPending = 0;
    }
    const whole = (bytes.length - p) & ~31;
    if (whole) this.stripes(bytes, p, whole);
    p += whole;
    this.pending.set(bytes.subarray(p), 0);
    this.nPending = bytes.length - p;
    return this;
  }

  private stripes(b: Uint8Array, at: number, len: number): void {
    const off = b.byteOffset + at;
    if (LITTLE_ENDIAN && off % 4 === 0) return lanes(new Uint32Array(b.buffer, off, len >>> 2), this.s);
    // unaligned (or big-endian): words through a DataView, in 1 MiB pieces
    const tmp = new Uint32Array(Math.min(len, 1 << 20) >>> 2);
    const dv = new DataView(b.buffer, off, len);
    for (let q = 0; q < len; q += tmp.length * 4) {
      const n = Math.min(tmp.length, (len - q) >>> 2);
      for (let i = 0; i < n; i++) tmp[i] = dv.getUint32(q + i * 4, true);
      lanes(tmp.subarray(0, n), this.s);
    }
  }

  /** 32 bytes: each lane's state, the tail (zero-padded) and the length folded in, then xxHash32's avalanche. */
  digest(): Uint8Array {
    const s = Int32Array.from(this.s);
    if (this.nPending) {
      const tail = new Uint8Array(32);
      tail.set(this.pending.subarray(0, this.nPending));
      const dv = new DataView(tail.buffer);
      lanes(Uint32Array.from({ length: 8 }, (_, i) => dv.getUint32(i * 4, true)), s);
    }
    const out = new Uint8Array(32);
    const dv = new DataView(out.buffer);
    const lo = this.total >>> 0;
    const hi = Math.floor(this.total / 2 ** 32) >>> 0;
    for (let j = 0; j < 8; j++) {
      let h = (s[j] ^ Math.imul(lo + j, P3) ^ hi) | 0;
      h = Math.imul(h ^ (h >>> 15), P2);
      h = Math.imul(h ^ (h >>> 13), P3);
      h ^= h >>> 16;
      dv.setUint32(j * 4, h >>> 0, true);
    }
    return out;
  }
}

const hashCache = new Map<string, string>();
const CHUNK = 8 << 20;

/** LaneHash of one file's bytes, read in 8 MiB chunks into one reused buffer. */
async function hashFile(file: string, buf: Buffer): Promise<{ size: number; digest: Uint8Array }> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const h = new LaneHash();
    let size = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, size);
      if (bytesRead <= 0) break;
      checkInterrupted(); // an open abandoned in its worker stops here, and the finally below closes the file
      h.update(buf.subarray(0, bytesRead));
      size += bytesRead;
    }
    return { size, digest: h.digest() };
  } finally {
    await fh.close();
  }
}

/**
 * Per-file digests kept on disk between runs (issue 15: a 7B checkpoint's 13.5 GB are otherwise read at every open),
 * keyed by the file's real path and validated by its stat: device, inode, size, mtime and ctime. ctime changes on every
 * write to the file and cannot be set back by utimes, so a changed file is always hashed again (git's index does the
 * same). The hashes are those of the full read: the memo only skips recomputing them.
 */
interface MemoEntry {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  digest: string;
}
let memoFile: string | undefined;
let memo: Map<string, MemoEntry> | undefined;
const MEMO_MAX = 4096;

/** Where the digest memo lives (the engine puts it in its cache folder); undefined: none (every process hashes anew). */
export function useHashMemo(file: string | undefined): void {
  memoFile = file;
  memo = undefined;
}

/** The memo file in use (a checkpoint worker shares it, open.ts); calling useHashMemo with it again re-reads it. */
export function hashMemoFile(): string | undefined {
  return memoFile;
}

function memoMap(): Map<string, MemoEntry> | undefined {
  if (!memoFile) return undefined;
  if (!memo) {
    memo = new Map();
    try {
      // a FIFO in its place blocked every open for ever (readOwnJson: regular files only, size-capped)
      const raw = (readOwnJson(memoFile, 256 * 2 ** 20) ?? {}) as Record<string, MemoEntry>;
      for (const [k, v] of Object.entries(raw))
        if (v && typeof v === 'object' && typeof v.digest === 'string' && /^[0-9a-f]{64}$/.test(v.digest)) memo.set(k, v);
    } catch {
      /* none yet, or unreadable: start empty (it is only a memo) */
    }
  }
  return memo;
}

function saveMemo(m: Map<string, MemoEntry>): void {
  try {
    const keep = [...m.entries()].slice(-MEMO_MAX);
    fs.mkdirSync(path.dirname(memoFile!), { recursive: true });
    writeFileAtomic(memoFile!, JSON.stringify(Object.fromEntries(keep))); // workers of one process write too (open.ts)
  } catch {
    /* a memo that cannot be written costs a re-hash next time, nothing else */
  }
}

function statKey(st: fs.Stats): Omit<MemoEntry, 'digest'> {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
}

export async function hashFiles(files: string[]): Promise<string> {
  const key = files
    .map((f) => {
      const st = fs.statSync(f);
      return `${f}:${st.size}:${st.mtimeMs}`;
    })
    .join('|');
  const hit = hashCache.get(key);
  if (hit) return hit;
  const h = crypto.createHash('sha256').update('lanes256\0');
  const buf = Buffer.allocUnsafeSlow(CHUNK); // its own ArrayBuffer: offset 0, so word-aligned
  const m = memoMap();
  let changed = false;
  for (const f of files) {
    const real = fs.realpathSync(f);
    const st = statKey(fs.statSync(real));
    const hit = m?.get(real);
    let size: number;
    let digest: Uint8Array;
    if (hit && (Object.keys(st) as (keyof typeof st)[]).every((k) => hit[k] === st[k])) {
      size = hit.size;
      digest = Buffer.from(hit.digest, 'hex');
    } else {
      ({ size, digest } = await hashFile(f, buf));
      if (m && size === st.size) {
        m.delete(real);
        m.set(real, { ...st, digest: Buffer.from(digest).toString('hex') });
        changed = true;
      }
    }
    h.update(path.basename(f)).update('\0').update(String(size)).update('\0').update(digest);
  }
  if (m && changed) saveMemo(m);
  const out = h.digest('hex');
  hashCache.set(key, out);
  return out;
}
