// The on-disk graph cache: graphs + external weights written once, reused, a damaged entry rebuilt, clear() empties it.
import { expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeTinyCheckpoint } from '../checkpoint/testing/tiny';
import { loadCheckpoint } from '../checkpoint/index';
import { createRunner } from './index';
import { GraphCache } from './graph-cache';
import { createReferenceRunner } from '../../test/reference/forward';

test('cached graph with external data is reused, a damaged one rebuilt, and clear() removes both files', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-cache-'));
  const cacheDir = path.join(tmp, 'cache');
  const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'm'), 'gpt2', { activation: 'gelu_tanh', seed: 9 }));
  const ids = Int32Array.from({ length: 10 }, (_, i) => (i * 37) % 256);
  const req = { ids, batch: 1, seqLen: 10, mode: { kind: 'dense' } as const };
  const want = (await createReferenceRunner(ckpt).forward(req)).nll;
  const check = (nll: Float32Array) => nll.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-4));

  const r1 = await createRunner(ckpt, { provider: 'cpu', cacheDir });
  check((await r1.forward(req)).nll);
  await r1.dispose();
  const files = fs.readdirSync(cacheDir).sort();
  expect(files.filter((f) => f.endsWith('.onnx'))).toHaveLength(1);
  expect(files.filter((f) => f.endsWith('.onnx.data'))).toHaveLength(1);
  // the weights live in the .data file, not in the graph
  const onnx = path.join(cacheDir, files.find((f) => f.endsWith('.onnx'))!);
  expect(fs.statSync(`${onnx}.data`).size).toBeGreaterThan(10 * fs.statSync(onnx).size);

  // damage the cached weights: the next runner must rebuild, not crash or read garbage
  fs.writeFileSync(`${onnx}.data`, Buffer.alloc(16));
  const r2 = await createRunner(ckpt, { provider: 'cpu', cacheDir });
  check((await r2.forward(req)).nll);
  await r2.dispose();

  expect(new GraphCache(cacheDir).clear()).toBe(1);
  expect(fs.readdirSync(cacheDir)).toEqual([]);
});
