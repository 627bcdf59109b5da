/**
 * `npm run bench -- compile [--dtype float16|float32|bfloat16] [--graph-dtype float32|float16] [--model DIR] [--no-warm] [--out FILE]`:
 * time and peak memory to turn a 0.1B-class checkpoint into a running instrumented graph (issue 3, "Done when":
 * < 10 s, peak < 2× weights).
 * Without --model it writes a generated LLaMA (d_h 768, 16 layers, d_f 1920, vocab 32000, random weights stored as
 * --dtype, default fp16) to .cache/bench/. Each measurement runs in a fresh child process so its peak RSS (VmHWM) is
 * the compile's alone: load checkpoint → build the ONNX graph → create the ORT CPU session → one tiny forward.
 * "cold" (the number the target is about) has no graph cache: the graph is built as on a first open (it points at the
 * checkpoint's own weight bytes; only conversions are written, to a temp file). "warm" opens the same checkpoint a
 * second time with a graph cache that the run before it filled (two more children): no build, the session straight
 * from the cached graph.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeTinyCheckpoint } from '../main/checkpoint/testing/tiny';
import { machine, writeOut } from './common';

const here = path.dirname(fileURLToPath(import.meta.url));
const SHORT = { float16: 'fp16', float32: 'fp32', bfloat16: 'bf16' } as const;
const STORED = { float16: 'F16', float32: 'F32', bfloat16: 'BF16' } as const;

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

interface ChildResult {
  loadMs: number;
  buildAndSessionMs: number;
  totalMs: number;
  peakRssBytes: number;
  baseRssBytes: number;
  provider: string;
  dtype: string;
}

/** The measured part, in its own process. cacheDir '-': none (cold, temp file). */
async function child(dir: string, dtype: 'float32' | 'float16', cacheDir: string): Promise<void> {
  const { loadCheckpoint } = await import('../main/checkpoint/index');
  const { createRunner } = await import('../main/inference/index');
  const base = peakRssBytes();
  const t0 = performance.now();
  const ckpt = await loadCheckpoint(dir);
  const t1 = performance.now();
  const runner = await createRunner(ckpt, { provider: 'cpu', dtype, maxSeq: 256, ...(cacheDir !== '-' ? { cacheDir } : {}) });
  // sessions are built lazily: the first forward builds the graph and creates the session
  await runner.forward({ ids: new Int32Array([1, 2, 3, 4, 5, 6, 7, 8]), batch: 1, seqLen: 8, mode: { kind: 'dense' } });
  const t2 = performance.now();
  const r: ChildResult = { loadMs: t1 - t0, buildAndSessionMs: t2 - t1, totalMs: t2 - t0, peakRssBytes: peakRssBytes(), baseRssBytes: base, provider: runner.provider, dtype: runner.dtype };
  console.log(JSON.stringify(r));
  await runner.dispose();
}

function runChild(dir: string, graphDtype: string, cacheDir = '-'): ChildResult {
  const r = spawnSync(process.execPath, [path.join(here, '..', 'bin', 'run-ts'), path.join(here, 'index.ts'), 'compile', '--child', dir, graphDtype, cacheDir], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`compile child failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
}

export async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--child') return child(argv[1], argv[2] as never, argv[3] ?? '-');
  const { values: v } = parseArgs({
    args: argv,
    options: { model: { type: 'string' }, dtype: { type: 'string' }, 'graph-dtype': { type: 'string' }, 'no-warm': { type: 'boolean' }, out: { type: 'string' } },
  });
  const dtype = (v.dtype ?? 'float16') as keyof typeof SHORT;
  if (!(dtype in SHORT)) throw new Error(`--dtype ${dtype}: expected float16, float32 or bfloat16 (the generated checkpoint's storage)`);
  const graphDtype = v['graph-dtype'] ?? 'float32';
  let dir = v.model;
  if (!dir) {
    dir = path.resolve(`.cache/bench/llama-0.1b-${SHORT[dtype]}`);
    if (!fs.existsSync(path.join(dir, 'model.safetensors'))) {
      const t = performance.now();
      writeTinyCheckpoint(dir, 'llama', { activation: 'relu', hidden: 768, layers: 16, heads: 6, intermediate: 1920, vocab: 32000, dtype: STORED[dtype], seed: 1, std: 0.02, maxPositions: 2048, tie: false });
      console.error(`generated ${dir} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
  }
  const load = os.loadavg();
  const m = runChild(dir, graphDtype);
  let warm: ChildResult | undefined;
  if (!v['no-warm']) {
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-bench-cache-'));
    try {
      runChild(dir, graphDtype, cacheDir); // fills the cache
      warm = runChild(dir, graphDtype, cacheDir);
    } finally {
      fs.rmSync(cacheDir, { recursive: true, force: true });
    }
  }
  const wb = weightBytes(dir);
  const res = {
    suite: 'compile',
    model: dir,
    weightBytes: wb,
    ...m,
    seconds: m.totalMs / 1000,
    peakOverWeights: m.peakRssBytes / wb,
    warm: warm && { ...warm, seconds: warm.totalMs / 1000, peakOverWeights: warm.peakRssBytes / wb },
    targets: { seconds: 10, peakOverWeights: 2 },
    loadAverage: { before: load.map((x) => +x.toFixed(2)), after: os.loadavg().map((x) => +x.toFixed(2)) },
    machine: machine(),
    date: new Date().toISOString(),
    command: `npm run bench -- compile${v.dtype ? ` --dtype ${v.dtype}` : ''}${v['graph-dtype'] ? ` --graph-dtype ${v['graph-dtype']}` : ''}${v.model ? ` --model ${v.model}` : ''}`,
  };
  console.log(JSON.stringify(res));
  writeOut(v.out, res);
}
