/**
 * Where CETT-PPL-p% spends its time on the CPU (issue 16's CPU target), on the first batch: session creation, the
 * dense forward (plain and capturing the FFN activations), the sparse (cett-mask) forward, and the threshold search
 * engines on one layer — the ORT probe (ms per evaluated candidate, candidates per outer step of the authors' path)
 * and the JS one-pass curve (ms per token on one thread, ms per layer on every core: the CPU's default engine).
 * `projectedSeconds` multiplies them out for a whole measurement of --n-tokens.
 * `npm run bench -- cpusearch --model DIR --tokens FILE --n-tokens N --seq-len S --batch B --provider cpu`
 */
import os from 'node:os';
import { buildProbeCurve } from '../main/metrics/cett-probe';
import { closeCurvePool, curveThreads } from '../main/metrics/curve-kernel';
import { buildLayerCurve, buildLayerCurveParallel, tauFromThresholds } from '../main/metrics/thresholds';
import { downWeightAt } from '../main/metrics/target';
import { machine, openTarget, parse, writeOut } from './common';

/** the first outer steps of the CETT-PPL search (c = 0.5, 0.25, …), as cett-ppl.ts walks them for a ReLU model */
const OUTER = [0.5, 0.25, 0.125, 0.1875, 0.21875, 0.203125, 0.2109375, 0.21484375, 0.212890625, 0.2138671875];

export async function main(argv: string[]): Promise<void> {
  const v = parse(argv);
  const t0 = performance.now();
  const { target, data } = await openTarget(v);
  const openMs = performance.now() - t0;
  const r = target.runner;
  const b = data.batches[0];
  const T = b.batch * b.seqLen;
  const { hiddenSize: d, intermediateSize: f, numLayers: L } = r.spec;
  const reps = Number(v.reps ?? 2);
  const timed = async <X>(fn: () => Promise<X>): Promise<{ first: number; ms: number; out: X }> => {
    let s = performance.now();
    let out = await fn(); // the first call creates the session
    const first = performance.now() - s;
    s = performance.now();
    for (let i = 0; i < reps; i++) out = await fn();
    return { first, ms: (performance.now() - s) / reps, out };
  };
  const dense = await timed(() => r.forward({ ids: b.ids, batch: b.batch, seqLen: b.seqLen, mode: { kind: 'dense' } }));
  const capture = await timed(() => r.forward({ ids: b.ids, batch: b.batch, seqLen: b.seqLen, mode: { kind: 'dense' }, captureActivations: true }));
  const tau = tauFromThresholds(new Array<number>(L).fill(0.1), r.colNorms).map((t) => Float32Array.from(t));
  const sparse = await timed(() => r.forward({ ids: b.ids, batch: b.batch, seqLen: b.seqLen, mode: { kind: 'cett', tau } }));
  const acts = capture.out.activations!;
  const layer = Math.floor(L / 2);
  const input = { a: acts[layer], tokens: T, f, wDown: await downWeightAt(target.downWeights, layer), d, colNorms: r.colNorms[layer] };
  // the ORT probe over the outer steps of a search: candidates evaluated per step and ms per candidate
  let s = performance.now();
  const probe = (await buildProbeCurve(input, 'authors', r.provider, 1, false)) as Awaited<ReturnType<typeof buildProbeCurve>> & { evaluations: number; calls: number };
  const probeSetupMs = performance.now() - s;
  s = performance.now();
  for (const c of OUTER) await probe.threshold(c);
  const probeMs = performance.now() - s;
  const probeEvals = probe.evaluations;
  await probe.dispose?.();
  // the JS one-pass curve: on one thread over a token prefix (its cost is linear in tokens), on every core over the batch
  const jsTokens = Math.min(T, Number(v.k ?? 256));
  s = performance.now();
  buildLayerCurve({ ...input, a: acts[layer].subarray(0, jsTokens * f), tokens: jsTokens }, 'authors');
  const jsMsPerToken = (performance.now() - s) / jsTokens;
  s = performance.now();
  await buildLayerCurveParallel(input, 'authors'); // the first call starts the threads
  const jsFirstMs = performance.now() - s;
  s = performance.now();
  await buildLayerCurveParallel(input, 'authors');
  const jsParallelMs = performance.now() - s;
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
    probe: { layer, setupMs: probeSetupMs, outerSteps: OUTER.length, evaluations: probeEvals, ms: probeMs, msPerEvaluation: probeMs / probeEvals, msPerLayerStep: probeMs / OUTER.length },
    jsCurve: { oneThread: { tokens: jsTokens, msPerToken: jsMsPerToken, msPerLayer: jsMsPerToken * T }, threads: curveThreads(), msPerLayer: jsParallelMs, firstMs: jsFirstMs },
    // a measurement of every batch: the forwards (dense, outer steps, final) plus one engine's search cost
    projectedSeconds: {
      forwards: (nBatches * (capture.ms + (passes - 1) * sparse.ms)) / 1000,
      probeSearch: (nBatches * L * probeMs) / 1000,
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
