/**
 * Writes the tiny checkpoints of issue 3's GPU check (llama relu, llama silu, qwen2, gpt2) and our engine's
 * per-token NLL on each, fp32 and fp16, as JSON for compare_transformers.py (PyTorch + transformers).
 * Usage: node bin/run-ts tools/gpu-check/dump-nll.ts <outdir> [--provider cpu|cuda|webgpu|auto]
 * (on the GPU machine: node dist-bench/bench.cjs dump-nll <outdir> --provider cuda)
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadCheckpoint } from '../../main/checkpoint/index';
import { writeTinyCheckpoint, type TinyFamily } from '../../main/checkpoint/testing/tiny';
import { createRunner } from '../../main/inference/index';

const CASES: { name: string; family: TinyFamily; activation: string }[] = [
  { name: 'llama-relu', family: 'llama', activation: 'relu' },
  { name: 'llama-silu', family: 'llama', activation: 'silu' },
  { name: 'qwen2', family: 'qwen2', activation: 'silu' },
  { name: 'gpt2', family: 'gpt2', activation: 'gelu_tanh' },
];
const B = 2;
const S = 24;

export async function dumpNll(args: string[]): Promise<void> {
const out = args.find((a) => !a.startsWith('--'));
const pi = args.indexOf('--provider');
const provider = (pi >= 0 ? args[pi + 1] : 'auto') as 'auto';
if (!out) {
  console.error('usage: dump-nll.ts <outdir> [--provider cpu|cuda|webgpu|auto]');
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });
const ids = Int32Array.from({ length: B * S }, (_, i) => (i * 131 + 7) % 256);
const result: Record<string, unknown> = { batch: B, seqLen: S, ids: Array.from(ids), cases: {} };
for (const c of CASES) {
  const dir = writeTinyCheckpoint(path.resolve(out, c.name), c.family, { activation: c.activation as never, seed: 11, dtype: 'F32' });
  const ckpt = await loadCheckpoint(dir);
  const entry: Record<string, unknown> = { dir, family: c.family, activation: c.activation };
  for (const dtype of ['float32', 'float16'] as const) {
    const r = await createRunner(ckpt, { provider, dtype });
    const res = await r.forward({ ids, batch: B, seqLen: S, mode: { kind: 'dense' } });
    entry[dtype] = { provider: r.provider, fallbackReasons: r.fallbackReasons, nll: Array.from(res.nll) };
    await r.dispose();
  }
  (result.cases as Record<string, unknown>)[c.name] = entry;
  console.error(`${c.name}: done`);
}
fs.writeFileSync(path.join(out, 'ours.json'), JSON.stringify(result, null, 1));
console.log(path.join(out, 'ours.json'));
}

