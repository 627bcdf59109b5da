/**
 * Where CETT-PPL-p% spends its time on the CPU (issue 16's CPU target), on the first batch: session creation, the
 * dense forward (plain and capturing the FFN activations), the sparse (cett-mask) forward, and the threshold search
 * engines on one layer — the ORT probe (ms per evaluated candidate, candidates per outer step of the authors' path)
 * and the one-pass curve (the CPU's default engine). The curve's `sweep`: each back end (WebAssembly first, so its
 * first call is the process's first) on one thread token by token (first call, first 8 tokens, steady state; the sweep
 * alone and the whole token), the calibration the default makes, and every core per back end (ms per layer).
 * `projectedSeconds` multiplies them out for a whole measurement of --n-tokens. `--curve-only 1`: only the curve's
 * figures (one capture forward), e.g. under V8 flags (`node --liftoff-only …`: bench/gpu/run.sh i16cpu).
 * `--ops 1 [--mask-mul 0] [--threads n]`: instead, onnxruntime's per-operator profile of the sparse, the dense and the capturing
 * dense CPU graph (kernel ms per operator, and how much of it ran on one thread).
 * `--forms a1,a4,f1 [--threads n]`: instead, the dense forward in each CPU graph form, runs interleaved (an A/B); a form
 * with `-s` is the sparse (CETT mask) pass at ε = --eps in every layer, `-s-w` its mask by Where (the form before Mul).
 * `npm run bench -- cpusearch --model DIR --tokens FILE --n-tokens N --seq-len S --batch B --provider cpu`
 */
import os from 'node:os';
import { buildProbeCurve } from '../main/metrics/cett-probe';
import { authorsGrid } from '../main/base/authors-search';
import {
  closeCurvePool,
  curveChunk,
  curveMemory,
  curveSweepBackend,
  curveSweepCalibrations,
  curveSweepModule,
  curveThreads,
  curveWorkerChunks,
  makeSweeper,
  setCurveSweep,
  transposeDown,
  type CurveOperands,
  type SweepBackend,
} from '../main/metrics/curve-kernel';
import { buildLayerCurve, buildLayerCurveParallel, neuronNorms, tauFromThresholds } from '../main/metrics/thresholds';
import { downWeightAt } from '../main/metrics/target';
import { attnChunksArg, machine, openTarget, parse, writeOut } from './common';
import { CPU_ATTN_CHUNKS } from '../main/inference/index';
import { profileByOp } from './profile';
import * as ort from 'onnxruntime-node';
import { loadCheckpoint } from '../main/checkpoint/index';
import { buildLlamaGraph, HALF_WEIGHTS_SESSION_EXTRA, storesHalfWeights } from '../main/graph/llama-graph';
import { maskFeeds } from '../main/inference/mask-feeds';

/** the first outer steps of the CETT-PPL search (c = 0.5, 0.25, …), as cett-ppl.ts walks them for a ReLU model */
const OUTER = [0.5, 0.25, 0.125, 0.1875, 0.21875, 0.203125, 0.2109375, 0.21484375, 0.212890625, 0.2138671875];

/**
 * One back end's sweep on this thread over op's first `k` tokens, token by token as the curve runs it (curveChunk):
 * ms of the first token (the first call: compiles, V8's baseline tier for WebAssembly), mean of the first 8, median of
 * the rest (steady state), for the whole token and for the sweep alone (the rest is the sort and the pairs).
 */
function sweepTimes(op: CurveOperands, backend: SweepBackend, k: number) {
  const sw = makeSweeper(curveSweepModule(), curveMemory(op.wT, op.f, op.d, 1), op.f, op.d, 0, backend);
  let sweepMs = 0;
  const run = sw.run;
  sw.run = () => {
    const s = performance.now();
    const x = run();
    sweepMs += performance.now() - s;
    return x;
  };
  const out = new Float64Array(2 * op.f);
  const count = new Int32Array(1);
  const whole: number[] = [];
  const sweep: number[] = [];
  for (let t = 0; t < k; t++) {
    const s = performance.now();
    sweepMs = 0;
    curveChunk(op.a, op.n, op.f, op.d, op.cand, t, t + 1, out, count, sw);
    whole.push(performance.now() - s);
    sweep.push(sweepMs);
  }
  const median = (x: number[]) => (x.length ? [...x].sort((p, q) => p - q)[x.length >> 1] : NaN);
  const mean = (x: number[]) => x.reduce((p, q) => p + q, 0) / Math.max(1, x.length);
  const stats = (x: number[]) => ({ firstMs: x[0], first8MsPerToken: mean(x.slice(0, 8)), msPerToken: median(x.slice(Math.min(32, x.length >> 1))) });
  return { tokens: k, whole: stats(whole), sweep: stats(sweep), first16Ms: whole.slice(0, 16).map((x) => Math.round(x * 1000) / 1000) };
}

export async function main(argv: string[]): Promise<void> {
  const v = parse(argv);
  const t0 = performance.now();
  const { target, data, modelDir } = await openTarget(v);
  const openMs = performance.now() - t0;
  const r = target.runner;
  const b = data.batches[0];
  const T = b.batch * b.seqLen;
  const { hiddenSize: d, intermediateSize: f, numLayers: L } = r.spec;
  const reps = Number(v.reps ?? 2);
  const timed = async <X>(fn: () => Promise<X>, n = reps): Promise<{ first: number; ms: number; out: X }> => {
    let s = performance.now();
    let out = await fn(); // the first call creates the session
    const first = performance.now() - s;
    s = performance.now();
    for (let i = 0; i < n; i++) out = await fn();
    return { first, ms: n > 0 ? (performance.now() - s) / n : first, out };
  };
  if (v.forms) {
    // --forms a1,a4,f1,a4-h0: the dense forward of the first batch in each CPU graph form (a<k> attention chunks, f1 the
    // fused decoder form, h0 fp16 weights as fp32 initializers), sessions side by side in this process and the runs
    // interleaved (form 1, 2, …, 1, 2, …: load swings hit every form alike); wall and process CPU ms per run, min and
    // median, and each form's largest NLL difference from the first form's
    const ckpt = await loadCheckpoint(modelDir);
    const ids = new ort.Tensor('int64', BigInt64Array.from(b.ids, (x) => BigInt(x)), [b.batch, b.seqLen]);
    const forms = v.forms.split(',').filter(Boolean);
    const sessions: ort.InferenceSession[] = [];
    // s: the sparse (CETT mask) pass of a search step instead of the dense one, τ = ε/‖W_out[:,i]‖ at ε = --eps (default
    // 0.1) in every layer, its mask by Mul (the CPU runner's form since 2026-12-05) or with w by Where (the form before)
    const tau = tauFromThresholds(new Array<number>(L).fill(Number(v.eps ?? 0.1)), r.colNorms);
    const tauFeed = new ort.Tensor('float32', Float32Array.from(tau.flatMap((t) => Array.from(t))), [L, f]);
    const sparseForm = forms.map((form) => form.split('-').includes('s'));
    for (const form of forms) {
      const parts = form.split('-');
      if (!parts.every((x) => /^(a[1-9]\d*|f1|h0|s|w)$/.test(x)) || (parts.includes('w') && !parts.includes('s'))) throw new Error(`--forms: '${form}' is not a<k>, f1, h0, s or s-w joined by '-'`);
      const k = parts.find((x) => x.startsWith('a'));
      const sparse = parts.includes('s');
      const gopts = { dtype: 'float32' as const, mode: sparse ? ('cett' as const) : ('dense' as const), capture: false, maxSeq: b.seqLen, halfWeights: !parts.includes('h0'), ...(parts.includes('f1') ? { fused: true } : {}), attnChunks: k ? attnChunksArg(k.slice(1)) : CPU_ATTN_CHUNKS, ...(sparse && !parts.includes('w') ? { maskMul: true } : {}) };
      const more = storesHalfWeights(ckpt, gopts) ? { extra: HALF_WEIGHTS_SESSION_EXTRA } : {};
      sessions.push(await ort.InferenceSession.create(buildLlamaGraph(ckpt, gopts), { executionProviders: ['cpu'], graphOptimizationLevel: 'all', logSeverityLevel: 3, ...(v.threads ? { intraOpNumThreads: Number(v.threads) } : {}), ...more }));
    }
    const wall = forms.map(() => [] as number[]);
    const cpu = forms.map(() => [] as number[]);
    const nll: Float32Array[] = [];
    const active: number[] = [];
    for (let rep = -1; rep < reps; rep++)
      for (let i = 0; i < forms.length; i++) {
        const s = performance.now();
        const c = process.cpuUsage();
        const out = await sessions[i].run(sparseForm[i] ? { input_ids: ids, tau: tauFeed } : { input_ids: ids });
        const cu = process.cpuUsage(c);
        if (rep < 0) {
          // the first run of each (arena growth) is not timed
          nll[i] = out.nll.data as Float32Array;
          active[i] = (out.active_counts.data as Float32Array).reduce((a, x) => a + x, 0) / (L * T * f);
        }
        else {
          wall[i].push(performance.now() - s);
          cpu[i].push((cu.user + cu.system) / 1000);
        }
      }
    const med = (x: number[]) => [...x].sort((p, q) => p - q)[x.length >> 1];
    // each form's NLL against the first form of its kind (dense or sparse): the largest difference and whether every bit is equal
    const first = (i: number) => sparseForm.indexOf(sparseForm[i]);
    const rows = forms.map((form, i) => ({
      form,
      wallMsMin: Math.min(...wall[i]), wallMsMedian: med(wall[i]), cpuMsMin: Math.min(...cpu[i]), cpuMsMedian: med(cpu[i]),
      maxAbsNllVsFirst: nll[i].reduce((m, x, j) => Math.max(m, Math.abs(x - nll[first(i)][j])), 0),
      nllBitsVsFirst: nll[i].every((x, j) => Object.is(x, nll[first(i)][j])),
      vsForm: forms[first(i)],
      activationRatio: active[i],
    }));
    for (const s of sessions) await s.release();
    const res = { suite: 'cpusearch-forms', tokensPerRun: T, reps, threads: v.threads ? Number(v.threads) : 'default', rows, wall, cpu, machine: machine(), date: new Date().toISOString() };
    console.log(JSON.stringify(res));
    writeOut(v.out, res);
    return r.dispose();
  }
  if (v.ops === '1') {
    // --ops 1: only onnxruntime's per-operator profile of the two CPU graphs a measurement runs, as the runner builds
    // them (fp32 graph, fp16/bf16-stored weights behind Casts, attention in causal query chunks: --attn-chunks, default
    // CPU_ATTN_CHUNKS; the sparse mask by Mul unless --mask-mul 0): the sparse (cett mask) pass, the dense and the capturing dense pass
    const ckpt = await loadCheckpoint(modelDir);
    const ids = new ort.Tensor('int64', BigInt64Array.from(b.ids, (x) => BigInt(x)), [b.batch, b.seqLen]);
    const tau = tauFromThresholds(new Array<number>(L).fill(0.1), r.colNorms).map((t) => Float32Array.from(t));
    const ops: Record<string, unknown> = {};
    const attnChunks = v['attn-chunks'] ? attnChunksArg(v['attn-chunks']) : CPU_ATTN_CHUNKS;
    for (const [name, mode, capture] of [['sparse', 'cett', false], ['dense', 'dense', false], ['capture', 'dense', true]] as const) {
      const gopts = { dtype: 'float32' as const, mode, capture, maxSeq: b.seqLen, halfWeights: v['half-weights'] !== '0', attnChunks, ...(mode === 'cett' && v['mask-mul'] !== '0' ? { maskMul: true } : {}) };
      const more = { ...(storesHalfWeights(ckpt, gopts) ? { extra: HALF_WEIGHTS_SESSION_EXTRA } : {}), ...(v.threads ? { intraOpNumThreads: Number(v.threads) } : {}) };
      const s = performance.now();
      const top = await profileByOp(buildLlamaGraph(ckpt, gopts), 'cpu', { input_ids: ids, ...maskFeeds(r.spec, mode === 'cett' ? { kind: 'cett', tau } : { kind: 'dense' }, b.batch, b.seqLen).feeds }, more);
      ops[name] = { wallMs: performance.now() - s, kernelMsPerRun: top.reduce((a, x) => a + x.ms, 0), oneThreadMsPerRun: top.reduce((a, x) => a + x.oneThreadMs, 0), top };
    }
    const res = { suite: 'cpusearch-ops', provider: r.provider, tokensPerBatch: T, attnChunks, halfWeights: v['half-weights'] !== '0', maskMul: v['mask-mul'] !== '0', threads: os.cpus().length, ops, machine: machine(), date: new Date().toISOString() };
    console.log(JSON.stringify(res));
    writeOut(v.out, res);
    return r.dispose();
  }
  const curveOnly = v['curve-only'] === '1';
  const skipped = { first: 0, ms: 0, out: undefined };
  const dense = curveOnly ? skipped : await timed(() => r.forward({ ids: b.ids, batch: b.batch, seqLen: b.seqLen, mode: { kind: 'dense' } }));
  const capture = curveOnly
    ? await timed(() => r.forward({ ids: b.ids, batch: b.batch, seqLen: b.seqLen, mode: { kind: 'dense' }, captureActivations: true }), 0)
    : await timed(() => r.forward({ ids: b.ids, batch: b.batch, seqLen: b.seqLen, mode: { kind: 'dense' }, captureActivations: true }));
  const tau = tauFromThresholds(new Array<number>(L).fill(0.1), r.colNorms).map((t) => Float32Array.from(t));
  const sparse = curveOnly ? skipped : await timed(() => r.forward({ ids: b.ids, batch: b.batch, seqLen: b.seqLen, mode: { kind: 'cett', tau } }));
  const acts = capture.out.activations!;
  const layer = Math.floor(L / 2);
  const wDown = await downWeightAt(target.downWeights, layer);
  const input = { a: acts[layer], tokens: T, f, wDown, d, colNorms: r.colNorms[layer] };
  // the curve's sweep on one thread, each back end (WebAssembly first: nothing of it compiled yet in this process)
  const kTokens = Math.min(T, Number(v.k ?? 256));
  const n = neuronNorms(acts[layer], T, f, r.colNorms[layer]);
  const op: CurveOperands = { a: acts[layer], n, wT: transposeDown(wDown, d, f), f, d, tokens: T, cand: authorsGrid(n) };
  let s = performance.now();
  const mod = curveSweepModule();
  const compileMs = performance.now() - s;
  const oneThread = { wasm: sweepTimes(op, 'wasm', kTokens), js: sweepTimes(op, 'js', kTokens) };
  // the calibration the default makes at its first curve of this shape (both back ends already warm here)
  s = performance.now();
  curveSweepBackend(op);
  const calibrateMs = performance.now() - s;
  const calibration = { ...curveSweepCalibrations()[`${f}×${d}`], wallMs: calibrateMs };
  let probeOut: Record<string, number> | undefined;
  if (!curveOnly) {
    // the ORT probe over the outer steps of a search: candidates evaluated per step and ms per candidate
    s = performance.now();
    const probe = (await buildProbeCurve(input, 'authors', r.provider, 1, false)) as Awaited<ReturnType<typeof buildProbeCurve>> & { evaluations: number; calls: number };
    const setupMs = performance.now() - s;
    s = performance.now();
    for (const c of OUTER) await probe.threshold(c);
    const ms = performance.now() - s;
    probeOut = { layer, setupMs, outerSteps: OUTER.length, evaluations: probe.evaluations, ms, msPerEvaluation: ms / probe.evaluations, msPerLayerStep: ms / OUTER.length };
    await probe.dispose?.();
  }
  // the whole layer's curve on one thread with the default (includes its setup: norms, grid, transpose), over a token prefix
  s = performance.now();
  buildLayerCurve({ ...input, a: acts[layer].subarray(0, kTokens * f), tokens: kTokens }, 'authors');
  const jsMsPerToken = (performance.now() - s) / kTokens;
  // on every core: the default (the calibrated back end), then each back end forced; the first call starts the threads
  const allThreads: Record<string, { firstMs: number; msPerLayer: number }> = {};
  for (const backend of ['auto', 'js', 'wasm'] as const) {
    setCurveSweep(backend);
    s = performance.now();
    await buildLayerCurveParallel(input, 'authors');
    const firstMs = performance.now() - s;
    s = performance.now();
    await buildLayerCurveParallel(input, 'authors');
    allThreads[backend] = { firstMs, msPerLayer: performance.now() - s };
  }
  setCurveSweep('auto');
  const jsParallelMs = allThreads.auto.msPerLayer;
  const jsFirstMs = allThreads.auto.firstMs;
  const nBatches = data.batches.length;
  const passes = 1 + OUTER.length + 1;
  const res = {
    suite: 'cpusearch',
    provider: r.provider,
    dtype: r.dtype,
    threads: os.cpus().length,
    tokensPerBatch: T,
    batches: nBatches,
    openMs,
    sessionTimings: r.sessionTimings,
    denseForwardMs: { first: dense.first, ms: dense.ms, tokensPerSecond: T / (dense.ms / 1000) },
    captureForwardMs: { first: capture.first, ms: capture.ms },
    sparseForwardMs: { first: sparse.first, ms: sparse.ms },
    probe: probeOut,
    execArgv: process.execArgv,
    // the curve's sweep: one thread per back end (ms per token: first call, the first 8 tokens, steady state; the
    // sweep alone and the whole token), the calibration, every core per back end (ms per layer of tokensPerBatch)
    sweep: { layer, compileMs, wasmModule: mod !== null, oneThread, calibration, allThreads, workerChunks: curveWorkerChunks() },
    jsCurve: { oneThread: { tokens: kTokens, msPerToken: jsMsPerToken, msPerLayer: jsMsPerToken * T }, threads: curveThreads(), msPerLayer: jsParallelMs, firstMs: jsFirstMs },
    // a measurement of every batch: the forwards (dense, outer steps, final) plus one engine's search cost
    projectedSeconds: {
      forwards: (nBatches * (capture.ms + (passes - 1) * sparse.ms)) / 1000,
      probeSearch: probeOut ? (nBatches * L * probeOut.ms) / 1000 : null,
      jsCurveOneThread: (nBatches * L * jsMsPerToken * T) / 1000,
      jsCurve: (nBatches * L * jsParallelMs) / 1000,
    },
    machine: machine(),
    date: new Date().toISOString(),
  };
  console.log(JSON.stringify(res));
  writeOut(v.out, res);
  await r.dispose();
  await closeCurvePool();
}
