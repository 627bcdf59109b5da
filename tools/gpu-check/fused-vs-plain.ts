/**
 * Issue 10: the fused graph form (MultiHeadAttention + RotaryEmbedding + SimplifiedLayerNormalization) against the
 * plain opset-17 form on one execution provider: per-token NLL difference and dense-forward tokens/s of each.
 * Models: a tiny llama (silu, GQA 8 heads / 2 kv heads) and the 0.1B LLaMA shape of the benchmark (d 768, 16 layers,
 * F 1920, 12 heads, vocab 4096), random weights. Imports only main/ code and onnxruntime-node, so it bundles alone:
 *   npx esbuild tools/gpu-check/fused-vs-plain.ts --bundle --platform=node --format=cjs --target=node20 \
 *     --external:onnxruntime-node --outfile=dist-bench/fused-vs-plain.cjs
 *   node dist-bench/fused-vs-plain.cjs --provider cuda [--dtype float16] [--batch 16] [--seq 1024] [--iters 10] [--skip-big]
 * Here: node bin/run-ts tools/gpu-check/fused-vs-plain.ts --provider cpu --batch 1 --seq 128 --iters 1
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadCheckpoint } from '../../main/checkpoint/index';
import { writeTinyCheckpoint, type TinyOptions } from '../../main/checkpoint/testing/tiny';
import type { LoadedCheckpoint } from '../../main/checkpoint/types';
import { buildLlamaGraph, type GraphDType } from '../../main/graph/llama-graph';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const provider = arg('provider', 'cuda');
const dtype = arg('dtype', provider === 'cpu' ? 'float32' : 'float16') as GraphDType;
const B = Number(arg('batch', '16'));
const S = Number(arg('seq', '1024'));
const iters = Number(arg('iters', '10'));
const skipBig = process.argv.includes('--skip-big');
// as createRunner: fp32 on CUDA means fp32 (no TF32 in cuBLAS)
if (provider === 'cuda' && process.env.NVIDIA_TF32_OVERRIDE === undefined) process.env.NVIDIA_TF32_OVERRIDE = '0';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-fused-vs-plain-'));
const sessOpts: ort.InferenceSession.SessionOptions = { executionProviders: [provider], graphOptimizationLevel: 'all', logSeverityLevel: 3 };

async function run(ckpt: LoadedCheckpoint, fused: boolean, ids: BigInt64Array, b: number, s: number, n: number, dt: GraphDType) {
  const t0 = performance.now();
  const model = buildLlamaGraph(ckpt, { dtype: dt, mode: 'dense', capture: false, maxSeq: Math.max(s, 16), fused });
  const sess = await ort.InferenceSession.create(model, sessOpts);
  const buildMs = performance.now() - t0;
  const feeds = { input_ids: new ort.Tensor('int64', ids, [b, s]) };
  try {
    const nll = Float32Array.from((await sess.run(feeds)).nll.data as Float32Array); // also the warm-up
    await sess.run(feeds);
    const t1 = performance.now();
    for (let i = 0; i < n; i++) await sess.run(feeds);
    const sec = (performance.now() - t1) / 1000;
    return { nll, tokPerS: n > 0 ? (n * b * s) / sec : NaN, buildMs };
  } finally {
    await sess.release();
  }
}

function diff(a: Float32Array, b: Float32Array): { maxAbs: number; meanA: number; meanB: number; nonFinite: number } {
  let maxAbs = 0;
  let sa = 0;
  let sb = 0;
  let nonFinite = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) nonFinite++;
    else maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
    sa += a[i];
    sb += b[i];
  }
  return { maxAbs, meanA: sa / a.length, meanB: sb / b.length, nonFinite };
}

async function compare(name: string, opts: TinyOptions, b: number, s: number, n: number, dts: GraphDType[]) {
  const dir = writeTinyCheckpoint(path.join(tmp, name), 'llama', opts);
  const ckpt = await loadCheckpoint(dir);
  let x = 12345;
  const ids = BigInt64Array.from({ length: b * s }, () => BigInt((x = (x * 1103515245 + 12345) % 2 ** 31) % ckpt.spec.vocabSize));
  for (const dt of dts) {
    const plain = await run(ckpt, false, ids, b, s, n, dt);
    const fused = await run(ckpt, true, ids, b, s, n, dt);
    const d = diff(fused.nll, plain.nll);
    // fp16: how far each form is from the fp32 plain graph on the same provider (fused should be no worse)
    const ref32 = dt === 'float32' ? undefined : (await run(ckpt, false, ids, b, s, 0, 'float32')).nll;
    console.log(
      JSON.stringify({
        model: name,
        provider,
        dtype: dt,
        batch: b,
        seq: s,
        maxAbsNllDiff: d.maxAbs,
        meanNll: { plain: d.meanB, fused: d.meanA },
        nonFinite: d.nonFinite,
        ...(ref32 ? { maxAbsNllDiffVsFp32Plain: { plain: diff(plain.nll, ref32).maxAbs, fused: diff(fused.nll, ref32).maxAbs } } : {}),
        tokPerS: { plain: Math.round(plain.tokPerS), fused: Math.round(fused.tokPerS) },
        speedup: +(fused.tokPerS / plain.tokPerS).toFixed(3),
        buildMs: { plain: Math.round(plain.buildMs), fused: Math.round(fused.buildMs) },
      }),
    );
  }
}

async function main() {
  try {
    // tiny llama with GQA: both dtypes, a sequence length that is not a power of two
    const tiny: TinyOptions = { activation: 'silu', seed: 7, hidden: 64, heads: 8, kvHeads: 2, vocab: 260, maxPositions: 256 };
    await compare('tiny-llama-silu-gqa', tiny, 2, 37, 0, ['float32', 'float16']);
    // the benchmark's 0.1B LLaMA shape (issue 10)
    const big: TinyOptions = { activation: 'silu', seed: 1, hidden: 768, layers: 16, heads: 12, kvHeads: 12, intermediate: 1920, vocab: 4096, maxPositions: 1024, std: 0.02 };
    if (!skipBig) await compare('llama-0.1b-silu', big, B, S, iters, [dtype]);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
