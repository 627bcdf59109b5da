// An .onnx decoder through loadCheckpoint + createRunner: same NLL, counts and column norms as the reference
// forward of the HF checkpoint it was exported from.
import { expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeTinyCheckpoint } from '../checkpoint/testing/tiny';
import { loadCheckpoint } from '../checkpoint/index';
import { buildLlamaGraph } from '../graph/llama-graph';
import { createReferenceRunner } from '../../test/reference/forward';
import { createRunner } from './index';

test('runner on an exported .onnx file matches the reference in dense and FAT modes', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-onnx-run-'));
  const hfDir = writeTinyCheckpoint(path.join(tmp, 'hf'), 'llama', { activation: 'relu', seed: 21 });
  const hf = await loadCheckpoint(hfDir);
  const onnxDir = path.join(tmp, 'onnx');
  fs.mkdirSync(onnxDir);
  for (const f of fs.readdirSync(hfDir)) if (f.endsWith('.json')) fs.copyFileSync(path.join(hfDir, f), path.join(onnxDir, f));
  fs.writeFileSync(path.join(onnxDir, 'model.onnx'), buildLlamaGraph(hf, { dtype: 'float32', mode: 'dense', capture: false, maxSeq: 64, plain: true }));
  const ckpt = await loadCheckpoint(path.join(onnxDir, 'model.onnx'));
  expect(ckpt.format).toBe('onnx');
  const r = await createRunner(ckpt, { provider: 'cpu' });
  const ref = createReferenceRunner(hf);
  for (let l = 0; l < ref.colNorms.length; l++) ref.colNorms[l].forEach((c, i) => expect(Math.abs(c - r.colNorms[l][i])).toBeLessThan(1e-5));
  const ids = Int32Array.from({ length: 16 }, (_, i) => (i * 53 + 1) % 256);
  for (const mode of [{ kind: 'dense' } as const, { kind: 'fat', eps: 0.02 } as const]) {
    const a = await r.forward({ ids, batch: 2, seqLen: 8, mode });
    const b = await ref.forward({ ids, batch: 2, seqLen: 8, mode });
    a.nll.forEach((v, i) => expect(Math.abs(v - b.nll[i]), mode.kind).toBeLessThan(1e-4));
    let diff = 0;
    a.activeCounts.forEach((v, i) => (diff += Math.abs(v - b.activeCounts[i])));
    expect(diff).toBeLessThanOrEqual(Math.ceil(0.005 * a.activeCounts.length * hf.spec.intermediateSize));
  }
  await r.dispose();
});

test('an .onnx file with external data (inside its folder) runs and matches the reference; the CETT column norms come from the data file', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-onnx-ext-'));
  const hfDir = writeTinyCheckpoint(path.join(tmp, 'hf'), 'llama', { activation: 'silu', seed: 22 });
  const hf = await loadCheckpoint(hfDir);
  const onnxDir = path.join(tmp, 'onnx');
  fs.mkdirSync(onnxDir);
  for (const f of fs.readdirSync(hfDir)) if (f.endsWith('.json')) fs.copyFileSync(path.join(hfDir, f), path.join(onnxDir, f));
  const bytes = buildLlamaGraph(hf, { dtype: 'float32', mode: 'dense', capture: false, maxSeq: 64, plain: true }, { file: path.join(onnxDir, 'model.onnx_data'), location: 'model.onnx_data' });
  fs.writeFileSync(path.join(onnxDir, 'model.onnx'), bytes);
  expect(fs.statSync(path.join(onnxDir, 'model.onnx_data')).size).toBeGreaterThan(bytes.length); // the weights really are outside
  const ckpt = await loadCheckpoint(path.join(onnxDir, 'model.onnx'));
  const r = await createRunner(ckpt, { provider: 'cpu' });
  const ref = createReferenceRunner(hf);
  for (let l = 0; l < ref.colNorms.length; l++) ref.colNorms[l].forEach((c, i) => expect(Math.abs(c - r.colNorms[l][i])).toBeLessThan(1e-5));
  const ids = Int32Array.from({ length: 16 }, (_, i) => (i * 31 + 5) % 256);
  const a = await r.forward({ ids, batch: 2, seqLen: 8, mode: { kind: 'dense' } });
  const b = await ref.forward({ ids, batch: 2, seqLen: 8, mode: { kind: 'dense' } });
  a.nll.forEach((v, i) => expect(Math.abs(v - b.nll[i])).toBeLessThan(1e-4));
  await r.dispose();
  // a data file moved out of the folder is refused by name, never read
  fs.renameSync(path.join(onnxDir, 'model.onnx_data'), path.join(tmp, 'model.onnx_data'));
  await expect(loadCheckpoint(path.join(onnxDir, 'model.onnx'))).rejects.toThrow(/model\.onnx_data/);
});
