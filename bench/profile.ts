/**
 * Where a fused CETT search call spends its time (issues 10, 16): on the first batch, the plain dense forward, the
 * search call with 0, 8 and 16 bisection levels (one target, and three side by side), per level of the bisection
 * the difference; with `--ops 1` also an onnxruntime profile of the 16-level call summed by operator type.
 * `npm run bench -- profile [--model DIR --tokens FILE --seq-len --batch --provider --dtype --search levels=2,chunk=4096,nin=1]`
 * (--search: the search graph's SearchTuning, main/graph/search-graph.ts); with `--what forward` the dense forward
 * graph alone, by operator and the execution provider that ran it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadCheckpoint } from '../main/checkpoint/index';
import { buildSearchGraph, DEFAULT_SEARCH_TUNING, parseSearchTuning } from '../main/graph/search-graph';
import { AUTHORS_RIGHT0 } from '../main/base/authors-search';
import { buildLlamaGraph } from '../main/graph/llama-graph';
import { machine, openTarget, parse, writeOut } from './common';

export async function main(argv: string[]): Promise<void> {
  const v = parse(argv);
  const { target, data, modelDir } = await openTarget(v);
  const r = target.runner;
  const b = data.batches[0];
  const L = r.spec.numLayers;
  const reps = Number(v.reps ?? 8);
  const time = async (f: () => Promise<unknown>, n = reps) => {
    await f(); // warm-up (session build)
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await f();
    return (performance.now() - t0) / n;
  };
  const dense = await time(() => r.forward({ ids: b.ids, batch: b.batch, seqLen: b.seqLen, mode: { kind: 'dense' } }));
  if (v.what === 'forward') {
    // the dense forward graph alone (as the runner builds it for this provider), by operator and the provider that ran it
    const ckpt = await loadCheckpoint(modelDir);
    const gopts = { dtype: r.dtype, mode: 'dense' as const, capture: false, maxSeq: b.seqLen, ...((v.fused ? v.fused === '1' : r.provider !== 'cpu') ? { fused: true } : {}) };
    const top = await profileByOp(buildLlamaGraph(ckpt, gopts), r.provider, { input_ids: new ort.Tensor('int64', BigInt64Array.from(b.ids, (x) => BigInt(x)), [b.batch, b.seqLen]) });
    const res = { suite: 'profile-forward', provider: r.provider, dtype: r.dtype, tokens: b.batch * b.seqLen, denseForwardMs: dense, tokensPerSecond: (b.batch * b.seqLen) / (dense / 1000), profileTop: top, machine: machine(), date: new Date().toISOString() };
    console.log(JSON.stringify(res));
    writeOut(v.out, res);
    return r.dispose();
  }
  const fresh = (c: number) => ({ c, lo: new Array(L).fill(0), hi: new Array(L).fill(AUTHORS_RIGHT0) });
  const tuning = v.search ? parseSearchTuning(v.search, '--search') : DEFAULT_SEARCH_TUNING;
  const step = (iters: number, J = 1) => () => r.searchStep!({ ids: b.ids, batch: b.batch, seqLen: b.seqLen, targets: [0.5, 0.25, 0.75].slice(0, J).map(fresh), iters });
  const s0 = await time(step(0));
  const s8 = await time(step(8));
  const s16 = await time(step(16));
  const s0b = await time(step(0)); // again: drift between the measurements shows up here
  const s16j3 = await time(step(16, 3)); // three targets side by side (the speculative search)
  // onnxruntime's own profile of one 16-level call, by operator (--ops 1)
  const ckpt = await loadCheckpoint(modelDir);
  const top = v.ops !== '1' ? [] : await profileByOp(buildSearchGraph(ckpt, { dtype: r.dtype, maxSeq: b.seqLen, colNorms: r.colNorms, fused: r.provider !== 'cpu', tuning }), r.provider, {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(b.ids, (x) => BigInt(x)), [b.batch, b.seqLen]),
    c: new ort.Tensor('float32', new Float32Array([0.5]), [1]),
    lo: new ort.Tensor('int64', new BigInt64Array(L), [1, L]),
    hi: new ort.Tensor('int64', new BigInt64Array(L).fill(BigInt(AUTHORS_RIGHT0)), [1, L]),
    iters: new ort.Tensor('int64', new BigInt64Array([16n]), []),
  });
  const res = { suite: 'profile', tuning, provider: r.provider, dtype: r.dtype, tokens: b.batch * b.seqLen, denseForwardMs: dense, searchCall0Ms: s0, searchCall8Ms: s8, searchCall16Ms: s16, searchCall0AgainMs: s0b, perIterationMs: (s16 - (s0 + s0b) / 2) / 16, // per bisection level (a Loop iteration does `levels` of them)
    perLevelMs: (s16 - (s0 + s0b) / 2) / 16, searchCall16x3Ms: s16j3, perIterationJ3Ms: (s16j3 - (s0 + s0b) / 2) / 16, profileTop: top, machine: machine(), date: new Date().toISOString() };
  console.log(JSON.stringify(res));
  writeOut(v.out, res);
  await r.dispose();
}

/**
 * Two runs of a graph under onnxruntime's profiler: kernel time per operator and execution provider, top 25 (`more`:
 * further session options). `oneThreadMs`: the part of it in calls that ran on one thread (on the CPU provider: no
 * parallel section in the call's thread_scheduling_stats, e.g. Where, Not, a bool Cast, a Reshape's copy; control-flow
 * nodes aside; on 2 cores invisible, on 16 a wall: BENCHMARKS.md 2026-12-05).
 */
export async function profileByOp(bytes: Uint8Array, provider: string, feeds: Record<string, ort.Tensor>, more: ort.InferenceSession.SessionOptions = {}): Promise<{ op: string; ms: number; calls: number; oneThreadMs: number }[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-prof-'));
  const sess = await ort.InferenceSession.create(bytes, { executionProviders: [provider], graphOptimizationLevel: 'all', enableProfiling: true, profileFilePrefix: path.join(dir, 'p'), logSeverityLevel: 3, ...more });
  await sess.run(feeds);
  await sess.run(feeds);
  sess.endProfiling();
  await sess.release();
  const byOp: Record<string, { ms: number; n: number; one: number }> = {};
  for (const f of fs.readdirSync(dir)) {
    type Stats = { main_thread?: { block_size?: number[] } };
    const ev = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string; provider?: string; thread_scheduling_stats?: Stats } }[];
    for (const e of ev)
      if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) {
        const k = `${e.args?.op_name ?? '?'}@${(e.args?.provider ?? '').replace('ExecutionProvider', '')}`;
        byOp[k] ??= { ms: 0, n: 0, one: 0 };
        byOp[k].ms += e.dur / 1000 / 2; // two runs
        byOp[k].n += 0.5;
        const blocks = e.args?.thread_scheduling_stats?.main_thread?.block_size;
        // a Loop/If/Scan's time includes its body's nodes, which are profiled (and threaded) on their own
        if (blocks && blocks.length === 0 && !/^(Loop|If|Scan)$/.test(e.args?.op_name ?? '')) byOp[k].one += e.dur / 1000 / 2;
      }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return Object.entries(byOp)
    .sort((x, y) => y[1].ms - x[1].ms)
    .slice(0, 25)
    .map(([k, x]) => ({ op: k, ms: +x.ms.toFixed(2), calls: x.n, oneThreadMs: +x.one.toFixed(2) }));
}
