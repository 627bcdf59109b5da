// Real exporter output: tools/gpu-check/export_onnx.py exported the GPU check's tiny checkpoints with PyTorch 2.11's
// ONNX exporter (TorchScript, the one optimum drives) from transformers, and stored transformers' own per-token NLL
// (fp64 and fp32, CPU) beside each file (test/fixtures/onnx-exports). Our ONNX-file path must find every FFN block in
// these graphs (GPT-2's are Gemm between Reshapes), match transformers' NLL, and, masked, match the independent
// float64 reference forward of the same weights (the checkpoint is regenerated from its seed).
import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCheckpoint } from '../checkpoint/index';
import { writeTinyCheckpoint, type TinyFamily } from '../checkpoint/testing/tiny';
import { createReferenceRunner } from '../../test/reference/forward';
import type { MaskMode } from './runner-types';
import { createRunner } from './index';

const FIX = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/onnx-exports');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-onnx-exports-'));
interface Expected {
  ids: number[];
  batch: number;
  seqLen: number;
  nll_fp64: number[];
  nll_fp32: number[];
}

describe.each([
  ['llama-relu', 'llama', 'relu'],
  ['llama-silu', 'llama', 'silu'],
  ['qwen2', 'qwen2', 'silu'],
  ['gpt2', 'gpt2', 'gelu_tanh'],
] as [string, TinyFamily, string][])('PyTorch export of %s', (name, family, activation) => {
  const dir = path.join(FIX, name);
  const want = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Expected;
  const ids = Int32Array.from(want.ids);
  const req = { ids, batch: want.batch, seqLen: want.seqLen };

  test('inspected from the graph and its config; dense NLL equals transformers (fp32 ≤ 1e-4)', async () => {
    const ckpt = await loadCheckpoint(path.join(dir, 'model.onnx'));
    const hf = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, name), family, { activation: activation as never, seed: 11, dtype: 'F32' }));
    for (const k of ['family', 'activation', 'numLayers', 'hiddenSize', 'intermediateSize', 'vocabSize', 'gated', 'numHeads', 'numKvHeads'] as const) expect(ckpt.spec[k], k).toEqual(hf.spec[k]);
    expect(ckpt.notices.join('\n')).not.toMatch(/looks like/);
    const r = await createRunner(ckpt, { provider: 'cpu' });
    expect(r.dtype).toBe('float32');
    const got = (await r.forward({ ...req, mode: { kind: 'dense' } })).nll;
    expect(got.length).toBe(want.nll_fp64.length);
    let max = 0;
    got.forEach((v, i) => (max = Math.max(max, Math.abs(v - want.nll_fp32[i]), Math.abs(v - want.nll_fp64[i]))));
    expect(max).toBeLessThan(1e-4);
    // one sequence alone (batch 1: the attention mask is still [1, S]) gives that sequence's NLL
    const one = (await r.forward({ ids: ids.subarray(0, want.seqLen), batch: 1, seqLen: want.seqLen, mode: { kind: 'dense' } })).nll;
    one.forEach((v, i) => expect(Math.abs(v - want.nll_fp64[i])).toBeLessThan(1e-4));
    await r.dispose();
  });

  test('masked (FAT, CETT, top-k): NLL and counts match the float64 reference forward of the same weights', async () => {
    const ckpt = await loadCheckpoint(path.join(dir, 'model.onnx'));
    const hf = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, `${name}-m`), family, { activation: activation as never, seed: 11, dtype: 'F32' }));
    const ref = createReferenceRunner(hf);
    const r = await createRunner(ckpt, { provider: 'cpu' });
    // W_out's column norms read from the exported initializers (Gemm's [F,d], MatMul's pre-transposed [F,d])
    ref.colNorms.forEach((c, l) => c.forEach((x, i) => expect(Math.abs(x - r.colNorms[l][i])).toBeLessThan(1e-5)));
    const F = hf.spec.intermediateSize;
    const modes: MaskMode[] = [{ kind: 'fat', eps: 0.02 }, { kind: 'cett', tau: ref.colNorms.map((c) => c.map((x) => 0.03 / x)) }, { kind: 'topk-token', k: 7 }];
    for (const mode of modes) {
      const a = await r.forward({ ...req, mode });
      const b = await ref.forward({ ...req, mode });
      a.nll.forEach((v, i) => expect(Math.abs(v - b.nll[i]), mode.kind).toBeLessThan(1e-4));
      let diff = 0;
      a.activeCounts.forEach((v, i) => (diff += Math.abs(v - b.activeCounts[i])));
      expect(diff, `${mode.kind} counts`).toBeLessThanOrEqual(Math.ceil(0.002 * a.activeCounts.length * F));
      // and the mask really removed neurons
      expect(Math.max(...a.activeCounts), mode.kind).toBeLessThan(F);
    }
    await r.dispose();
  });
});

test('an fp16 PyTorch export (GPT-2, exported on CUDA) runs in fp16 on the CPU within 2e-2 of transformers', async () => {
  const dir = path.join(FIX, 'gpt2');
  const want = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Expected;
  const ckpt = await loadCheckpoint(path.join(dir, 'model_fp16.onnx'));
  expect(ckpt.spec.dtype).toBe('float16');
  const r = await createRunner(ckpt, { provider: 'cpu' });
  expect(r.dtype).toBe('float16');
  const got = (await r.forward({ ids: Int32Array.from(want.ids), batch: want.batch, seqLen: want.seqLen, mode: { kind: 'topk-token', k: 10 } })).nll;
  const dense = (await r.forward({ ids: Int32Array.from(want.ids), batch: want.batch, seqLen: want.seqLen, mode: { kind: 'dense' } })).nll;
  dense.forEach((v, i) => expect(Math.abs(v - want.nll_fp64[i]) / want.nll_fp64[i]).toBeLessThan(2e-2));
  expect(got.some((v, i) => Math.abs(v - dense[i]) > 1e-3)).toBe(true); // the mask acts on the fp16 graph too
  await r.dispose();
});
