// The graph cache and the in-place weights (issue 15): cached graphs point into the checkpoint's own safetensors and
// no copy of the weights is written; only unavoidable conversions are, once; an entry in use is never evicted; a limit
// that cannot be met is refused with a message naming the size and the setting; a damaged entry is rebuilt.
import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataLocation } from 'onnx-buf';
import { writeTinyCheckpoint } from '../checkpoint/testing/tiny';
import { loadCheckpoint } from '../checkpoint/index';
import { readSafetensorsHeader, readShardedSafetensors } from '../checkpoint/safetensors';
import { createRunner } from './index';
import { CACHE_LIMIT_ENV, GraphCache, parseSize } from './graph-cache';
import { planWeights } from '../graph/weights';
import { diskFacts } from './graph-store';
import { createReferenceRunner } from '../../test/reference/forward';
import type { LoadedCheckpoint } from '../checkpoint/types';

const tmpDir = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));
const ids = Int32Array.from({ length: 10 }, (_, i) => (i * 37) % 256);
const req = { ids, batch: 1, seqLen: 10, mode: { kind: 'dense' } as const };
const base = req;

async function checkNll(ckpt: LoadedCheckpoint, cacheDir: string | undefined, tol = 1e-4): Promise<void> {
  const req = { ...base, ids: base.ids.map((i) => i % ckpt.spec.vocabSize) };
  const want = (await createReferenceRunner(ckpt).forward(req)).nll;
  const r = await createRunner(ckpt, { provider: 'cpu', ...(cacheDir ? { cacheDir } : {}) });
  try {
    const got = (await r.forward(req)).nll;
    got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(tol));
  } finally {
    await r.dispose();
  }
}

/** every external initializer of the cached graphs: the real file it reads, at which offset, how many bytes */
function externalRefs(cacheDir: string): { name: string; file: string; offset: number; length: number }[] {
  const out: { name: string; file: string; offset: number; length: number }[] = [];
  for (const e of new GraphCache(cacheDir).entries()) {
    const g = path.join(e.dir, 'graph.onnx');
    if (!fs.existsSync(g)) continue;
    const m = fromBinary(ModelProtoSchema, fs.readFileSync(g));
    for (const t of m.graph!.initializer) {
      if (t.dataLocation !== TensorProto_DataLocation.EXTERNAL) continue;
      const kv = Object.fromEntries(t.externalData.map((x) => [x.key, x.value]));
      out.push({ name: t.name, file: kv.location, offset: Number(kv.offset), length: Number(kv.length) });
    }
  }
  return out;
}

describe('weights in place', () => {
  test.each(['safetensors', 'sharded'] as const)('fp32 %s checkpoint: the graph points into its own files, no weights copy, NLL unchanged', async (format) => {
    const tmp = tmpDir('slab-inplace-');
    const cacheDir = path.join(tmp, 'cache');
    const dir = writeTinyCheckpoint(path.join(tmp, 'm'), 'llama', { activation: 'silu', seed: 4, format });
    const ckpt = await loadCheckpoint(dir);
    await checkNll(ckpt, cacheDir);
    const all = new GraphCache(cacheDir).entries();
    // one graph and the CETT column norms (derived, L·d_f floats); no converted-weights entry
    expect(all.map((e) => fs.readdirSync(e.dir).sort().join(',')).sort()).toEqual(['entry.json,graph.data,graph.onnx', 'entry.json,lengths.json,values.f32']);
    const entries = all.filter((e) => fs.existsSync(path.join(e.dir, 'graph.onnx')));
    // the stored tensors, by file and offset, as the safetensors headers give them
    const headers = format === 'sharded' ? readShardedSafetensors(path.join(dir, 'model.safetensors.index.json')) : readSafetensorsHeader(path.join(dir, 'model.safetensors'));
    // locations are relative to the deepest folder holding checkpoint and cache (here tmp)
    const intoCkpt = externalRefs(cacheDir).filter((r) => !r.file.endsWith('graph.data'));
    const weightBytes = headers.reduce((a, h) => a + h.length, 0);
    // every checkpoint tensor is read from its own bytes: its safetensors file, offset and length
    expect(intoCkpt.reduce((a, r) => a + r.length, 0)).toBe(weightBytes);
    for (const r of intoCkpt) {
      const file = path.join(fs.realpathSync(tmp), r.file);
      const h = headers.find((x) => x.offset === r.offset && x.length === r.length && fs.realpathSync(x.file) === file);
      expect(h, `${r.name} → ${r.file}@${r.offset}`).toBeDefined();
    }
    // what the cache holds is small beside the weights (graph + rope/causal tables)
    expect(entries[0].bytes).toBeLessThan(weightBytes);
    expect(planWeights(ckpt, { dtype: 'float32' }).convertedBytes).toBe(0);
  });

  test('fp16 checkpoint on the CPU: matrices stay in place 16-bit; only the fp32 output projection is written, once', async () => {
    const tmp = tmpDir('slab-inplace16-');
    const cacheDir = path.join(tmp, 'cache');
    const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'm'), 'llama', { activation: 'relu', seed: 6, dtype: 'F16', tie: false }));
    await checkNll(ckpt, cacheDir);
    const plan = planWeights(ckpt, { dtype: 'float32', halfWeights: true });
    // converted: the output projection (kept fp32 for speed) and the small norm vectors; every matrix in place
    expect(plan.conversions.map((c) => c.reason).sort()).toEqual(['fp16 → fp32', 'fp16 → fp32 (output projection)']);
    const s = ckpt.spec;
    const vectors = [...ckpt.weights.values()].filter((t) => t.shape.length === 1).reduce((a, t) => a + t.shape[0] * 4, 0);
    expect(plan.convertedBytes).toBe(s.vocabSize * s.hiddenSize * 4 + vectors);
    expect([...plan.tensors.values()].filter((p) => p.dims.length === 2 && p.name !== 'lm_head.weight').every((p) => p.place?.dtype === 'float16')).toBe(true);
    const weights = new GraphCache(cacheDir).entries().find((e) => fs.existsSync(path.join(e.dir, 'weights.data')))!;
    const written = fs.statSync(path.join(weights.dir, 'weights.data')).size; // each tensor page-aligned
    const n = [...plan.tensors.values()].filter((p) => p.reason).length;
    expect(written).toBeGreaterThanOrEqual(plan.convertedBytes);
    expect(written).toBeLessThan(plan.convertedBytes + 4096 * n);
    // a second runner (another mask mode too) reuses it: still one converted copy
    const r = await createRunner(ckpt, { provider: 'cpu', cacheDir });
    await r.forward({ ...req, mode: { kind: 'fat', eps: 0.01 } });
    // the column norms come back from the cache, equal to a fresh computation
    const ref = createReferenceRunner(ckpt).colNorms;
    r.colNorms.forEach((c, l) => c.forEach((x, i) => expect(Math.abs(x - ref[l][i])).toBeLessThan(1e-5 * Math.max(1, ref[l][i]))));
    await r.dispose();
    expect(new GraphCache(cacheDir).entries().filter((e) => fs.existsSync(path.join(e.dir, 'weights.data')))).toHaveLength(1);
  });

  test("the GPU path on the CPU: fp16 checkpoint, fp16 fused graph, every tensor in place, nothing converted", async () => {
    const tmp = tmpDir('slab-inplace-gpu-');
    const cacheDir = path.join(tmp, 'cache');
    const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'm'), 'llama', { activation: 'silu', seed: 12, dtype: 'F16', tie: true }));
    expect(planWeights(ckpt, { dtype: 'float16' }).convertedBytes).toBe(0);
    const q = { ...req, ids: req.ids.map((i) => i % ckpt.spec.vocabSize) };
    const want = (await createReferenceRunner(ckpt).forward(q)).nll;
    const r = await createRunner(ckpt, { provider: 'cpu', dtype: 'float16', fused: true, cacheDir });
    const got = (await r.forward(q)).nll;
    await r.dispose();
    got.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(2e-2 * Math.max(1, Math.abs(want[i]))));
    expect(new GraphCache(cacheDir).entries().filter((e) => fs.existsSync(path.join(e.dir, 'weights.data')))).toEqual([]);
  });

  test('gpt2 (Conv1D [in,out] used as stored, fused q|k|v converted) and no cache dir: same NLL', async () => {
    const tmp = tmpDir('slab-inplace-gpt2-');
    const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'm'), 'gpt2', { activation: 'gelu_tanh', seed: 9 }));
    const plan = planWeights(ckpt, { dtype: 'float32' });
    expect(plan.conversions.map((c) => c.reason)).toEqual(['not stored as one contiguous range (split, strided or compressed)']);
    expect([...plan.tensors.values()].filter((p) => p.place?.transposed).map((p) => p.name.replace(/^layers\.\d+\./, ''))).toContain('mlp.up.weight');
    await checkNll(ckpt, undefined);
    await checkNll(ckpt, path.join(tmp, 'cache'));
  });

  test('pytorch_model.bin: contiguous storages (torch.save stores them uncompressed) are used in place too', async () => {
    const ckpt = await loadCheckpoint(path.resolve('test/fixtures/checkpoints/torch-minicpm'));
    const plan = planWeights(ckpt, { dtype: 'float32', halfWeights: true });
    const inBin = [...plan.tensors.values()].filter((p) => p.place?.file.endsWith('pytorch_model.bin'));
    expect(inBin.filter((p) => /mlp\.(gate|up|down)\.weight$/.test(p.name))).toHaveLength(3 * ckpt.spec.numLayers);
    // the bytes at those offsets are the tensors' values (the graph reads them as they are)
    for (const p of inBin) {
      const raw = Buffer.alloc(p.place!.length);
      const fd = fs.openSync(p.place!.file, 'r');
      fs.readSync(fd, raw, 0, raw.length, p.place!.offset);
      fs.closeSync(fd);
      const want = ckpt.weights.get(p.src)!.toFloat32();
      const got = new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2);
      expect(Array.from(got, (b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0])).toEqual(Array.from(want));
    }
    await checkNll(ckpt, path.join(tmpDir('slab-bin-'), 'cache'));
  });

  test('a damaged cached graph or converted-weights file is rebuilt, not trusted', async () => {
    const tmp = tmpDir('slab-damaged-');
    const cacheDir = path.join(tmp, 'cache');
    const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'm'), 'llama', { activation: 'silu', seed: 8, dtype: 'BF16', tie: true }));
    await checkNll(ckpt, cacheDir);
    for (const e of new GraphCache(cacheDir).entries()) for (const f of ['graph.onnx', 'weights.data']) if (fs.existsSync(path.join(e.dir, f))) fs.writeFileSync(path.join(e.dir, f), Buffer.alloc(16));
    await checkNll(ckpt, cacheDir);
    expect(new GraphCache(cacheDir).clear()).toBe(3); // graph, converted weights, column norms
    expect(new GraphCache(cacheDir).entries()).toEqual([]);
  });

  test('conversions a limit cannot hold are refused before anything is written, naming the size and the setting', async () => {
    const tmp = tmpDir('slab-refuse-');
    const cacheDir = path.join(tmp, 'cache');
    const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'm'), 'llama', { activation: 'silu', seed: 2, dtype: 'F16', tie: false }));
    const r = await createRunner(ckpt, { provider: 'cpu', cacheDir, cacheLimitBytes: 1000 });
    await expect(r.forward(req)).rejects.toThrow(new RegExp(`limited to 1\\.0 KiB \\(setting: ${CACHE_LIMIT_ENV}.*needs \\d+\\.\\d KiB`));
    await r.dispose();
    expect(new GraphCache(cacheDir).entries().filter((e) => !fs.existsSync(path.join(e.dir, 'values.f32')))).toEqual([]);
  });
});

test("the card's disk facts: bytes on disk, what each graph reads in place and what it writes", async () => {
  const tmp = tmpDir('slab-disk-');
  const dir = writeTinyCheckpoint(path.join(tmp, 'm'), 'llama', { activation: 'silu', seed: 5, tie: false });
  const ckpt = await loadCheckpoint(dir);
  const d = diskFacts(ckpt);
  const file = path.join(dir, 'model.safetensors');
  expect(d.weightBytes).toBe(fs.statSync(file).size);
  const data = readSafetensorsHeader(file).reduce((a, h) => a + h.length, 0);
  const [cpu, gpu] = d.graphs;
  expect([cpu.target, cpu.dtype, cpu.inPlaceBytes, cpu.convertedBytes]).toEqual(['cpu', 'float32', data, 0]);
  expect([gpu.target, gpu.dtype, gpu.inPlaceBytes, gpu.convertedBytes]).toEqual(['gpu', 'float16', 0, data / 2]);
  expect(gpu.conversions.map((c) => c.reason).sort()).toEqual(['fp32 → fp16', 'fp32 → fp16 (output projection)']);
  expect(gpu.conversions.reduce((a, c) => a + c.tensors, 0)).toBe(ckpt.weights.size);
});

describe('GraphCache', () => {
  const write = (n: number) => (dir: string) => fs.writeFileSync(path.join(dir, 'blob'), Buffer.alloc(n));
  const deadPid = () => {
    const p = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    return Number(p.stdout);
  };

  test('an entry in use is never evicted; released ones go oldest first; stale leases of dead processes do not hold', () => {
    const c = new GraphCache(tmpDir('slab-gc-'), 3000);
    const a = c.open(GraphCache.key('a'), 1000, write(1000));
    const b = c.open(GraphCache.key('b'), 1000, write(1000));
    b.release();
    // c needs room: b (released) is evicted, a (in use) stays although it is the oldest
    const d = c.open(GraphCache.key('c'), 1500, write(1500));
    expect(fs.existsSync(path.join(a.dir, 'blob'))).toBe(true);
    expect(fs.existsSync(b.dir)).toBe(false);
    expect(c.entries().map((e) => e.key).sort()).toEqual([a.key, d.key].sort());
    // prune and clear leave held entries alone
    expect(c.prune(0)).toBe(0);
    expect(c.clear()).toBe(0);
    expect(() => c.remove(a.key)).not.toThrow(); // this process may drop its own (damaged) entry
    a.release();
    // a lease file of a process that has exited does not hold an entry
    d.release();
    fs.writeFileSync(path.join(c.dir, 'leases', `${d.key}.${deadPid()}`), '');
    expect(c.entries().find((e) => e.key === d.key)!.users).toEqual([]);
    expect(fs.readdirSync(path.join(c.dir, 'leases'))).toEqual([]);
    expect(c.clear()).toBe(1);
  });

  test('a limit that cannot be met is refused with the sizes and the setting; nothing is written', () => {
    const c = new GraphCache(tmpDir('slab-gc-'), 2048);
    expect(() => c.open(GraphCache.key('big'), 4096, write(4096))).toThrow(`limited to 2.0 KiB (setting: ${CACHE_LIMIT_ENV}, e.g. ${CACHE_LIMIT_ENV}=64G); this entry needs 4.0 KiB`);
    const held = c.open(GraphCache.key('held'), 1500, write(1500));
    expect(() => c.open(GraphCache.key('more'), 1000, write(1000))).toThrow('this entry needs 1.0 KiB and entries in use hold 1.5 KiB');
    expect(c.entries().map((e) => e.key)).toEqual([held.key]);
    expect(fs.readdirSync(c.dir).filter((f) => f.startsWith('.'))).toEqual([]);
    held.release();
  });

  test('a graph written over the limit by a bad estimate stays while in use (the old prune deleted it: "File doesn\'t exist")', () => {
    const c = new GraphCache(tmpDir('slab-gc-'), 1000);
    const e = c.open(GraphCache.key('x'), 10, write(5000));
    expect(fs.statSync(path.join(e.dir, 'blob')).size).toBe(5000);
    c.prune();
    expect(fs.existsSync(path.join(e.dir, 'blob'))).toBe(true);
    e.release();
    expect(c.prune()).toBe(1);
  });

  test('a second open of a held entry shares it; a failed build leaves nothing behind', () => {
    const c = new GraphCache(tmpDir('slab-gc-'), 1e6);
    let builds = 0;
    const k = GraphCache.key('k');
    const a = c.open(k, 10, (d) => (builds++, write(10)(d)));
    const b = c.open(k, 10, (d) => (builds++, write(10)(d)));
    expect(builds).toBe(1);
    a.release();
    expect(c.users(k)).toEqual([process.pid]); // b still holds it
    b.release();
    expect(c.users(k)).toEqual([]);
    expect(() =>
      c.open(GraphCache.key('bad'), 10, () => {
        throw new Error('build failed');
      }),
    ).toThrow('build failed');
    expect(fs.readdirSync(c.dir).sort()).toEqual([k, 'leases']);
  });

  test('openAsync: a build in progress is waited for by a second open of the same entry (one build); a failed one leaves nothing', async () => {
    const c = new GraphCache(tmpDir('slab-gc-'), 1e6);
    const k = GraphCache.key('async');
    let builds = 0;
    let finish!: () => void;
    const slow = (d: string) =>
      new Promise<void>((resolve) => {
        builds++;
        fs.writeFileSync(path.join(d, 'half'), 'x'); // written while the build is still going
        finish = () => (write(10)(d), resolve());
      });
    const a = c.openAsync(k, 10, slow);
    await new Promise((r) => setTimeout(r, 10));
    expect(fs.readdirSync(c.dir).filter((f) => f.startsWith('.staging-'))).toHaveLength(1); // only staged: no entry yet
    expect(c.has(k)).toBe(false);
    const b = c.openAsync(k, 10, slow);
    await new Promise((r) => setTimeout(r, 10));
    finish();
    const [la, lb] = await Promise.all([a, b]);
    expect(builds).toBe(1);
    expect(fs.readdirSync(la.dir).sort()).toEqual(['blob', 'entry.json', 'half']);
    expect(lb.dir).toBe(la.dir);
    la.release();
    lb.release();
    await expect(
      c.openAsync(GraphCache.key('bad'), 10, async (d) => {
        fs.writeFileSync(path.join(d, 'partial'), 'x');
        await new Promise((r) => setTimeout(r, 5));
        throw new Error('cancelled midway');
      }),
    ).rejects.toThrow('cancelled midway');
    expect(fs.readdirSync(c.dir).sort()).toEqual([k, 'leases']);
    expect(c.users(GraphCache.key('bad'))).toEqual([]);
  });

  test('sizes parse as the setting is written', () => {
    expect([parseSize('64G'), parseSize('1.5g'), parseSize('500M'), parseSize('123'), parseSize('2TiB'), parseSize('x')]).toEqual([64 * 2 ** 30, 1.5 * 2 ** 30, 500 * 2 ** 20, 123, 2 * 2 ** 40, undefined]);
  });
});

test('a build that cannot write (disk full, no permission) is one clear error naming the cache folder; what it wrote is removed', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-cache-full-'));
  const cache = new GraphCache(dir);
  // what fs throws when the disk is full in the middle of a file
  const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
  const build = (into: string) => {
    fs.writeFileSync(path.join(into, 'model.onnx'), 'half');
    throw full;
  };
  const said = `the graph cache (${dir}) cannot take this model's graphs: disk full (ENOSPC: no space left on device, write). Free some space there or make it writable, then run again.`;
  expect(() => cache.open(GraphCache.key({ a: 1 }), 10, build)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED', message: said }));
  await expect(cache.openAsync(GraphCache.key({ a: 2 }), 10, async (into) => build(into))).rejects.toMatchObject({ code: 'UNSUPPORTED', message: said });
  const denied = Object.assign(new Error("EACCES: permission denied, open 'x'"), { code: 'EACCES' });
  expect(() => cache.open(GraphCache.key({ a: 3 }), 10, () => { throw denied; })).toThrow(/cannot take this model's graphs: permission denied \(EACCES/);
  // other failures pass as they are
  const other = new Error('graph builder: unsupported op');
  expect(() => cache.open(GraphCache.key({ a: 4 }), 10, () => { throw other; })).toThrow(other);
  expect(cache.entries()).toEqual([]);
  expect(fs.readdirSync(dir).filter((n) => n !== 'leases')).toEqual([]); // no staging folder left
  fs.rmSync(dir, { recursive: true, force: true });
});
