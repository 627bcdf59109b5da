// NaN/Inf counting on stored bits (finite.ts) against decoding each value with a DataView, and the loader's notice
// for fp16, bf16 and fp32 checkpoints with planted NaN/Inf.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { countNonFinite } from './finite';
import { loadCheckpoint } from './index';
import { readSafetensorsHeader } from './safetensors';
import { writeTinyCheckpoint } from './testing/tiny';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-finite-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const SIZE: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
/** Decode every value the slow, obvious way and count the non-finite ones. */
function reference(dtype: string, b: Uint8Array): number {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = Math.floor(b.byteLength / SIZE[dtype]);
  let bad = 0;
  for (let i = 0; i < n; i++) {
    let v: number;
    if (dtype === 'F32') v = dv.getFloat32(i * 4, true);
    else if (dtype === 'F64') v = dv.getFloat64(i * 8, true);
    else if (dtype === 'BF16') {
      const t = new DataView(new ArrayBuffer(4));
      t.setUint32(0, dv.getUint16(i * 2, true) << 16);
      v = t.getFloat32(0);
    } else {
      const h = dv.getUint16(i * 2, true);
      const e = (h >> 10) & 31;
      v = e === 31 ? ((h & 0x3ff) === 0 ? Infinity : NaN) : 1; // an f16 is non-finite iff its exponent is 31
    }
    if (!Number.isFinite(v)) bad++;
  }
  return bad;
}

function random(n: number, seed: number): Uint8Array {
  let s = seed >>> 0;
  return Uint8Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24));
}

/** Plants NaN/±Inf of `dtype` at `at` (element indices). */
function plant(dtype: string, b: Uint8Array, at: number[]): void {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  at.forEach((i, k) => {
    const kind = k % 3; // NaN, +Inf, -Inf
    if (dtype === 'F32') dv.setFloat32(i * 4, [NaN, Infinity, -Infinity][kind], true);
    else if (dtype === 'F64') dv.setFloat64(i * 8, [NaN, Infinity, -Infinity][kind], true);
    else if (dtype === 'F16') dv.setUint16(i * 2, [0x7e01, 0x7c00, 0xfc00][kind], true);
    else dv.setUint16(i * 2, [0x7fc1, 0x7f80, 0xff80][kind], true);
  });
}

describe('countNonFinite', () => {
  it('counts every 16-bit pattern right: 2048 of the 65536 fp16 and 256 of the bf16 patterns are NaN/Inf', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const b = new Uint8Array(all.buffer);
    expect(countNonFinite('F16', b)).toBe(2048);
    expect(countNonFinite('BF16', b)).toBe(256);
    expect(countNonFinite('F16', b)).toBe(reference('F16', b));
    expect(countNonFinite('BF16', b)).toBe(reference('BF16', b));
  });

  it('matches decoding value by value on random bits with planted NaN/Inf, odd lengths and unaligned views', () => {
    for (const dtype of ['F32', 'F16', 'BF16', 'F64']) {
      for (const n of [0, 1, 2, 3, 4097, 10_001]) {
        // random bits hold some NaN/Inf by chance (more so for bf16/fp16); planted ones add to them
        const b = random(n * SIZE[dtype], n + dtype.length);
        if (dtype === 'F32' || dtype === 'F64') {
          // keep chance hits rare but present: random exponents, then a few planted
          plant(dtype, b, n ? [0, n - 1, Math.floor(n / 2)].filter((v, i, a) => a.indexOf(v) === i) : []);
        } else plant(dtype, b, n ? [n - 1] : []);
        expect(countNonFinite(dtype, b), `${dtype} × ${n}`).toBe(reference(dtype, b));
        const outer = new Uint8Array(b.length + 1);
        outer.set(b, 1);
        expect(countNonFinite(dtype, outer.subarray(1)), `${dtype} × ${n}, unaligned`).toBe(reference(dtype, b));
      }
    }
  });

  it('finds a single NaN anywhere in a large clean fp16 buffer (the screened fast path)', () => {
    const n = 3 * 4096 * 2 + 5;
    for (const at of [0, 1, 4095 * 2, 4096 * 2, n - 2, n - 1]) {
      const b = new Uint8Array(n * 2); // zeros: finite
      plant('F16', b, [at]);
      expect(countNonFinite('F16', b), `at ${at}`).toBe(1);
    }
  });
});

describe('loader notices', () => {
  for (const dtype of ['F16', 'BF16', 'F32'] as const) {
    it(`${dtype} checkpoint: planted NaN/Inf are counted per tensor`, async () => {
      const dir = writeTinyCheckpoint(path.join(tmp, dtype), 'llama', { seed: 2, layers: 2, dtype });
      const f = path.join(dir, 'model.safetensors');
      const e = readSafetensorsHeader(f).find((x) => x.name === 'model.layers.1.mlp.down_proj.weight')!;
      const buf = fs.readFileSync(f);
      const sz = SIZE[dtype];
      const view = new Uint8Array(buf.buffer, buf.byteOffset + e.offset, e.length);
      plant(dtype, view, [0, 5, e.length / sz - 1]);
      fs.writeFileSync(f, buf);
      const c = await loadCheckpoint(dir);
      expect(c.notices.join('\n')).toMatch(/layers\.1\.mlp\.down\.weight' holds 3 NaN\/Inf values/);
      expect(c.notices.filter((x) => x.includes('NaN/Inf'))).toHaveLength(1);
      const w = c.weights.get('layers.1.mlp.down.weight')!;
      expect(w.nonFinite!()).toBe(Array.from(w.toFloat32()).filter((v) => !Number.isFinite(v)).length);
    });
  }
});
