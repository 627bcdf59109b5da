// The content hash (hash.ts): LaneHash against a plain word-by-word re-implementation, split-independence, and the
// property the graph cache relies on: any changed byte changes the hash.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LaneHash, hashFiles, useHashMemo } from './hash';
import { loadCheckpoint } from './index';
import { writeTinyCheckpoint } from './testing/tiny';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-hash-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The scheme as written in hash.ts's comment, one word at a time through a DataView, with plain arithmetic. */
function reference(bytes: Uint8Array): string {
  const mul = (a: number, b: number) => Number((BigInt(a >>> 0) * BigInt(b >>> 0)) & 0xffffffffn);
  const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
  const P1 = 0x9e3779b1;
  const P2 = 0x85ebca77;
  const P3 = 0xc2b2ae3d;
  const acc = [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0x082efa98, 0xec4e6c89];
  const padded = new Uint8Array(Math.ceil(bytes.length / 32) * 32);
  padded.set(bytes);
  const dv = new DataView(padded.buffer);
  for (let i = 0; i < padded.length / 4; i++) {
    const j = i % 8;
    acc[j] = mul(rotl((acc[j] + mul(dv.getUint32(i * 4, true), P2)) >>> 0, 13), P1);
  }
  const lo = bytes.length >>> 0;
  const hi = Math.floor(bytes.length / 2 ** 32);
  return acc
    .map((a, j) => {
      let h = (a ^ mul(lo + j, P3) ^ hi) >>> 0;
      h = mul(h ^ (h >>> 15), P2);
      h = mul(h ^ (h >>> 13), P3);
      h = (h ^ (h >>> 16)) >>> 0;
      return [h & 0xff, (h >>> 8) & 0xff, (h >>> 16) & 0xff, h >>> 24].map((b) => b.toString(16).padStart(2, '0')).join('');
    })
    .join('');
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
function randomBytes(n: number, seed: number): Uint8Array {
  let s = seed >>> 0;
  return Uint8Array.from({ length: n }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24));
}

describe('LaneHash', () => {
  it('matches the plain re-implementation for every length 0…200 and a large buffer', () => {
    for (let n = 0; n <= 200; n++) {
      const b = randomBytes(n, n + 1);
      expect(hex(new LaneHash().update(b).digest()), `length ${n}`).toBe(reference(b));
    }
    const big = randomBytes(1 << 20, 99);
    expect(hex(new LaneHash().update(big).digest())).toBe(reference(big));
  });

  it('gives the same digest however the bytes are split, aligned or not', () => {
    const b = randomBytes(100_003, 7);
    const want = reference(b);
    for (const cuts of [[1], [31, 32, 33], [4096, 7], [3, 5, 7, 11, 13, 50_000]]) {
      const h = new LaneHash();
      let p = 0;
      for (let k = 0; p < b.length; k++) {
        const n = Math.min(cuts[k % cuts.length], b.length - p);
        h.update(b.subarray(p, p + n));
        p += n;
      }
      expect(hex(h.digest()), `cuts ${cuts}`).toBe(want);
    }
    // unaligned views of a larger buffer (the DataView path)
    const outer = new Uint8Array(b.length + 3);
    outer.set(b, 3);
    expect(hex(new LaneHash().update(outer.subarray(3)).digest())).toBe(want);
  });

  it('changes when any single byte changes (every byte of 4 KiB, three new values each) or the length changes', () => {
    const b = randomBytes(4096, 3);
    const base = hex(new LaneHash().update(b).digest());
    const seen = new Set([base]);
    for (let i = 0; i < b.length; i++)
      for (const x of [1, 0x80, 0xff]) {
        const c = b.slice();
        c[i] ^= x;
        const d = hex(new LaneHash().update(c).digest());
        expect(d === base, `byte ${i} ^ ${x}`).toBe(false);
        seen.add(d);
      }
    expect(seen.size).toBe(1 + 3 * 4096);
    expect(hex(new LaneHash().update(new Uint8Array(64)).digest())).not.toBe(hex(new LaneHash().update(new Uint8Array(65)).digest()));
  });
});

describe('hashFiles / contentHash', () => {
  it('depends on the contents only and changes with any weight byte', async () => {
    const a = writeTinyCheckpoint(path.join(tmp, 'a'), 'llama', { seed: 5, layers: 2 });
    const b = writeTinyCheckpoint(path.join(tmp, 'b'), 'llama', { seed: 5, layers: 2 });
    const ha = (await loadCheckpoint(a)).contentHash;
    expect(ha).toMatch(/^[0-9a-f]{64}$/);
    expect((await loadCheckpoint(b)).contentHash).toBe(ha); // same bytes elsewhere: same identity
    const f = path.join(b, 'model.safetensors');
    const buf = fs.readFileSync(f);
    for (const at of [buf.length - 1, Math.floor(buf.length / 2)]) {
      const c = Buffer.from(buf);
      c[at] ^= 1;
      fs.writeFileSync(f, c);
      expect(await hashFiles([path.join(b, 'config.json'), f]), `byte ${at}`).not.toBe(ha);
    }
  });
});

describe('the digest memo (useHashMemo)', () => {
  it('holds the digest of a full read, is used while the file is untouched, and is ignored once it is written to', async () => {
    const f = path.join(tmp, 'memo-weights.bin');
    const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff));
    fs.writeFileSync(f, bytes);
    const other = path.join(tmp, 'memo-other.bin'); // rewritten between calls: a fresh key for hashFiles' in-process cache
    const touch = async () => {
      await new Promise((r) => setTimeout(r, 15));
      fs.writeFileSync(other, 'y');
    };
    const memoFile = path.join(tmp, 'memo', 'hashes.json');
    useHashMemo(memoFile);
    try {
      await touch();
      await hashFiles([f, other]);
      const memo = JSON.parse(fs.readFileSync(memoFile, 'utf8')) as Record<string, { digest: string }>;
      expect(memo[fs.realpathSync(f)].digest).toBe(Buffer.from(new LaneHash().update(bytes).digest()).toString('hex'));
      // a forged digest is used as long as the file's stat is unchanged (the memo really saves the read) …
      memo[fs.realpathSync(f)].digest = 'ab'.repeat(32);
      fs.writeFileSync(memoFile, JSON.stringify(memo));
      useHashMemo(memoFile);
      await touch();
      const forged = await hashFiles([f, other]);
      useHashMemo(undefined);
      await touch();
      const truth = await hashFiles([f, other]);
      expect(forged).not.toBe(truth);
      // … and a write to the file (the same bytes: only its ctime and mtime move) makes it read the bytes again
      useHashMemo(memoFile);
      await touch();
      fs.writeFileSync(f, bytes);
      expect(await hashFiles([f, other])).toBe(truth);
    } finally {
      useHashMemo(undefined);
    }
  });
});
