/**
 * The CPU CETT curve's per-token work (main/metrics/curve-kernel.ts) on one generated layer of a given shape, without
 * a model: the 1B shape (TinyLlama: d 2048, d_f 5632) by default, where W_out (46 MB fp32) is far beyond the caches.
 * Per blocking (--blockings: W_out's columns per block × tokens per run; auto = the default's) and back end
 * (WebAssembly, JS): one thread, as the curve runs it (CPU ms per token: the whole token and the sweep alone; the
 * rest is the sort and the pairs), and every core (curveParallel: wall and CPU ms per token of the layer, and a hash
 * of every token's pairs, the same for every blocking and back end).
 * With --layers K: instead, the engine's whole path per layer-curve (thresholds.ts buildLayerCurveParallel from A and
 * W_out as the dense pass and the checkpoint hand them over: A's shared copy, N, the grid, W_out's blocked copy, the
 * sweep, the curve), K curves one after the other: per curve the wall ms, the process's CPU ms and the main thread's
 * (what the worker threads cannot hide: Linux's /proc schedstat), and a hash of each curve's thresholds at 64 targets.
 * `npm run bench -- curvesweep [--f 5632] [--d 2048] [--tokens 256] [--one-thread-tokens 40] [--act silu|relu]
 *   [--threads N] [--backends wasm,js] [--blockings auto,2048x1,64x16] [--layers K] [--out FILE]`
 */
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { authorsGrid } from '../main/base/authors-search';
import { mulberry32 } from '../main/base/rng';
import {
  closeCurvePool,
  curveChunk,
  curveMemory,
  curveBlocking,
  curveBlockingTrials,
  curveBlockings,
  curveParallel,
  curveSweepModule,
  curveThreads,
  curveWorkerChunks,
  makeSweeper,
  resetCurveBlockingTrials,
  setCurveBlocking,
  setCurveSweep,
  transposeDown,
  type CurveBlocking,
  type CurveOperands,
  type SweepBackend,
} from '../main/metrics/curve-kernel';
import { buildLayerCurveParallel, neuronNorms, type LayerInput } from '../main/metrics/thresholds';
import { columnNorms } from '../main/inference/index';
import { machine, writeOut } from './common';

function whole(name: string, v: string | undefined, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  if (!/^[1-9]\d*$/.test(v) || Number(v) > max) throw new Error(`--${name}: '${v}' is not a whole number from 1 to ${max}`);
  return Number(v);
}

/** a generated layer: W_out [d, F] ~ N(0, 0.02²)-like, A = act(x) with x ~ N(0, 1)-like per token (SiLU: no zeros;
 * ReLU: about half); the curve's operands and the engine's input (W_out as the checkpoint holds it, its column norms) */
export function generatedLayer(f: number, d: number, tokens: number, act: 'silu' | 'relu', seed = 1): CurveOperands & { input: LayerInput } {
  const r = mulberry32(seed);
  const gauss = () => (r() + r() + r() + r() - 2) * Math.sqrt(3);
  const wDown = Float32Array.from({ length: d * f }, () => 0.02 * gauss());
  const wT = transposeDown(wDown, d, f);
  const col = columnNorms(wDown, d, f);
  const a = Float32Array.from({ length: tokens * f }, () => {
    const x = gauss();
    return act === 'relu' ? Math.max(0, x) : x / (1 + Math.exp(-x));
  });
  const n = neuronNorms(a, tokens, f, col);
  return { a, n, wT, f, d, tokens, cand: authorsGrid(n), input: { a, tokens, f, wDown, d, colNorms: col } };
}

/** this thread's CPU ms (Linux: /proc schedstat, ns on the CPU; NaN elsewhere) */
function threadCpuMs(): number {
  try {
    return Number(fs.readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return NaN;
  }
}

/** K layer-curves by the engine's path (buildLayerCurveParallel), one after the other: per curve wall, process CPU and
 * main-thread CPU ms, and a hash of its thresholds at 64 targets (the same for every run of the same layer) */
async function engineLayers(input: LayerInput, k: number, threads: number) {
  const curves: { wallMs: number; cpuMs: number; mainMs: number; hash: number }[] = [];
  for (let i = 0; i < k; i++) {
    const c = process.cpuUsage();
    const m = threadCpuMs();
    const s = performance.now();
    const cv = await buildLayerCurveParallel(input, 'authors', threads);
    const wallMs = performance.now() - s;
    const mainMs = threadCpuMs() - m;
    const cu = process.cpuUsage(c);
    let hash = 0;
    for (let j = 0; j < 64; j++) {
      const { eps, clampedLow } = await cv.threshold((j + 0.5) / 64);
      const bits = new Uint32Array(Float64Array.of(eps).buffer);
      hash = (Math.imul(hash, 31) + (bits[0] ^ bits[1]) + (clampedLow ? 1 : 0)) | 0;
      hash = (Math.imul(hash, 31) + Math.round(cv.cettAt(eps) * 2 ** 40)) | 0;
    }
    curves.push({ wallMs, cpuMs: (cu.user + cu.system) / 1000, mainMs, hash });
  }
  const median = (x: number[]) => [...x].sort((p, q) => p - q)[x.length >> 1];
  // the steady curves: after the blocking trials (curve-kernel.ts) of the shape
  const steady = curves.slice(Math.min(k - 1, k > 6 ? 6 : 0));
  return {
    curves,
    medianWallMs: median(steady.map((x) => x.wallMs)),
    medianCpuMs: median(steady.map((x) => x.cpuMs)),
    medianMainMs: median(steady.map((x) => x.mainMs)),
    hashes: [...new Set(curves.map((x) => x.hash))],
  };
}

/** one back end on this thread over the first k tokens, a group of the sweep's tokens per call as the curve runs
 * them (the first group warms it and is not counted): CPU ms per token, medians over the groups */
function oneThread(op: CurveOperands, backend: SweepBackend, k: number) {
  const sw = makeSweeper(curveSweepModule(), curveMemory(op.wT, op.f, op.d, 1), op.f, op.d, 0, backend);
  // CPU time of this thread's process (only this thread works here): a machine loaded by other processes stretches
  // the wall time, much less this
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  let sweepMs = 0;
  const run = sw.run;
  sw.run = (...args: Parameters<typeof run>) => {
    const s = cpuMs();
    const x = run(...args);
    sweepMs += cpuMs() - s;
    return x;
  };
  const g = sw.tokens;
  const out = new Float64Array(2 * op.f * g);
  const count = new Int32Array(g);
  const whole: number[] = [];
  const sweep: number[] = [];
  for (let t = 0; t + g <= k; t += g) {
    sweepMs = 0;
    const s = cpuMs();
    curveChunk(op.a, op.n, op.f, op.d, op.cand, t, t + g, out, count, sw);
    if (t > 0) {
      whole.push((cpuMs() - s) / g);
      sweep.push(sweepMs / g);
    }
  }
  const median = (x: number[]) => [...x].sort((p, q) => p - q)[x.length >> 1];
  const rest = whole.map((x, i) => x - sweep[i]);
  return { tokens: whole.length * g, msPerToken: median(whole), sweepMsPerToken: median(sweep), restMsPerToken: median(rest), minMsPerToken: Math.min(...whole) };
}

/** --blockings 2048x1,64x8: W_out's columns per block × tokens per run (curve-kernel.ts CurveBlocking); 'auto': the
 * default (one thread: one block; every core: the first curves try each of curveBlockings, the timed one uses the pick) */
function blockingsArg(v: string): (CurveBlocking | null)[] {
  return v.split(',').map((x) => {
    if (x === 'auto') return null;
    const m = /^([1-9]\d*)x([1-9]\d*)$/.exec(x);
    if (!m || Number(m[1]) % 4 !== 0 || Number(m[2]) > 256) throw new Error(`--blockings: '${x}' is not auto or DBxTOKENS (DB a multiple of 4, TOKENS 1 to 256)`);
    return { db: Number(m[1]), tokens: Number(m[2]) };
  });
}

export async function main(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      f: { type: 'string' },
      d: { type: 'string' },
      tokens: { type: 'string' },
      'one-thread-tokens': { type: 'string' },
      act: { type: 'string' },
      threads: { type: 'string' },
      out: { type: 'string' },
      backends: { type: 'string' },
      blockings: { type: 'string' },
      layers: { type: 'string' },
    },
  });
  const f = whole('f', v.f, 5632, 65536);
  const d = whole('d', v.d, 2048, 65536);
  const tokens = whole('tokens', v.tokens, 256, 1 << 20);
  const k1 = whole('one-thread-tokens', v['one-thread-tokens'], Math.min(tokens, 40), tokens);
  const threads = whole('threads', v.threads, curveThreads(), 1024);
  const act = v.act ?? 'silu';
  if (act !== 'silu' && act !== 'relu') throw new Error(`--act: '${act}' is not silu or relu`);
  const backends = (v.backends ?? 'wasm,js').split(',') as SweepBackend[];
  for (const b of backends) if (b !== 'wasm' && b !== 'js') throw new Error(`--backends: '${b}' is not wasm or js`);
  if (!curveSweepModule() && backends.includes('wasm')) throw new Error('this engine cannot compile the WebAssembly sweep');
  const blockings = blockingsArg(v.blockings ?? 'auto');
  let s = performance.now();
  const op = generatedLayer(f, d, tokens, act);
  const generateMs = performance.now() - s;
  if (v.layers !== undefined) {
    const k = whole('layers', v.layers, 1, 1000);
    const runs = [];
    for (const blocking of blockings) {
      setCurveBlocking(blocking);
      for (const b of backends) {
        setCurveSweep(b);
        resetCurveBlockingTrials();
        const r = await engineLayers(op.input, k, threads);
        runs.push({ blocking: blocking ? `${blocking.db}x${blocking.tokens}` : 'auto', backend: b, ...r, trial: curveBlockingTrials()[`${f}×${d}`] });
      }
    }
    setCurveBlocking(null);
    setCurveSweep('auto');
    await closeCurvePool();
    const res = { suite: 'curvesweep', mode: 'layers', f, d, act, tokens, threads, generateMs, runs, cores: os.cpus().length, machine: machine(), date: new Date().toISOString() };
    console.log(JSON.stringify(res));
    writeOut(v.out, res);
    return;
  }
  const runs = [];
  for (const blocking of blockings) {
    setCurveBlocking(blocking);
    const used = curveBlocking(f, d);
    const one: Record<string, ReturnType<typeof oneThread>> = {};
    for (const b of backends) one[b] = oneThread(op, b, k1);
    const all: Record<string, { threads: number; firstMs: number; ms: number; msPerToken: number; cpuMsPerToken: number; pairsHash: number; trial?: unknown; trialMs?: number[] }> = {};
    for (const b of backends) {
      setCurveSweep(b);
      // auto: the first curves try each blocking (a chunk per thread in turn, twice: curve-kernel.ts), until the pick;
      // the timed one uses it
      resetCurveBlockingTrials();
      const trialMs: number[] = [];
      let firstMs = 0;
      for (let i = 0; i === 0 || (!blocking && !curveBlockingTrials()[`${f}×${d}`]?.pick && i < 2 * curveBlockings(f, d).length); i++) {
        s = performance.now();
        await curveParallel(op, () => {}, threads); // (the first starts the threads)
        if (i === 0) firstMs = performance.now() - s;
        trialMs.push(performance.now() - s);
      }
      const c = process.cpuUsage();
      s = performance.now();
      // every token's pairs, kept to check they are the same for every blocking and back end
      let hash = 0;
      await curveParallel(op, (t, pairs, count) => {
        for (let i = 0; i < 2 * Math.max(0, count); i++) hash = (Math.imul(hash, 31) + Math.round(pairs[i] * 2 ** 40)) | 0;
        hash = (Math.imul(hash, 31) + count) | 0;
      }, threads);
      const ms = performance.now() - s;
      const cu = process.cpuUsage(c);
      all[b] = { threads, firstMs, ms, msPerToken: ms / tokens, cpuMsPerToken: (cu.user + cu.system) / 1000 / tokens, pairsHash: hash, ...(blocking ? {} : { trial: curveBlockingTrials()[`${f}×${d}`], trialMs }) };
    }
    runs.push({ blocking: blocking ? `${blocking.db}x${blocking.tokens}` : 'auto', db: used.db, groupTokens: used.tokens, oneThread: one, allThreads: all });
  }
  setCurveBlocking(null);
  setCurveSweep('auto');
  await closeCurvePool();
  const res = { suite: 'curvesweep', f, d, act, tokens, generateMs, runs, workerChunks: curveWorkerChunks(), cores: os.cpus().length, machine: machine(), date: new Date().toISOString() };
  console.log(JSON.stringify(res));
  writeOut(v.out, res);
}
