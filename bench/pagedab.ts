/**
 * `npm run bench -- pagedab [--model DIR] [--provider cpu] [--device-memory GiB] [--block-layers k]
 * [--search-block-layers k] [--reps n] [--batch b] [--seq-len S] [--size h,L,F]`: the streamed passes with paged blocks
 * as a session per paged block against one session per block shape fed each block's weights as inputs (issue 15;
 * main/inference/streamed.ts), A/B in one process with the runs interleaved (a dense pass with the captured
 * activations, a CETT pass, one fused search step per form per round), so that load swings on a shared machine hit
 * both forms alike. Prints per form and call the wall ms min/median, the process CPU ms median, the sessions created,
 * and each form's largest NLL difference from the whole graph's (one untimed call of each on a whole-model runner; the
 * search step's NLL is that of its sparse stream at the thresholds it found, which an ulp can move near a threshold).
 * Without --model: a generated LLaMA (bench/common.ts's writer) of hidden h, L layers, FFN F (default 512,8,1536).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeTinyCheckpoint } from '../main/checkpoint/testing/tiny';
import { loadCheckpoint } from '../main/checkpoint/index';
import { createRunner } from '../main/inference/index';
import type { ForwardRequest, ModelRunner, SearchStepRequest } from '../main/inference/runner-types';
import type { StreamStats } from '../main/inference/streamed';
import { mulberry32 } from '../main/base/rng';
import { machine, writeOut } from './common';

type Form = 'inputs' | 'sessions';

export async function main(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      provider: { type: 'string' },
      'device-memory': { type: 'string' },
      'block-layers': { type: 'string' },
      'search-block-layers': { type: 'string' },
      reps: { type: 'string' },
      batch: { type: 'string' },
      'seq-len': { type: 'string' },
      size: { type: 'string' },
      out: { type: 'string' },
    },
  });
  let dir = v.model;
  if (!dir) {
    const [h, L, F] = (v.size ?? '512,8,1536').split(',').map(Number);
    if (![h, L, F].every((x) => Number.isInteger(x) && x > 0) || h % 8) throw new Error(`--size: '${v.size}' is not h,L,F (whole numbers, h a multiple of 8)`);
    dir = path.resolve(`.cache/bench/pagedab-llama-${h}x${L}x${F}`);
    if (!fs.existsSync(path.join(dir, 'model.safetensors'))) writeTinyCheckpoint(dir, 'llama', { activation: 'silu', hidden: h, layers: L, heads: 8, intermediate: F, vocab: 4096, seed: 7, std: 0.05, maxPositions: 2048 });
  }
  const ckpt = await loadCheckpoint(dir);
  const S = Number(v['seq-len'] ?? 256);
  const B = Number(v.batch ?? 4);
  const reps = Number(v.reps ?? 3);
  const cap = Number(v['device-memory'] ?? 0.05) * 1024 ** 3;
  const base = {
    provider: (v.provider ?? 'cpu') as never,
    maxSeq: S,
    batchSeqs: B,
    execution: 'streamed' as const,
    deviceMemoryBytes: cap,
    ...(v['block-layers'] ? { blockLayers: Number(v['block-layers']) } : {}),
    ...(v['search-block-layers'] ? { searchBlockLayers: Number(v['search-block-layers']) } : {}),
  };
  const forms: Form[] = ['inputs', 'sessions'];
  const runners = {} as Record<Form, ModelRunner & { streamStats?: StreamStats }>;
  for (const f of forms) runners[f] = await createRunner(ckpt, { ...base, pagedWeights: f });
  const whole = await createRunner(ckpt, { provider: base.provider, maxSeq: S, batchSeqs: B, execution: 'whole' });
  const r = mulberry32(3);
  const ids = Int32Array.from({ length: B * S }, () => Math.floor(r() * ckpt.spec.vocabSize));
  const tau = runners.inputs.colNorms.map((c) => c.map((x) => 0.02 / x));
  const L = ckpt.spec.numLayers;
  const calls: Record<string, (m: ModelRunner) => Promise<Float32Array>> = {
    dense: async (m) => (await m.forward({ ids, batch: B, seqLen: S, mode: { kind: 'dense' }, captureActivations: true } as ForwardRequest)).nll,
    cett: async (m) => (await m.forward({ ids, batch: B, seqLen: S, mode: { kind: 'cett', tau } })).nll,
    search: async (m) => {
      if (!m.searchStep) return new Float32Array();
      const req: SearchStepRequest = { ids, batch: B, seqLen: S, targets: [{ c: 0.2, lo: new Array(L).fill(0), hi: new Array(L).fill(65535) }], iters: 8 };
      return (await m.searchStep(req)).nll;
    },
  };
  const times: Record<string, { wall: number[]; cpu: number[] }> = {};
  const nll: Record<string, Partial<Record<Form | 'whole', Float32Array>>> = {};
  for (const [name, call] of Object.entries(calls)) (nll[name] ??= {}).whole = await call(whole);
  await whole.dispose();
  for (let rep = 0; rep < reps; rep++)
    for (const [name, call] of Object.entries(calls))
      // interleaved, the order alternating per round: neither form always runs first
      for (const f of rep % 2 ? [...forms].reverse() : forms) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const out = await call(runners[f]);
        const wall = performance.now() - t0;
        const cpu = process.cpuUsage(c0);
        (times[`${f} ${name}`] ??= { wall: [], cpu: [] }).wall.push(wall);
        times[`${f} ${name}`].cpu.push((cpu.user + cpu.system) / 1000);
        (nll[name] ??= {})[f] = out;
      }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rows = Object.entries(times).map(([k, t]) => ({ call: k, wallMinMs: Math.round(Math.min(...t.wall)), wallMedMs: Math.round(med(t.wall)), cpuMedMs: Math.round(med(t.cpu)), wallMs: t.wall.map(Math.round) }));
  const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
  const diff = Object.fromEntries(Object.entries(nll).map(([k, o]) => [k, Object.fromEntries(forms.map((f) => [f, maxDiff(o[f]!, o.whole!)]))]));
  const out = {
    suite: 'pagedab',
    model: dir,
    spec: { hidden: ckpt.spec.hiddenSize, layers: L, ffn: ckpt.spec.intermediateSize },
    tokens: B * S,
    reps,
    plans: Object.fromEntries(forms.map((f) => [f, { reason: runners[f].plan?.reason, weightInputs: !!runners[f].plan?.weightInputs, searchWeightInputs: !!runners[f].plan?.search?.weightInputs }])),
    rows,
    sessionsCreated: Object.fromEntries(forms.map((f) => [f, runners[f].streamStats?.timeline.filter((e) => e.what === 'create').length])),
    nllMaxDiffFromWhole: diff,
    machine: machine(),
    date: new Date().toISOString(),
  };
  console.table(rows.map(({ wallMs: _w, ...x }) => x));
  console.log(JSON.stringify(out));
  writeOut(v.out, out);
  for (const f of forms) await runners[f].dispose();
}
