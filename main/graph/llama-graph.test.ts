// The instrumented ONNX graph against the independent float64 reference forward (test/reference), for every
// family (LLaMA-shaped, OPT, GPT-2, GPT-NeoX) and every mask mode: NLL within 1e-4 (fp32), active counts equal.
import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeTinyCheckpoint, type TinyFamily } from '../checkpoint/testing/tiny';
import { loadCheckpoint } from '../checkpoint/index';
import { createRunner } from '../inference/index';
import { createReferenceRunner } from '../../test/reference/forward';
import type { MaskMode } from '../inference/runner-types';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-graph-'));
const B = 2;
const S = 12;
const ids = Int32Array.from({ length: B * S }, (_, i) => (i * 131 + 7) % 256);

const cases: [TinyFamily, string][] = [
  ['llama', 'relu'],
  ['llama', 'silu'],
  ['llama', 'gelu'],
  ['llama', 'gelu_tanh'],
  ['llama', 'relu2'],
  ['llama', 'fatrelu'],
  ['mistral', 'silu'],
  ['qwen2', 'silu'],
  ['qwen3', 'silu'],
  ['minicpm', 'relu'],
  ['opt', 'relu'],
  ['gpt2', 'gelu_tanh'],
  ['gpt_neox', 'gelu'],
];

describe.each(cases)('%s (%s)', (family, activation) => {
  test('NLL and active counts match the reference in every mask mode', async () => {
    const dir = writeTinyCheckpoint(path.join(tmp, `${family}-${activation}`), family, { activation: activation as never, seed: 3 });
    const ckpt = await loadCheckpoint(dir);
    const fast = await createRunner(ckpt, { provider: 'cpu', cacheDir: path.join(tmp, 'cache') });
    const ref = createReferenceRunner(ckpt);
    const F = ckpt.spec.intermediateSize;
    const modes: MaskMode[] = [
      { kind: 'dense' },
      { kind: 'relu' },
      { kind: 'fat', eps: 0.02 },
      { kind: 'topk-token', k: Math.floor(F / 4) },
      { kind: 'topk-batch', fraction: 0.3 },
      { kind: 'cett', tau: fast.colNorms.map((c) => c.map((x) => 0.015 / x)) },
    ];
    for (const mode of modes) {
      const a = await fast.forward({ ids, batch: B, seqLen: S, mode, captureActivations: mode.kind === 'dense' });
      const b = await ref.forward({ ids, batch: B, seqLen: S, mode, captureActivations: mode.kind === 'dense' });
      let maxDiff = 0;
      for (let i = 0; i < a.nll.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a.nll[i] - b.nll[i]));
      expect(maxDiff, `${mode.kind} NLL`).toBeLessThan(1e-4);
      // counts can differ only where a value sits on a threshold within float error: allow ≤ 0.5% of decisions
      let diff = 0;
      for (let i = 0; i < a.activeCounts.length; i++) diff += Math.abs(a.activeCounts[i] - b.activeCounts[i]);
      expect(diff, `${mode.kind} active counts`).toBeLessThanOrEqual(Math.ceil(0.005 * a.activeCounts.length * F));
      if (mode.kind === 'dense') {
        let md = 0;
        for (let l = 0; l < a.activations!.length; l++)
          for (let i = 0; i < a.activations![l].length; i++) md = Math.max(md, Math.abs(a.activations![l][i] - b.activations![l][i]));
        expect(md).toBeLessThan(1e-4);
      }
      if (mode.kind === 'topk-token') for (const c of a.activeCounts) expect(c).toBeLessThanOrEqual(Math.floor(F / 4));
    }
    // the masks actually change the model (a mask wired to nothing would pass the comparisons above)
    const dense = await fast.forward({ ids, batch: B, seqLen: S, mode: { kind: 'dense' } });
    const sparse = await fast.forward({ ids, batch: B, seqLen: S, mode: { kind: 'topk-token', k: 2 } });
    expect(Math.abs(dense.nll.reduce((x, y) => x + y) - sparse.nll.reduce((x, y) => x + y))).toBeGreaterThan(1e-3);
    await fast.dispose();
  });
});

test('gpt_neox with sequential residual and full rotary, llama with llama3 rope scaling', async () => {
  const cases2: [string, () => string][] = [
    ['neox-seq', () => writeTinyCheckpoint(path.join(tmp, 'neox-seq'), 'gpt_neox', { activation: 'gelu', seed: 4, parallelResidual: false, rotaryPct: 1 })],
    ['llama3', () => {
      const dir = writeTinyCheckpoint(path.join(tmp, 'llama3'), 'llama', { activation: 'silu', seed: 6 });
      const cfgFile = path.join(dir, 'config.json');
      const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
      // tiny original_max_position_embeddings so all three llama3 bands (scaled, blended, kept) occur
      cfg.rope_scaling = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 };
      cfg.rope_theta = 500;
      fs.writeFileSync(cfgFile, JSON.stringify(cfg));
      return dir;
    }],
  ];
  for (const [name, make] of cases2) {
    const ckpt = await loadCheckpoint(make());
    const fast = await createRunner(ckpt, { provider: 'cpu' });
    const ref = createReferenceRunner(ckpt);
    const a = await fast.forward({ ids, batch: B, seqLen: S, mode: { kind: 'dense' } });
    const b = await ref.forward({ ids, batch: B, seqLen: S, mode: { kind: 'dense' } });
    for (let i = 0; i < a.nll.length; i++) expect(Math.abs(a.nll[i] - b.nll[i]), name).toBeLessThan(1e-4);
    await fast.dispose();
  }
});

test('fp16 graph stays within 2e-2 relative of fp32', async () => {
  const dir = writeTinyCheckpoint(path.join(tmp, 'fp16'), 'llama', { activation: 'silu', seed: 5 });
  const ckpt = await loadCheckpoint(dir);
  const r32 = await createRunner(ckpt, { provider: 'cpu', dtype: 'float32' });
  const r16 = await createRunner(ckpt, { provider: 'cpu', dtype: 'float16' });
  const a = await r32.forward({ ids, batch: B, seqLen: S, mode: { kind: 'dense' } });
  const b = await r16.forward({ ids, batch: B, seqLen: S, mode: { kind: 'dense' } });
  for (let i = 0; i < a.nll.length; i++) expect(Math.abs(a.nll[i] - b.nll[i]) / Math.abs(a.nll[i])).toBeLessThan(2e-2);
});
