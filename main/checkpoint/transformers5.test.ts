// Checkpoints written by transformers 5.17 itself (tools/gpu-check/save_pretrained.py on the GPU machine): bf16
// safetensors as save_pretrained names and ties them, config.json in the 5.x layout (`dtype`, `rope_parameters`),
// and transformers' own per-token NLL of those weights computed in fp32 (test/fixtures/transformers5). Our loader and
// CPU graph must read them as they are and agree to 1e-4.
import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCheckpoint } from './index';
import { createRunner } from '../inference/index';

const FIX = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/transformers5');

describe.each([
  ['llama-relu', 'llama', 'relu', false],
  ['llama-silu', 'llama', 'silu', false],
  ['qwen2', 'qwen2', 'silu', false],
  ['gpt2', 'gpt2', 'gelu_tanh', true],
] as const)('%s saved by transformers 5', (name, family, activation, tied) => {
  test('inspects as written and its NLL matches transformers (bf16 weights, fp32 compute, ≤ 1e-4)', async () => {
    const dir = path.join(FIX, name);
    const want = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as { ids: number[]; batch: number; seqLen: number; nll_bf16_weights_fp32: number[]; transformers: string };
    expect(want.transformers.startsWith('5.')).toBe(true);
    const ckpt = await loadCheckpoint(dir);
    expect(ckpt.spec).toMatchObject({ family, activation, dtype: 'bfloat16', numLayers: 2, hiddenSize: 32, intermediateSize: 80, vocabSize: 260, tieEmbeddings: tied });
    if (family !== 'gpt2') expect(ckpt.spec.ropeTheta).toBe(10000);
    const r = await createRunner(ckpt, { provider: 'cpu' });
    const got = (await r.forward({ ids: Int32Array.from(want.ids), batch: want.batch, seqLen: want.seqLen, mode: { kind: 'dense' } })).nll;
    expect(got.length).toBe(want.nll_bf16_weights_fp32.length);
    let max = 0;
    got.forEach((v, i) => (max = Math.max(max, Math.abs(v - want.nll_bf16_weights_fp32[i]))));
    expect(max).toBeLessThan(1e-4);
    await r.dispose();
  });
});
