/**
 * `npm run bench -- open --model DIR [--provider P] [--dtype D] [--cache DIR] [--n-tokens N --seq-len S --batch B]`
 * (on the GPU machine `node dist-bench/bench.cjs open …`): how long a checkpoint folder takes to be ready to run, and
 * the host memory it costs (issue 15: a 7B fp16 checkpoint ready in ≤ 20 s warm, ≤ 60 s cold; host RAM peak ≤ 1.5×
 * the model's bytes). Phases: load (headers, config, tokenizer, content hash), runner (provider, CETT column norms),
 * first forward (graph build or cache hit, onnxruntime session, one batch), then dense forward tokens/s over the rest.
 * The graph cache is --cache (default .cache/graphs): empty it first for a cold open. Prints one JSON line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadCheckpoint } from '../main/checkpoint/index';
import { useHashMemo } from '../main/checkpoint/hash';
import { createRunner } from '../main/inference/index';
import { GraphCache } from '../main/inference/graph-cache';
import { batchStream } from '../main/metrics/data';
import { machine, parse, writeOut } from './common';

function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.existsSync('/proc/self/status') ? fs.readFileSync('/proc/self/status', 'utf8') : '');
  return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
}

export async function main(argv: string[]): Promise<void> {
  const args = argv.filter((a, i) => a !== '--cache' && argv[i - 1] !== '--cache');
  const cacheDir = path.resolve(argv.includes('--cache') ? argv[argv.indexOf('--cache') + 1] : '.cache/graphs');
  const v = parse(args);
  if (!v.model) throw new Error('--model DIR is required');
  const seqLen = Number(v['seq-len'] ?? 1024);
  const batch = Number(v.batch ?? 16);
  useHashMemo(path.join(cacheDir, 'hashes.json')); // as the engine does: a warm open does not re-read the weights to hash them
  const t0 = performance.now();
  const ckpt = await loadCheckpoint(v.model);
  const tLoad = performance.now();
  const runner = await createRunner(ckpt, { provider: (v.provider ?? 'auto') as never, dtype: (v.dtype ?? 'auto') as never, maxSeq: seqLen, cacheDir });
  const tRunner = performance.now();
  let ids: Int32Array;
  if (v.tokens) {
    const buf = fs.readFileSync(v.tokens);
    ids = new Int32Array(buf.buffer, buf.byteOffset, Math.floor(buf.byteLength / 4));
  } else ids = Int32Array.from({ length: Number(v['n-tokens'] ?? seqLen * batch * 2) }, (_, i) => (i * 7919) % ckpt.spec.vocabSize);
  const data = batchStream(ids, { tokens: Number(v['n-tokens'] ?? ids.length), seqLen, batch }, v.tokens ?? 'synthetic');
  const [first, ...rest] = data.batches;
  await runner.forward({ ids: first.ids, batch: first.batch, seqLen, mode: { kind: 'dense' } });
  const tReady = performance.now();
  let tokens = 0;
  const f0 = performance.now();
  for (const b of rest) {
    await runner.forward({ ids: b.ids, batch: b.batch, seqLen, mode: { kind: 'dense' } });
    tokens += b.batch * seqLen;
  }
  const fSec = (performance.now() - f0) / 1000;
  const weightBytes = fs
    .readdirSync(v.model)
    .filter((f) => /\.(safetensors|bin)$/.test(f))
    .reduce((a, f) => a + fs.statSync(path.join(v.model!, f)).size, 0);
  const peak = peakRss();
  const cacheBytes = new GraphCache(cacheDir).entries().reduce((a, e) => a + e.bytes, 0);
  const res = {
    suite: 'open',
    model: v.model,
    provider: runner.provider,
    dtype: runner.dtype,
    layers: runner.spec.numLayers,
    hidden: runner.spec.hiddenSize,
    weightBytes,
    loadSeconds: (tLoad - t0) / 1000,
    runnerSeconds: (tRunner - tLoad) / 1000,
    firstForwardSeconds: (tReady - tRunner) / 1000,
    readySeconds: (tReady - t0) / 1000,
    peakRssBytes: peak,
    peakRssOverWeights: peak / weightBytes,
    graphCacheBytes: cacheBytes,
    forwardTokens: tokens,
    tokensPerSecond: tokens ? tokens / fSec : null,
    machine: machine(),
    date: new Date().toISOString(),
  };
  console.log(JSON.stringify(res));
  writeOut(v.out, res);
  await runner.dispose();
}
