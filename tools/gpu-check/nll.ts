/**
 * Writes the tiny checkpoints of issue 3's GPU check (llama relu, llama silu, qwen2, gpt2) and our engine's
 * per-token NLL on each, as JSON for compare_transformers.py (PyTorch + transformers). One entry per variant
 * `<provider>[-fused|-plain]/<dtype>`: cpu/float32 (the CI-tested graph), and with --provider cuda|webgpu that
 * provider in float32 and float16, each in both decoder forms (fused contrib ops — the default on CUDA — and plain
 * ONNX), so a deviation can be pinned on a provider, a form or a dtype.
 * With --onnx it writes no checkpoints but runs the .onnx files that export_onnx.py (PyTorch's exporter) put in
 * <outdir>/<case>/onnx/, through our ONNX-file path, on the CPU and the given provider.
 * Usage: node bin/run-ts tools/gpu-check/dump-nll.ts <outdir> [--provider cpu|cuda|webgpu] [--tag NAME] [--onnx]
 * (on the GPU machine: node dist-bench/bench.cjs dump-nll <outdir> --provider cuda). --tag names the JSON file
 * (ours-<tag>.json; default ours.json), e.g. for a second run under NVIDIA_TF32_OVERRIDE=0.
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
  const out = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
  const opt = (k: string) => (args.indexOf(k) >= 0 ? args[args.indexOf(k) + 1] : undefined);
  const gpu = (opt('--provider') ?? 'cpu') as 'cpu' | 'cuda' | 'webgpu';
  const tag = opt('--tag');
  const onnxOnly = args.includes('--onnx');
  if (!out) {
    console.error('usage: dump-nll.ts <outdir> [--provider cpu|cuda|webgpu] [--tag NAME] [--onnx]');
    process.exit(2);
  }
  fs.mkdirSync(out, { recursive: true });
  const ids = Int32Array.from({ length: B * S }, (_, i) => (i * 131 + 7) % 256);
  const variants: { key: string; provider: 'cpu' | 'cuda' | 'webgpu'; dtype: 'float32' | 'float16'; fused: boolean }[] = [{ key: 'cpu/float32', provider: 'cpu', dtype: 'float32', fused: false }];
  if (gpu !== 'cpu')
    for (const dtype of ['float32', 'float16'] as const)
      for (const fused of [true, false]) variants.push({ key: `${gpu}${fused ? '-fused' : '-plain'}/${dtype}`, provider: gpu, dtype, fused });
  const result: Record<string, unknown> = { batch: B, seqLen: S, ids: Array.from(ids), env: { NVIDIA_TF32_OVERRIDE: process.env.NVIDIA_TF32_OVERRIDE ?? null }, cases: {} };
  for (const c of CASES) {
    const dir = path.resolve(out, c.name);
    const entry: Record<string, unknown> = { dir, family: c.family, activation: c.activation, variants: {} };
    (result.cases as Record<string, unknown>)[c.name] = entry;
    if (onnxOnly) {
      // the same checkpoints exported by PyTorch (export_onnx.py): our ONNX-file path (pattern-found FFN blocks)
      const files = fs.existsSync(path.join(dir, 'onnx')) ? fs.readdirSync(path.join(dir, 'onnx')).filter((f) => f.endsWith('.onnx')) : [];
      for (const f of files)
        for (const provider of gpu === 'cpu' ? ['cpu' as const] : ['cpu' as const, gpu]) {
          try {
            const ckpt = await loadCheckpoint(path.join(dir, 'onnx', f));
            const r = await createRunner(ckpt, { provider });
            if (r.provider !== provider) throw new Error(`ran on ${r.provider} (${r.fallbackReasons.join('; ')})`);
            const res = await r.forward({ ids, batch: B, seqLen: S, mode: { kind: 'dense' } });
            (entry.variants as Record<string, unknown>)[`onnx:${f} ${provider}/${r.dtype}`] = { provider, dtype: r.dtype, fused: false, nll: Array.from(res.nll) };
            await r.dispose();
          } catch (e) {
            // one failing export must not hide the others' figures
            console.error(`${c.name} ${f} on ${provider}: FAILED: ${(e as Error).message}`);
          }
        }
      console.error(`${c.name}: ${files.length} ONNX file(s)`);
      continue;
    }
    writeTinyCheckpoint(dir, c.family, { activation: c.activation as never, seed: 11, dtype: 'F32' });
    const ckpt = await loadCheckpoint(dir);
    for (const v of variants) {
      const r = await createRunner(ckpt, { provider: v.provider, dtype: v.dtype, fused: v.fused });
      if (r.provider !== v.provider) throw new Error(`${c.name} ${v.key}: ran on ${r.provider} (${r.fallbackReasons.join('; ')})`);
      const res = await r.forward({ ids, batch: B, seqLen: S, mode: { kind: 'dense' } });
      (entry.variants as Record<string, unknown>)[v.key] = { provider: r.provider, dtype: v.dtype, fused: v.fused, nll: Array.from(res.nll) };
      await r.dispose();
    }
    console.error(`${c.name}: done`);
  }
  const file = path.join(out, tag ? `ours-${tag}.json` : 'ours.json');
  fs.writeFileSync(file, JSON.stringify(result, null, 1));
  console.log(file);
}
