/**
 * Per-layer threshold search for a CETT target (paper Sec. 4.1, Eq. 3).
 *
 * The CETT_l(t) curve depends only on the dense pass, so we build it ONCE per (batch, layer) and then
 * answer any target c with a lookup: no matrix product per bisection step, no dense pass per outer step.
 *
 * How the whole curve costs one pass: for a token, sort its neurons by N_i = |a_i|·‖W_out[:,i]‖; the
 * tail {i : N_i ≤ t} is a prefix of that order, so the tail's output Σ a_i W_out[:,i] is a running sum
 * and its norm ratio r_tok(k) is known for every prefix k after F·d_h work — the cost of ONE of the
 * authors' 16 per-layer matrix products. CETT(t) = mean over tokens of r_tok(#{N ≤ t}); each entry
 * adds the jump r(k) − r(k−1) at the first candidate ≥ N_(k) (a difference array over candidates).
 *
 * Modes:
 * - 'authors' (default): 65,536 fp32 candidates linspace(min N, q99 N) with q99 from a strided
 *   subsample (stride max(numel/65536, 1)), torch.quantile linear interpolation; the authors' exact
 *   bisection path (`cett_t > c ? right=mid : left=mid+1`, start 0..65535), ε = cand[left−1]; left == 0 gives
 *   ε = 0 and `clampedLow` (their code would wrap to the largest candidate). The grid and the path are
 *   main/base/authors-search.ts, shared by every engine.
 * - 'exact': no grid and no q99 cap. Candidates are the sorted distinct N values; the tail kept is the
 *   longest prefix whose CETT never exceeds c (the same answer as any bisection when CETT is monotone),
 *   and ε is the NEXT distinct value, so the inference rule `skip iff N < ε` skips exactly that tail.
 *
 * Tokens whose FFN output is exactly zero have an undefined ratio (the authors' code yields NaN there);
 * they are left out of the mean and counted in `zeroNormTokens`.
 */
import { AUTHORS_CANDIDATES, authorsBisect, authorsEps, authorsGrid } from '../base/authors-search';
import { curveInThread, curveParallel, curveThreads, normsRange, prepareCurve, transposeDown, type CurveInput, type LayerOperands, type PairVisitor } from './curve-kernel';

export type ThresholdMode = 'authors' | 'exact';
export const AUTHORS_NUM_CANDIDATES = AUTHORS_CANDIDATES;

export interface ThresholdAnswer {
  eps: number;
  /** authors' mode: no candidate had CETT ≤ c (their code would wrap to the max candidate) */
  clampedLow: boolean;
}

export interface LayerCurve {
  mode: ThresholdMode;
  threshold(c: number): ThresholdAnswer | Promise<ThresholdAnswer>;
  /** CETT(t) at a threshold (tail = N ≤ t), for tests and the CETT→activation chart */
  cettAt(t: number): number;
  zeroNormTokens: number;
  bytes: number;
  /** releases device memory (ORT probe sessions); the JS curve has none */
  dispose?(): Promise<void>;
}

/**
 * τ_{l,i} = ε_l / ‖W_out[:, i]‖₂ (paper Sec. 4.1; README "Threshold exports"): neuron i of layer l is skipped on a token iff |a_i| < τ_{l,i}.
 * In float64 from the fp32 norms; a zero column has τ = ∞ (never active) unless ε_l = 0.
 */
export function tauFromThresholds(eps: ArrayLike<number>, colNorms: ArrayLike<number>[]): Float64Array[] {
  return colNorms.map((norms, l) => {
    const t = new Float64Array(norms.length);
    for (let i = 0; i < norms.length; i++) t[i] = norms[i] > 0 ? eps[l] / norms[i] : eps[l] > 0 ? Infinity : 0;
    return t;
  });
}

/** N = |A| · colNorms in fp32 (the authors multiply two fp32 tensors). A: [T, F]. */
export function neuronNorms(a: Float32Array, tokens: number, f: number, colNorms: Float32Array, n: Float32Array = new Float32Array(tokens * f)): Float32Array {
  normsRange(a, f, colNorms, n, 0, tokens);
  return n;
}

/** a layer's dense A and W_out, as the curve kernel takes them (one definition: curve-kernel.ts CurveInput) */
export type LayerInput = CurveInput;

export function buildLayerCurve(input: LayerInput, mode: ThresholdMode): LayerCurve {
  const { a, tokens, f, wDown, d, colNorms } = input;
  const n = neuronNorms(a, tokens, f, colNorms);
  const op = { a, n, wT: transposeDown(wDown, d, f), f, d, tokens, cand: mode === 'authors' ? authorsGrid(n) : null };
  const b = mode === 'authors' ? authorsBuilder(op) : exactBuilder(op);
  curveInThread(op, b.visit);
  return b.finish();
}

/**
 * The same curve (the same numbers) with the per-token work on every core (curve-kernel.ts): the CPU's engine for
 * the threshold search. N, the copy of W_out the threads read and the sweep run on the worker threads
 * (prepareCurve); on this thread where they cannot run.
 */
export async function buildLayerCurveParallel(input: LayerInput, mode: ThresholdMode, threads = curveThreads()): Promise<LayerCurve> {
  const p = await prepareCurve(input, mode === 'authors', threads);
  if (!p) return buildLayerCurve(input, mode);
  try {
    const b = mode === 'authors' ? authorsBuilder(p.op) : exactBuilder(p.op);
    await curveParallel(p.op, b.visit, threads);
    return b.finish();
  } finally {
    p.release();
  }
}

interface CurveBuilder {
  visit: PairVisitor;
  finish(): LayerCurve;
}

function authorsBuilder(op: LayerOperands): CurveBuilder {
  const cand = op.cand!;
  const K = cand.length;
  const delta = new Float64Array(K);
  let zero = 0;
  // each entry adds its jump at the first candidate ≥ its N, tokens in order (curve-kernel.ts curveChunk)
  const visit: PairVisitor = (_t, pairs, count) => {
    if (count < 0) zero++;
    for (let p = 0; p < count; p++) delta[pairs[2 * p]] += pairs[2 * p + 1];
  };
  return { visit, finish: () => authorsCurve(op.tokens, cand, delta, zero) };
}

function authorsCurve(tokens: number, cand: Float32Array, delta: Float64Array, zero: number): LayerCurve {
  const K = cand.length;
  const counted = tokens - zero;
  const curve = new Float64Array(K);
  let s = 0;
  for (let j = 0; j < K; j++) {
    s += delta[j];
    curve[j] = counted > 0 ? s / counted : 0;
  }
  return {
    mode: 'authors',
    zeroNormTokens: zero,
    bytes: K * 12,
    threshold(c) {
      return authorsEps(authorsBisect((mid) => curve[mid], c), (i) => cand[i]);
    },
    cettAt(t) {
      // value of the curve at the last candidate ≤ t (exact for t on the grid)
      let lo = 0;
      let hi = K;
      while (lo < hi) {
        const m = (lo + hi) >> 1;
        if (cand[m] <= t) lo = m + 1;
        else hi = m;
      }
      return lo === 0 ? 0 : curve[lo - 1];
    },
  };
}

function exactBuilder(op: LayerOperands): CurveBuilder {
  const total = op.tokens * op.f;
  const vals = new Float32Array(total);
  const jumps = new Float64Array(total);
  const seen = new Uint8Array(op.tokens);
  const st = { m: 0, zero: 0 };
  const visit: PairVisitor = (t, pairs, count) => {
    if (count < 0) {
      st.zero++;
      return;
    }
    seen[t] = 1;
    for (let p = 0; p < count; p++) {
      vals[st.m] = pairs[2 * p];
      jumps[st.m++] = pairs[2 * p + 1];
    }
  };
  return { visit, finish: () => exactCurve(op, vals, jumps, seen, st.m, st.zero) };
}

function exactCurve({ n, tokens, f }: LayerOperands, vals: Float32Array, jumps: Float64Array, seen: Uint8Array, m: number, zero: number): LayerCurve {
  // tokens with a zero FFN output are not in the mean, but their N values are candidates like any other (as the probe's)
  for (let t = 0; t < tokens; t++)
    if (!seen[t])
      for (let i = 0; i < f; i++) {
        vals[m] = n[t * f + i];
        jumps[m++] = 0;
      }
  const order = new Uint32Array(m);
  for (let i = 0; i < m; i++) order[i] = i;
  order.sort((x, y) => vals[x] - vals[y]);
  const counted = tokens - zero;
  // distinct values with the running max of CETT: the first value whose running max exceeds c ends the tail
  const dv: number[] = [];
  const runMax: number[] = [];
  let s = 0;
  let mx = -Infinity;
  for (let i = 0; i < m; ) {
    const v = vals[order[i]];
    while (i < m && vals[order[i]] === v) s += jumps[order[i++]];
    mx = Math.max(mx, counted > 0 ? s / counted : 0);
    dv.push(v);
    runMax.push(mx);
  }
  const values = Float32Array.from(dv);
  const maxes = Float64Array.from(runMax);
  return {
    mode: 'exact',
    zeroNormTokens: zero,
    bytes: values.length * 12,
    threshold(c) {
      let lo = 0;
      let hi = maxes.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (maxes[mid] > c) hi = mid;
        else lo = mid + 1;
      }
      // lo = first distinct value that breaks the target: skipping N < values[lo] keeps exactly the good tail
      if (lo === 0) return { eps: 0, clampedLow: true };
      return { eps: lo < values.length ? values[lo] : Number.MAX_VALUE, clampedLow: false };
    },
    cettAt(t) {
      let lo = 0;
      let hi = values.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (values[mid] <= t) lo = mid + 1;
        else hi = mid;
      }
      if (lo === 0) return 0;
      // running max is ≥ the curve; recompute the exact value would need the raw sums, keep them cheap:
      return exactAt(lo - 1);
    },
  };
  function exactAt(k: number): number {
    // cumulative (not running-max) value at distinct index k
    let acc = 0;
    let seen = -1;
    for (let i = 0; i < m; ) {
      const v = vals[order[i]];
      while (i < m && vals[order[i]] === v) acc += jumps[order[i++]];
      if (++seen === k) break;
    }
    return counted > 0 ? acc / counted : 0;
  }
}

/**
 * The plain CETT of one layer at threshold t (paper Sec. 4.1, Eq. 3), straight from the definition:
 * mean over tokens of ‖(A ⊙ [N ≤ t]) W_outᵀ‖ / ‖A W_outᵀ‖. Used by callers that want one value
 * without building a curve (and as a cross-check in tests).
 */
export function cettDirect({ a, tokens, f, wDown, d, colNorms }: LayerInput, t: number): number {
  let sum = 0;
  let counted = 0;
  for (let tok = 0; tok < tokens; tok++) {
    const o = tok * f;
    let full = 0;
    let tail = 0;
    for (let r = 0; r < d; r++) {
      let x = 0;
      let y = 0;
      for (let i = 0; i < f; i++) {
        const v = a[o + i] * wDown[r * f + i];
        x += v;
        if (Math.fround(Math.abs(a[o + i]) * colNorms[i]) <= t) y += v;
      }
      full += x * x;
      tail += y * y;
    }
    if (full > 0) {
      sum += Math.sqrt(tail) / Math.sqrt(full);
      counted++;
    }
  }
  return counted > 0 ? sum / counted : 0;
}
