/**
 * Every threshold-search engine gives EXACTLY the thresholds of the plain authors' algorithm (issue 16): the host
 * one-pass curve and the ORT probe (fed and resident operands, 1–3 bisection levels per call) on generated layers,
 * and the fused ONNX search graph (plain and contrib decoder forms, every SearchTuning) on tiny checkpoints through
 * onnxruntime on the CPU. The reference here is written independently of main/base/authors-search.ts (its own
 * torch-fp32 quantile and linspace, its own bisection, CETT straight from the definition in float64), so a change
 * in the production grid or path fails these tests. Edge cases: every candidate above the target, zero-norm tokens,
 * ties in N, a layer whose activations are all zero.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { generatedLayer, type LayerKind } from '../../main/metrics/testing/layers';
import { loadCheckpoint } from '../../main/checkpoint/index';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';
import { createRunner } from '../../main/inference/index';
import { batchStream } from '../../main/metrics/data';
import { measureCettPpl } from '../../main/metrics/cett-ppl';
import { readDownWeights, type DownWeights } from '../../main/metrics/target';
import type { ModelRunner } from '../../main/inference/runner-types';
import { openRunnerOffThread } from '../../main/inference/runner-off-thread';
import { buildLayerCurve, type LayerInput } from '../../main/metrics/thresholds';
import { buildProbeCurve } from '../../main/metrics/cett-probe';
import { buildSearchGraph, type SearchTuning } from '../../main/graph/search-graph';
import { plainCettPpl } from './metrics-plain';

const fr = Math.fround;

/** A search graph's inputs for one batch: targets cs, every layer's interval the whole grid, all 16 levels. */
function fullSearchFeeds(bt: { ids: Int32Array; batch: number; seqLen: number }, cs: number[], L: number): Record<string, ort.Tensor> {
  return {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(bt.ids, (x) => BigInt(x)), [bt.batch, bt.seqLen]),
    c: new ort.Tensor('float32', Float32Array.from(cs), [cs.length]),
    lo: new ort.Tensor('int64', new BigInt64Array(cs.length * L), [cs.length, L]),
    hi: new ort.Tensor('int64', new BigInt64Array(cs.length * L).fill(65535n), [cs.length, L]),
    iters: new ort.Tensor('int64', new BigInt64Array([16n]), []),
  };
}
type Kind = LayerKind;
const layer = generatedLayer;

/** CETT at threshold t from the definition (tail: N ≤ t), float64; NaN when no token has a nonzero output (as torch) */
function plainCett({ a, tokens, f, wDown, d }: LayerInput, N: Float32Array, t: number): number {
  let s = 0;
  let n = 0;
  for (let tok = 0; tok < tokens; tok++) {
    let full = 0;
    let tail = 0;
    for (let k = 0; k < d; k++) {
      let x = 0;
      let y = 0;
      for (let i = 0; i < f; i++) {
        const v = a[tok * f + i] * wDown[k * f + i];
        x += v;
        if (N[tok * f + i] <= t) y += v;
      }
      full += x * x;
      tail += y * y;
    }
    if (full > 0) {
      s += Math.sqrt(tail) / Math.sqrt(full);
      n++;
    }
  }
  return s / n;
}

function plainN({ a, tokens, f, colNorms }: LayerInput): Float32Array {
  return Float32Array.from({ length: tokens * f }, (_, j) => fr(Math.abs(a[j]) * colNorms[j % f]));
}

/** the authors' calc_threshold loop, written again: grid linspace(min N, q99 N, 65536) in torch fp32, bisection */
function plainAuthors(inp: LayerInput, c: number): { eps: number; clampedLow: boolean } {
  const N = plainN(inp);
  const min = N.reduce((m, x) => Math.min(m, x), Infinity);
  const stride = Math.max(Math.floor(N.length / 65536), 1);
  const sub = Array.from({ length: Math.ceil(N.length / stride) }, (_, k) => N[k * stride]).sort((x, y) => x - y);
  const rank = fr(fr(0.99) * fr(sub.length - 1));
  const lo = Math.floor(rank);
  const w = fr(rank - lo);
  const [va, vb] = [sub[lo], sub[Math.min(lo + 1, sub.length - 1)]];
  const q99 = w < 0.5 ? fr(va + fr(w * fr(vb - va))) : fr(vb - fr(fr(vb - va) * fr(1 - w)));
  const step = fr(fr(q99 - min) / 65535);
  const cand = (j: number) => (j < 32768 ? fr(min + fr(step * j)) : fr(q99 - fr(step * (65535 - j))));
  let left = 0;
  let right = 65535;
  while (left < right) {
    const mid = Math.floor((left + right) / 2);
    if (plainCett(inp, N, cand(mid)) > c) right = mid;
    else left = mid + 1;
  }
  return left === 0 ? { eps: 0, clampedLow: true } : { eps: cand(left - 1), clampedLow: false };
}

/** exact mode, plainly: the first distinct N value v whose tail {N ≤ v} breaks c is ε (skip N < ε) */
function plainExact(inp: LayerInput, c: number): { eps: number; clampedLow: boolean } {
  const N = plainN(inp);
  const vals = [...new Set(N)].sort((x, y) => x - y);
  for (let k = 0; k < vals.length; k++) if (plainCett(inp, N, vals[k]) > c) return k === 0 ? { eps: 0, clampedLow: true } : { eps: vals[k], clampedLow: false };
  return { eps: Number.MAX_VALUE, clampedLow: false };
}

const TARGETS = [1e-9, 0.03, 0.2, 0.45, 0.8];
const LAYERS: { kind: Kind; seed: number }[] = [
  { kind: 'relu', seed: 1 },
  { kind: 'relu', seed: 2 },
  { kind: 'silu', seed: 3 },
  { kind: 'silu', seed: 4 },
  { kind: 'zero-tokens', seed: 5 },
  { kind: 'ties', seed: 6 },
  { kind: 'all-zero', seed: 7 },
];

describe('threshold engines on one layer = the plain authors algorithm, exactly', () => {
  for (const { kind, seed } of LAYERS) {
    it(`${kind}, seed ${seed}`, async () => {
      const inp = layer(seed, 10, 24, 6, kind);
      const want = TARGETS.map((c) => plainAuthors(inp, c));
      // SiLU: min N > 0, so even the smallest candidate's tail breaks a tiny target (every candidate above it)
      if (kind === 'silu') expect(want[0]).toEqual({ eps: 0, clampedLow: true });
      if (kind === 'all-zero') for (const w of want) expect(w).toEqual({ eps: 0, clampedLow: false }); // CETT is 0/0: never above c
      const js = buildLayerCurve(inp, 'authors');
      expect(js.zeroNormTokens).toBe(kind === 'all-zero' ? 10 : kind === 'zero-tokens' ? 3 : 0);
      for (let k = 0; k < TARGETS.length; k++) expect(await js.threshold(TARGETS[k]), `js c=${TARGETS[k]}`).toEqual(want[k]);
      for (const [levels, resident] of [
        [1, false],
        [2, true],
        [3, false],
      ] as const) {
        const probe = await buildProbeCurve(inp, 'authors', 'cpu', levels, resident);
        // in an outer-search order (the memo of earlier targets decides part of later paths)
        for (const k of [2, 0, 4, 1, 3]) expect(await probe.threshold(TARGETS[k]), `probe L${levels} c=${TARGETS[k]}`).toEqual(want[k]);
        await probe.dispose?.();
      }
    });
  }

  for (const { kind, seed } of LAYERS.slice(2, 6)) {
    it(`exact mode, ${kind}, seed ${seed}`, async () => {
      const inp = layer(seed, 8, 16, 5, kind);
      const N = plainN(inp);
      const vals = [...new Set(N)].sort((x, y) => x - y);
      const monotone = vals.every((v, k) => k === 0 || plainCett(inp, N, v) >= plainCett(inp, N, vals[k - 1]) - 1e-12);
      const js = buildLayerCurve(inp, 'exact');
      const probe = await buildProbeCurve(inp, 'exact', 'cpu', 2);
      for (const c of TARGETS) {
        const want = plainExact(inp, c);
        expect(await js.threshold(c), `js c=${c}`).toEqual(want);
        const got = await probe.threshold(c);
        // the probe bisects (it cannot evaluate every distinct value of a large model): the same answer where CETT is
        // monotone over the distinct values; otherwise a valid one — the kept tail (N < ε) has CETT ≤ c and the
        // value at ε breaks c — that may be longer than the first-break answer
        if (monotone) expect(got, `probe c=${c}`).toEqual(want);
        else if (!got.clampedLow) {
          const k = vals.indexOf(got.eps);
          expect(plainCett(inp, N, vals[k - 1])).toBeLessThanOrEqual(c);
          expect(plainCett(inp, N, got.eps)).toBeGreaterThan(c);
        }
      }
    });
  }
});

// ---- the fused search graph on tiny checkpoints

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-engines-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** zeroes one tensor of a safetensors file in place (a layer whose FFN activations are all zero) */
function zeroTensor(file: string, name: string): void {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
  const t = header[name];
  if (!t) throw new Error(`${file}: no tensor ${name}`);
  buf.fill(0, 8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]);
  fs.writeFileSync(file, buf);
}

async function model(activation: 'relu' | 'silu', seed: number, zeroLayer?: number) {
  const dir = path.join(tmp, `${activation}-${seed}-${zeroLayer ?? 'x'}`);
  writeTinyCheckpoint(dir, 'llama', { activation, hidden: 32, layers: 3, heads: 4, intermediate: 48, vocab: 300, seed, std: 0.2, maxPositions: 64 });
  if (zeroLayer !== undefined) zeroTensor(path.join(dir, 'model.safetensors'), `model.layers.${zeroLayer}.mlp.up_proj.weight`);
  const ckpt = await loadCheckpoint(dir);
  let s = seed * 7919 + 1;
  const ids = Int32Array.from({ length: 5 * 20 }, () => (s = (s * 1103515245 + 12345) >>> 0) % 300);
  return { dir, ckpt, data: batchStream(ids, { seqLen: 20, batch: 2 }, 'test') };
}

const TUNINGS: SearchTuning[] = [
  { levels: 1, chunkTokens: 0, nInLoop: false },
  { levels: 2, chunkTokens: 0, nInLoop: true },
  { levels: 3, chunkTokens: 16, nInLoop: false },
  { levels: 2, chunkTokens: 7, nInLoop: true, mulMask: true },
];

describe('fused search graph (CPU) = the plain authors algorithm, exactly', () => {
  const MODELS: { act: 'relu' | 'silu'; seed: number; p: number; zeroLayer?: number; half?: boolean }[] = [
    { act: 'relu', seed: 3, p: 1 },
    { act: 'silu', seed: 5, p: 3 },
    { act: 'silu', seed: 8, p: 1, zeroLayer: 1 },
    // fp16 graphs (what GPUs run), with the fp16 tail test against halfBound
    { act: 'silu', seed: 6, p: 3, half: true },
  ];
  const HALF_TUNINGS: SearchTuning[] = [
    { ...TUNINGS[0], mask16: false },
    { levels: 1, chunkTokens: 0, nInLoop: false, mask16: true, mulMask: true },
    { levels: 2, chunkTokens: 16, nInLoop: false, mask16: true },
    { levels: 1, chunkTokens: 7, nInLoop: true, mask16: false, mulMask: true },
  ];
  for (const m of MODELS) {
    it(`${m.act}${m.half ? ' fp16' : ''}, seed ${m.seed}${m.zeroLayer !== undefined ? `, layer ${m.zeroLayer} all zero` : ''}: every tuning, and the host engines`, async () => {
      const { dir, ckpt, data } = await model(m.act, m.seed, m.zeroLayer);
      const dtype = m.half ? ('float16' as const) : ('float32' as const);
      const base = await createRunner(ckpt, { provider: 'cpu', maxSeq: 32, dtype });
      const target = { id: dir, runner: base, downWeights: await readDownWeights(ckpt) };
      const o = { p: m.p, tol: 1e-3, thresholdMode: 'authors' as const };
      try {
        const plain = await plainCettPpl({ runner: base, down: target.downWeights }, data, m.p, 1e-3);
        for (const engine of ['js', 'ort'] as const) {
          const r = await measureCettPpl(target, data, { ...o, curveEngine: engine });
          expect(r.cett, engine).toBe(plain.c);
          expect(r.thresholdsPerBatch, engine).toEqual(plain.epsPerBatch);
        }
        let fp16Ref: { cett?: number; thresholdsPerBatch?: number[][]; activationRatio: number } | undefined;
        // every tuning on the first model, two on the others (CI time)
        for (const tuning of m.half ? HALF_TUNINGS : m === MODELS[0] ? TUNINGS : [TUNINGS[0], TUNINGS[3]]) {
          const runner = await createRunner(ckpt, { provider: 'cpu', maxSeq: 32, dtype, searchTuning: tuning });
          try {
            const r = await measureCettPpl({ ...target, runner }, data, { ...o, curveEngine: 'fused' });
            expect(r.curveEngine).toBe('fused');
            // fp16 graphs compute the CETT products in fp16 (the plain loop in float64): there, every tuning gives
            // exactly the answer of the first (the plain fp16 loop of the graph), which is checked against the
            // float64 loop for the same grid point within fp16's reach by the CUDA benchmark (BENCHMARKS.md)
            const ref = m.half ? (fp16Ref ??= r) : { cett: plain.c, thresholdsPerBatch: plain.epsPerBatch, activationRatio: plain.act };
            expect(r.cett, JSON.stringify(tuning)).toBe(ref.cett);
            expect(r.thresholdsPerBatch, JSON.stringify(tuning)).toEqual(ref.thresholdsPerBatch);
            expect(r.activationRatio).toBeCloseTo(ref.activationRatio, 12);
            if (m.zeroLayer !== undefined) for (const e of r.thresholdsPerBatch) expect(e[m.zeroLayer]).toBe(0);
          } finally {
            await runner.dispose();
          }
        }
      } finally {
        await base.dispose();
      }
    }, 180_000);
  }

  it('W_out in the checkpoint layout (FusedMatMul transB, what CUDA runs) gives the transposed-copy graph answer', async () => {
    const { ckpt, data } = await model('relu', 3);
    const runner = await createRunner(ckpt, { provider: 'cpu', maxSeq: 32 });
    try {
      const L = runner.spec.numLayers;
      const bt = data.batches[0];
      const cs = [0.3, 0.05];
      const outs = [];
      for (const productTransB of [false, true]) {
        for (const layerGroup of [1, L]) {
          const bytes = buildSearchGraph(ckpt, { dtype: 'float32', maxSeq: 32, colNorms: runner.colNorms, fused: true, productTransB, layerGroup });
          expect(Buffer.from(bytes).includes('FusedMatMul')).toBe(productTransB);
          const sess = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], logSeverityLevel: 3 });
          outs.push(
            await sess.run(fullSearchFeeds(bt, cs, L)),
          );
          await sess.release();
        }
      }
      const [ref, ...rest] = outs;
      for (const o of rest) {
        expect(Array.from(o.lo_final.data as BigInt64Array)).toEqual(Array.from(ref.lo_final.data as BigInt64Array));
        expect(Array.from(o.eps.data as Float32Array)).toEqual(Array.from(ref.eps.data as Float32Array));
        const c0 = ref.eval_cett.data as Float32Array;
        (o.eval_cett.data as Float32Array).forEach((x, i) => expect(Math.abs(x - c0[i])).toBeLessThanOrEqual(1e-6));
        const n0 = ref.nll.data as Float32Array;
        (o.nll.data as Float32Array).forEach((x, i) => expect(Math.abs(x - n0[i])).toBeLessThanOrEqual(1e-5));
      }
    } finally {
      await runner.dispose();
    }
  }, 120_000);

  it('walks the authors path through its own grid: grid bounds and every visited node from main/base/authors-search.ts', async () => {
    const { authorsGridBounds, bisectionDepth, linspaceAt, walkPath } = await import('../../main/base/authors-search');
    const { ckpt, data } = await model('silu', 5);
    const runner = await createRunner(ckpt, { provider: 'cpu', maxSeq: 32 });
    try {
      const L = runner.spec.numLayers;
      const F = runner.spec.intermediateSize;
      const bt = data.batches[0];
      const dense = await runner.forward({ ids: bt.ids, batch: bt.batch, seqLen: bt.seqLen, mode: { kind: 'dense' }, captureActivations: true });
      for (const [fused, tuning] of [
        [false, TUNINGS[0]],
        [true, TUNINGS[2]],
        [true, TUNINGS[3]],
      ] as const) {
        const sess = await ort.InferenceSession.create(buildSearchGraph(ckpt, { dtype: 'float32', maxSeq: 32, colNorms: runner.colNorms, fused, tuning }), { executionProviders: ['cpu'], logSeverityLevel: 3 });
        const cs = [0.3, 0.05];
        const out = await sess.run(fullSearchFeeds(bt, cs, L));
        await sess.release();
        const mid = Array.from(out.eval_mid.data as BigInt64Array, Number);
        const cett = out.eval_cett.data as Float32Array;
        const tv = out.eval_t.data as Float32Array;
        const act = out.eval_active.data as Uint8Array;
        const eps = out.eps.data as Float32Array;
        for (let l = 0; l < L; l++) {
          // grid: the bounds of N from the dense activations, as the module computes them, and each visited candidate
          const a = dense.activations![l];
          const N = Float32Array.from(a, (x, j) => fr(Math.abs(x) * runner.colNorms[l][j % F]));
          // (the capture graph's activations may differ from the search graph's in the last fp32 bits: ORT fuses
          // the two graphs differently, so the bounds are compared to 1e-4 and the grid itself exactly below)
          const host = authorsGridBounds(N);
          const start = (out.grid_start.data as Float32Array)[l];
          const end = (out.grid_end.data as Float32Array)[l];
          expect(Math.abs(start - host.start)).toBeLessThanOrEqual(1e-4 * Math.abs(host.end));
          expect(Math.abs(end - host.end)).toBeLessThanOrEqual(1e-4 * Math.abs(host.end));
          for (let j = 0; j < cs.length; j++) {
            const seen = new Map<number, number>();
            for (let i = l + j * L; i < mid.length; i += cs.length * L)
              if (act[i]) {
                seen.set(mid[i], cett[i]);
                expect(tv[i]).toBe(linspaceAt(start, end, mid[i]));
              }
            // the module's path through the graph's CETT values ends decided, at the graph's lo
            const p = walkPath((x) => seen.get(x), fr(cs[j]));
            expect(p.left).toBe(p.right);
            expect(bisectionDepth(p.left, p.right)).toBe(0);
            expect(Number((out.lo_final.data as BigInt64Array)[j * L + l])).toBe(p.left);
            if (j === 0) expect(eps[l]).toBe(p.left === 0 ? 0 : linspaceAt(start, end, p.left - 1));
          }
        }
      }
    } finally {
      await runner.dispose();
    }
  }, 120_000);
});

describe('CPU curve beside the next dense forward (a runner off the engine thread) = the plain authors algorithm', () => {
  it('relu and silu: the same CETT, thresholds, PPL ratio and activation ratio with and without the overlap, and the overlap happens', async () => {
    for (const [act, seed] of [
      ['relu', 11],
      ['silu', 12],
    ] as const) {
      const { dir, ckpt, data } = await model(act, seed);
      expect(data.batches.length).toBeGreaterThan(1);
      const base = await createRunner(ckpt, { provider: 'cpu', maxSeq: 32 });
      try {
        const all = await readDownWeights(ckpt);
        const plain = await plainCettPpl({ runner: base, down: all }, data, 1, 1e-3);
        // the curves read W_out a layer at a time: the reads made while a dense forward is pending show the overlap
        let reads = 0;
        const down: DownWeights = { layers: all.length, layer: async (l) => (reads++, all[l]) };
        let waitForCurve = false;
        let captures = 0;
        let sparse = 0;
        const during: boolean[] = [];
        // as an inference worker's runner looks to the engine: its answer comes later, the engine's thread free meanwhile
        const runner: ModelRunner = {
          ...base,
          offThread: true,
          forward: async (req) => {
            const r = await base.forward(req);
            // the capturing dense passes after the first, and the first sparse pass (the last batch's curve beside it)
            if (req.captureActivations ? captures++ === 0 : sparse++ > 0) return r;
            const r0 = reads;
            const until = performance.now() + (waitForCurve ? 10_000 : 30);
            while (performance.now() < until && !(waitForCurve && reads > r0)) await new Promise((res) => setTimeout(res, 2));
            during.push(reads > r0);
            return r;
          },
        };
        const results = [];
        for (const overlapCurves of [true, false]) {
          waitForCurve = overlapCurves;
          captures = 0;
          sparse = 0;
          during.length = 0;
          const r = await measureCettPpl({ id: dir, runner, downWeights: down }, data, { p: 1, tol: 1e-3, thresholdMode: 'authors', curveEngine: 'js', overlapCurves });
          // with the overlap the previous batch's curve is built while each later dense forward is pending, and the last
          // batch's while the search's first sparse pass is; without, never
          expect(during, `${act} overlap ${overlapCurves}`).toEqual(new Array(data.batches.length).fill(overlapCurves));
          expect(r.cett).toBe(plain.c);
          expect(r.thresholdsPerBatch).toEqual(plain.epsPerBatch);
          results.push(r);
        }
        expect(results[0].pplRatio).toBe(results[1].pplRatio);
        expect(results[0].activationRatio).toBe(results[1].activationRatio);
        expect(results[0].searchHistory).toEqual(results[1].searchHistory);
        if (act === 'relu') {
          // and a real inference worker's runner (its forwards on another thread, the curves here meanwhile)
          const off = await openRunnerOffThread(ckpt, { provider: 'cpu', maxSeq: 32 });
          try {
            expect(off.offThread).toBe(true);
            const r = await measureCettPpl({ id: dir, runner: off, downWeights: all }, data, { p: 1, tol: 1e-3, thresholdMode: 'authors', curveEngine: 'js' });
            expect(r.cett).toBe(plain.c);
            expect(r.thresholdsPerBatch).toEqual(plain.epsPerBatch);
            expect(r.activationRatio).toBe(results[0].activationRatio);
            expect(r.pplRatio).toBe(results[0].pplRatio);
          } finally {
            await off.dispose();
          }
        }
      } finally {
        await base.dispose();
      }
    }
  }, 120_000);
});
