/**
 * CETT_l(t) evaluated by onnxruntime (paper Sec. 4.1, Eq. 3) for models where the JS one-pass curve
 * (thresholds.ts) is too slow: one call computes, for K candidate thresholds at once,
 * tailNorm[k, tok] = ‖(A ⊙ [N ≤ t_k]) W_outᵀ‖₂ — a [K,T,F]·[F,d] product on the runner's provider, fp32
 * as in the authors' code. The curve is lazy: evaluated candidate indices are memoised per (batch,
 * layer), so outer CETT steps whose bisection paths share a prefix never pay twice; with `levels` > 1
 * one call evaluates that many levels of the bisection tree below the current interval (2^levels − 1
 * candidates), fewer round trips for more flops.
 *
 * Measured (one layer, F 1920, d 768, 11 thresholds of an outer search; H200 WebGPU / 16-core CPU):
 *   8192 tokens, operands fed per call:  webgpu levels 1: 3.3 s (82 calls), levels 3: 2.1 s (31 calls);
 *                                        cpu levels 1: 5.6 s
 *   8192 tokens, operands resident:      webgpu levels 1: 0.18 s + 1.3 s session build; levels 3: 0.68 s;
 *                                        levels 5: 1.8 s; cpu levels 1: 4.7 s + 0.7 s
 * So: GPU → resident operands, one node per call; CPU → fed operands (no second copy), one node per call.
 */
import * as ort from 'onnxruntime-node';
import { DT, GraphBuilder } from '../graph/onnx-builder';
import { AUTHORS_LEFT0, AUTHORS_RIGHT0, authorsBisectAsync, authorsEps, authorsGrid, subtreeNodes } from '../base/authors-search';
import { neuronNorms, type LayerCurve, type LayerInput, type ThresholdAnswer, type ThresholdMode } from './thresholds';

/**
 * The same probe with A, N and W_outᵀ baked in as initializers: one session per (batch, layer), so the
 * operands cross to the device once and every later call sends only the K thresholds. On a GPU this
 * removes the per-call host→device copy that dominates (measured on an H200 with WebGPU, 8192 tokens,
 * F 1920, d 768: 40 ms per call with inputs fed each time).
 */
function residentGraph(a: Float32Array, n: Float32Array, wt: Float32Array, T: number, F: number, d: number): Uint8Array {
  const g = new GraphBuilder('cett_probe_resident');
  const A = g.init('A', DT.FLOAT, [T, F], a);
  const N = g.init('N', DT.FLOAT, [T, F], n);
  const W = g.init('Wt', DT.FLOAT, [F, d], wt);
  const t = g.input('t', DT.FLOAT, ['K']);
  const tk = g.op('Unsqueeze', [t, g.i64('axes12', [1, 2])]);
  const mask = g.op('LessOrEqual', [N, tk]);
  const tailA = g.op('Where', [mask, A, g.f32('zero', [0], [])]);
  const tail = g.op('MatMul', [tailA, W]);
  g.op('ReduceL2', [tail], { axes: [2], keepdims: 0 }, 'tailNorm');
  g.output('tailNorm', DT.FLOAT, ['K', T]);
  return g.build();
}

async function residentSession(provider: string, model: Uint8Array): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(model, { executionProviders: [provider], logSeverityLevel: 3 });
  } catch (e) {
    if (provider === 'cpu') throw e;
    return ort.InferenceSession.create(model, { executionProviders: ['cpu'], logSeverityLevel: 3 });
  }
}

let graph: Uint8Array | undefined;
function probeGraph(): Uint8Array {
  if (!graph) {
    const g = new GraphBuilder('cett_probe');
    const a = g.input('A', DT.FLOAT, ['T', 'F']);
    const n = g.input('N', DT.FLOAT, ['T', 'F']);
    const w = g.input('Wt', DT.FLOAT, ['F', 'D']);
    const t = g.input('t', DT.FLOAT, ['K']);
    const tk = g.op('Unsqueeze', [t, g.i64('axes12', [1, 2])]); // [K,1,1]
    const mask = g.op('LessOrEqual', [n, tk]); // [K,T,F]: the tail, N ≤ t (authors zero N > t)
    const tailA = g.op('Where', [mask, a, g.f32('zero', [0], [])]);
    const tail = g.op('MatMul', [tailA, w]); // [K,T,D]
    g.op('ReduceL2', [tail], { axes: [2], keepdims: 0 }, 'tailNorm'); // [K,T]
    g.output('tailNorm', DT.FLOAT, ['K', 'T']);
    graph = g.build();
  }
  return graph;
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();
function sessionFor(provider: string): Promise<ort.InferenceSession> {
  let s = sessions.get(provider);
  if (!s) {
    s = ort.InferenceSession.create(probeGraph(), { executionProviders: [provider], logSeverityLevel: 3 }).catch((e) => {
      if (provider === 'cpu') throw e;
      return sessionFor('cpu'); // the probe is small; CPU always works
    });
    sessions.set(provider, s);
  }
  return s;
}

/** The tail norms [K, T] for thresholds t (fp32). */
async function tailNorms(provider: string, a: Float32Array, n: Float32Array, wt: Float32Array, T: number, F: number, d: number, t: number[]): Promise<Float32Array> {
  const s = await sessionFor(provider);
  const out = await s.run({
    A: new ort.Tensor('float32', a, [T, F]),
    N: new ort.Tensor('float32', n, [T, F]),
    Wt: new ort.Tensor('float32', wt, [F, d]),
    t: new ort.Tensor('float32', Float32Array.from(t), [t.length]),
  });
  return out.tailNorm.data as Float32Array;
}

export async function buildProbeCurve(input: LayerInput, mode: ThresholdMode, provider: string, levels = 1, resident = provider !== 'cpu'): Promise<LayerCurve> {
  const { a, tokens: T, f: F, wDown, d, colNorms } = input;
  const n = neuronNorms(a, T, F, colNorms);
  const wt = new Float32Array(F * d);
  for (let r = 0; r < d; r++) for (let i = 0; i < F; i++) wt[i * d + r] = wDown[r * F + i];
  let session: ort.InferenceSession | undefined;
  if (resident) session = await residentSession(provider, residentGraph(a, n, wt, T, F, d));
  const evalT = async (ts: number[]): Promise<Float32Array> => {
    if (!session) return tailNorms(provider, a, n, wt, T, F, d, ts);
    const out = await session.run({ t: new ort.Tensor('float32', Float32Array.from(ts), [ts.length]) });
    return out.tailNorm.data as Float32Array;
  };
  const full = await evalT([Infinity]);
  let zero = 0;
  for (let i = 0; i < T; i++) if (!(full[i] > 0)) zero++;
  const cand: Float32Array = mode === 'authors' ? authorsGrid(n) : distinctSorted(n);
  const memo = new Map<number, number>();
  let calls = 0;

  const meanRatio = (tn: Float32Array, k: number) => {
    let s = 0;
    for (let i = 0; i < T; i++) if (full[i] > 0) s += tn[k * T + i] / full[i];
    return T - zero > 0 ? s / (T - zero) : 0;
  };
  async function evalIdx(idx: number[]): Promise<void> {
    const todo = idx.filter((j) => !memo.has(j));
    if (todo.length === 0) return;
    calls++;
    const tn = await evalT(todo.map((j) => cand[j]));
    todo.forEach((j, k) => memo.set(j, meanRatio(tn, k)));
  }
  // authors: left/right start 0..K−1 (main/base/authors-search.ts); exact: all distinct values (right = K, one past);
  // each call evaluates the next `levels` levels of the bisection tree below the current interval
  const firstAbove = (c: number) =>
    authorsBisectAsync(
      (mid) => memo.get(mid),
      (left, right) => evalIdx(subtreeNodes(left, right, levels).filter((j) => j >= 0)),
      c,
      AUTHORS_LEFT0,
      mode === 'authors' ? AUTHORS_RIGHT0 : cand.length,
    );
  return {
    mode,
    zeroNormTokens: zero,
    bytes: (a.byteLength + n.byteLength + wt.byteLength) * (resident ? 2 : 1),
    get evaluations() {
      return memo.size;
    },
    get calls() {
      return calls;
    },
    async threshold(c): Promise<ThresholdAnswer> {
      const left = await firstAbove(c);
      if (mode === 'authors' || left === 0) return authorsEps(left, (i) => cand[i]);
      return { eps: left < cand.length ? cand[left] : Number.MAX_VALUE, clampedLow: false };
    },
    cettAt() {
      throw new Error('cettAt is not available on the ORT probe curve');
    },
    async dispose() {
      await session?.release();
      session = undefined;
    },
  } as LayerCurve & { evaluations: number; calls: number };
}

function distinctSorted(n: Float32Array): Float32Array {
  const s = Float32Array.from(n).sort();
  let m = 0;
  for (let i = 0; i < s.length; i++) if (i === 0 || s[i] !== s[m - 1]) s[m++] = s[i];
  return s.slice(0, m);
}
