/**
 * The run-time estimate against the run (issue 18, main/jobs/estimate.ts): `estimateRun` (the wizard's "Estimate time",
 * `measure --estimate`: a timed pilot on the first batch), then the measurement itself with the same configuration, as
 * a user would click Estimate then Start; both on the wall clock, through the engine's graph cache. Prints
 * estimate, actual and the error. Model: --model DIR (with a tokenizer), else a generated LLaMA of --shape h,L
 * (default 512,8; byte-level tokenizer) in .cache/bench; text: --data, else the demo lab's eval.txt.
 */
import path from 'node:path';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { runConfigSchema } from '../main/api/domains/runs';
import { estimateRun } from '../main/jobs/estimate';
import { workFor } from '../main/jobs/measure-job';
import { cachedModelSource } from '../main/jobs/models';
import { writeTinyCheckpoint } from '../main/checkpoint/testing/tiny';
import { machine, writeOut } from './common';

export async function main(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    options: { model: { type: 'string' }, data: { type: 'string' }, shape: { type: 'string' }, act: { type: 'string' }, 'n-tokens': { type: 'string' }, 'seq-len': { type: 'string' }, batch: { type: 'string' }, provider: { type: 'string' }, p: { type: 'string' }, method: { type: 'string' }, out: { type: 'string' } },
  });
  let model = v.model;
  if (!model) {
    const [h, L] = (v.shape ?? '512,8').split(',').map(Number);
    const act = v.act ?? 'relu';
    model = path.resolve(`.cache/bench/est-${act}-${h}x${L}`);
    if (!fs.existsSync(path.join(model, 'model.safetensors'))) writeTinyCheckpoint(model, 'llama', { activation: act as never, hidden: h, layers: L, heads: Math.max(1, h / 64), intermediate: Math.round(2.5 * h), vocab: 4096, seed: 7, std: 0.04, maxPositions: 4096 });
  }
  const cfg = runConfigSchema.parse({
    kind: 'measure',
    checkpoint: path.resolve(model),
    data: path.resolve(v.data ?? 'resources/demo-lab/eval.txt'),
    tokens: Number(v['n-tokens'] ?? 16384),
    seqLen: Number(v['seq-len'] ?? 256),
    batch: Number(v.batch ?? 4),
    provider: v.provider ?? 'auto',
    method: v.method ?? 'cett-ppl',
    p: Number(v.p ?? 1),
  });
  const src = cachedModelSource(path.resolve('.cache/graphs'));
  const t0 = performance.now();
  const est = await estimateRun(cfg, src);
  const estimateWall = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const res = (await workFor(cfg, src)({}, { onStep: async () => {} } as never)) as { timingsMs?: Record<string, number>; search?: { engine?: string }; forwardPasses?: number };
  const actual = (performance.now() - t1) / 1000;
  const out = {
    suite: 'estimate',
    model: path.basename(model),
    provider: est.provider,
    dtype: est.dtype,
    engine: res.search?.engine,
    tokens: cfg.tokens,
    seqLen: cfg.seqLen,
    batch: cfg.batch,
    estimateSeconds: +est.totalSeconds.toFixed(3),
    actualSeconds: +actual.toFixed(3),
    errorPct: +((100 * (est.totalSeconds - actual)) / actual).toFixed(1),
    pilotSeconds: +(est.pilotSeconds ?? 0).toFixed(3),
    estimateCallSeconds: +estimateWall.toFixed(3),
    breakdown: est.breakdown,
    timingsMs: res.timingsMs,
    forwardPasses: { estimated: est.forwardPasses, run: res.forwardPasses },
    machine: machine(),
    date: new Date().toISOString(),
  };
  console.log(JSON.stringify(out));
  writeOut(v.out, out);
}
