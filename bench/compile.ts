/**
 * `npm run bench -- compile [--dtype float32|float16] [--model DIR] [--out FILE]`: time and peak memory to turn a
 * 0.1B-class checkpoint into a running instrumented graph (issue 3, "Done when": < 10 s, peak < 2× weights).
 * Without --model it writes a generated LLaMA (d_h 768, 16 layers, d_f 1920, vocab 32000, random fp16
 * safetensors) to .cache/bench/. The measurement runs in a fresh child process so its peak RSS (VmHWM) is
 * the compile's alone: load checkpoint → build the ONNX graph → create the ORT CPU session → one tiny forward.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeTinyCheckpoint } from '../main/checkpoint/testing/tiny';
import { machine, parse, writeOut } from './common';

const here = path.dirname(fileURLToPath(import.meta.url));

function peakRssBytes(): number {
  // VmHWM: the process's peak resident set (Linux); fall back to the current RSS elsewhere
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    /* not Linux */
  }
  return process.memoryUsage().rss;
}

function weightBytes(dir: string): number {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.safetensors'))
    .reduce((a, f) => a + fs.statSync(path.join(dir, f)).size, 0);
}

/** The measured part, in its own process. */
async function child(dir: string, dtype: 'float32' | 'float16'): Promise<void> {
  const { loadCheckpoint } = await import('../main/checkpoint/index');
  const { createRunner } = await import('../main/inference/index');
  const base = peakRssBytes();
  const t0 = performance.now();
  const ckpt = await loadCheckpoint(dir);
  const t1 = performance.now();
  const runner = await createRunner(ckpt, { provider: 'cpu', dtype, maxSeq: 256 });
  // sessions are built lazily: the first forward builds the graph and creates the session
  await runner.forward({ ids: new Int32Array([1, 2, 3, 4, 5, 6, 7, 8]), batch: 1, seqLen: 8, mode: { kind: 'dense' } });
  const t2 = performance.now();
  console.log(JSON.stringify({ loadMs: t1 - t0, buildAndSessionMs: t2 - t1, totalMs: t2 - t0, peakRssBytes: peakRssBytes(), baseRssBytes: base, provider: runner.provider, dtype: runner.dtype }));
  await runner.dispose();
}

export async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--child') return child(argv[1], argv[2] as never);
  const v = parse(argv);
  const dtype = (v.dtype ?? 'float32') as 'float32' | 'float16';
  let dir = v.model;
  if (!dir) {
    dir = path.resolve('.cache/bench/llama-0.1b-fp16');
    if (!fs.existsSync(path.join(dir, 'model.safetensors'))) {
      const t = performance.now();
      writeTinyCheckpoint(dir, 'llama', { activation: 'relu', hidden: 768, layers: 16, heads: 6, intermediate: 1920, vocab: 32000, dtype: 'F16', seed: 1, std: 0.02, maxPositions: 2048, tie: false });
      console.error(`generated ${dir} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
  }
  const r = spawnSync(process.execPath, [path.join(here, '..', 'bin', 'run-ts'), path.join(here, 'index.ts'), 'compile', '--child', dir, dtype], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`compile child failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const line = r.stdout.trim().split('\n').pop()!;
  const m = JSON.parse(line) as { totalMs: number; loadMs: number; buildAndSessionMs: number; peakRssBytes: number; provider: string; dtype: string };
  const wb = weightBytes(dir);
  const res = {
    suite: 'compile',
    model: dir,
    weightBytes: wb,
    ...m,
    seconds: m.totalMs / 1000,
    peakOverWeights: m.peakRssBytes / wb,
    targets: { seconds: 10, peakOverWeights: 2 },
    machine: machine(),
    date: new Date().toISOString(),
    command: `npm run bench -- compile${v.dtype ? ` --dtype ${v.dtype}` : ''}${v.model ? ` --model ${v.model}` : ''}`,
  };
  console.log(JSON.stringify(res));
  writeOut(v.out, res);
}
