/**
 * The authors' per-layer threshold search, once (Sparsing Law, arXiv 2411.02335, Sec. 4.1; their
 * calc_threshold_for_each_layer.py): the candidate grid and the bisection path. Every engine uses this module —
 * the host one-pass curve and the ORT probe (main/metrics), the fused ONNX search graph (main/graph/search-graph.ts
 * takes its constants and the fp32 operation order from here and is tested to walk the same path).
 *
 * Grid, per (batch, layer), over N = |a|·‖W_out[:,i]‖ (fp32, flattened [tokens, F]):
 *   start = min N; end = torch.quantile(N.view(-1)[::max(numel // 65536, 1)], 0.99) (linear interpolation, fp32,
 *   ATen's lerp); cand = torch.linspace(start, end, 65536) in fp32 as the CUDA kernel computes it
 *   (step = (end − start)/(65536 − 1); i < 32768 ? start + step·i : end − step·(65535 − i), each operation rounded to fp32).
 * Bisection: left = 0, right = 65535; while left < right: mid = ⌊(left + right)/2⌋, CETT(cand[mid]) > c ? right = mid
 *   : left = mid + 1; ε = cand[left − 1].
 * Documented deviation: when left ends at 0 (even the smallest candidate's CETT exceeds c) the authors' code takes
 * cand[−1], the LARGEST candidate, skipping almost everything; here ε = 0 (nothing skipped) and the layer is flagged
 * `clampedLow`.
 */

/** candidates per grid (the authors' n = 65536) */
export const AUTHORS_CANDIDATES = 65536;
/** the grid's upper end is this quantile of N */
export const AUTHORS_QUANTILE = 0.99;
/** torch.linspace's split point: indices below count up from start, the rest down from end */
export const AUTHORS_HALF = Math.floor(AUTHORS_CANDIDATES / 2);
/** the bisection starts on [0, K − 1] */
export const AUTHORS_LEFT0 = 0;
export const AUTHORS_RIGHT0 = AUTHORS_CANDIDATES - 1;

const f = Math.fround;

/** the q99 subsample stride: max(numel // K, 1) */
export function authorsStride(numel: number, k = AUTHORS_CANDIDATES): number {
  return Math.max(Math.floor(numel / k), 1);
}

/** torch.quantile(x, q) for fp32 x, linear interpolation: rank = q·(n − 1) in fp32, then ATen's lerp in fp32. */
export function quantileLinear(sorted: Float32Array, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = f(f(q) * f(n - 1));
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  const w = f(pos - lo);
  const a = sorted[lo];
  const b = sorted[hi];
  const diff = f(b - a);
  // at::lerp: w < 0.5 ? a + w·(b − a) : b − (b − a)·(1 − w)
  return w < 0.5 ? f(a + f(w * diff)) : f(b - f(diff * f(1 - w)));
}

/** fp32 step of torch.linspace(start, end, steps) */
export function linspaceStep(start: number, end: number, steps = AUTHORS_CANDIDATES): number {
  return steps === 1 ? 0 : f(f(f(end) - f(start)) / f(steps - 1));
}

/** element i of torch.linspace(start, end, steps) in fp32, as the CUDA kernel computes it */
export function linspaceAt(start: number, end: number, i: number, steps = AUTHORS_CANDIDATES, step = linspaceStep(start, end, steps)): number {
  if (steps === 1) return f(start);
  const half = Math.floor(steps / 2);
  return i < half ? f(f(start) + f(step * i)) : f(f(end) - f(step * (steps - 1 - i)));
}

/** torch.linspace(start, end, steps) in fp32 */
export function linspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  const step = linspaceStep(start, end, steps);
  for (let i = 0; i < steps; i++) out[i] = linspaceAt(start, end, i, steps, step);
  return out;
}

/** grid bounds (min N, q99 of the strided subsample) of one layer's N (flattened [tokens, F]); `least`: min N where the
 * caller has it already (the CPU curve's threads find it as they compute N) */
export function authorsGridBounds(n: ArrayLike<number>, k = AUTHORS_CANDIDATES, least?: number): { start: number; end: number } {
  let min = Infinity;
  if (least !== undefined) min = least;
  else for (let i = 0; i < n.length; i++) if (n[i] < min) min = n[i];
  const stride = authorsStride(n.length, k);
  const sub = new Float32Array(Math.ceil(n.length / stride));
  for (let i = 0, j = 0; i < n.length; i += stride, j++) sub[j] = n[i];
  sub.sort();
  return { start: min, end: quantileLinear(sub, AUTHORS_QUANTILE) };
}

/** the authors' candidate grid of one layer's N (`least`: its min N, where known) */
export function authorsGrid(n: ArrayLike<number>, k = AUTHORS_CANDIDATES, least?: number): Float32Array {
  const { start, end } = authorsGridBounds(n, k, least);
  return linspaceF32(start, end, k);
}

/** one step of the authors' bisection on [left, right) at mid = ⌊(left+right)/2⌋ given CETT(cand[mid]) */
export function bisectStep(left: number, right: number, cettAtMid: number, c: number): [number, number] {
  const mid = (left + right) >> 1;
  return cettAtMid > c ? [left, mid] : [mid + 1, right];
}

/**
 * Walks the authors' path for target c from [left, right) as far as `known(mid)` answers (undefined: not evaluated).
 * Returns where it stopped; left === right means the path is decided.
 */
export function walkPath(known: (mid: number) => number | undefined, c: number, left = AUTHORS_LEFT0, right = AUTHORS_RIGHT0): { left: number; right: number } {
  while (left < right) {
    const v = known((left + right) >> 1);
    if (v === undefined) break;
    [left, right] = bisectStep(left, right, v, c);
  }
  return { left, right };
}

/** the whole bisection with a synchronous evaluator; returns the final left */
export function authorsBisect(cettAt: (mid: number) => number, c: number, left = AUTHORS_LEFT0, right = AUTHORS_RIGHT0): number {
  return walkPath(cettAt, c, left, right).left;
}

/**
 * The whole bisection with an evaluator that fills `known` in batches: whenever the path reaches an unevaluated
 * node, `evaluate(left, right)` is awaited (it may evaluate several nodes, e.g. a subtree; it must evaluate mid).
 */
export async function authorsBisectAsync(known: (mid: number) => number | undefined, evaluate: (left: number, right: number) => Promise<void>, c: number, left = AUTHORS_LEFT0, right = AUTHORS_RIGHT0): Promise<number> {
  for (;;) {
    ({ left, right } = walkPath(known, c, left, right));
    if (left >= right) return left;
    await evaluate(left, right);
    if (known((left + right) >> 1) === undefined) throw new Error('authorsBisectAsync: the evaluator did not evaluate mid');
  }
}

/** iterations a bisection from [left, right) may still take (the worst case: ⌈log2(width + 1)⌉) */
export function bisectionDepth(left: number, right: number): number {
  let n = 0;
  for (let w = right - left; w > 0; w >>= 1) n++;
  return n;
}

/**
 * The nodes of the next `levels` levels of the bisection tree below [left, right), in heap order (node h's children
 * are 2h+1 for "CETT > c" (left half) and 2h+2 for the right half); empty intervals give −1. 2^levels − 1 entries.
 */
export function subtreeNodes(left: number, right: number, levels: number): number[] {
  const n = 2 ** levels - 1;
  const out = new Array<number>(n).fill(-1);
  const lo = new Array<number>(n);
  const hi = new Array<number>(n);
  lo[0] = left;
  hi[0] = right;
  for (let h = 0; h < n; h++) {
    if (lo[h] >= hi[h]) {
      if (2 * h + 2 < n) [lo[2 * h + 1], hi[2 * h + 1], lo[2 * h + 2], hi[2 * h + 2]] = [0, 0, 0, 0];
      continue;
    }
    const mid = (lo[h] + hi[h]) >> 1;
    out[h] = mid;
    if (2 * h + 2 < n) {
      [lo[2 * h + 1], hi[2 * h + 1]] = [lo[h], mid];
      [lo[2 * h + 2], hi[2 * h + 2]] = [mid + 1, hi[h]];
    }
  }
  return out;
}

/** ε from the final left: cand[left − 1], or 0 and clampedLow when left = 0 (the documented deviation) */
export function authorsEps(left: number, candAt: (i: number) => number): { eps: number; clampedLow: boolean } {
  return left === 0 ? { eps: 0, clampedLow: true } : { eps: candAt(left - 1), clampedLow: false };
}

/*
 * The outer search of CETT-PPL-p% (Luo et al., "Sparsing Law", arXiv 2411.02335, App. F, Algorithm 1): a bisection of
 * the CETT c on [l, r] = [0, 1] while r − l > tol; at c = (l + r)/2 a mean PPL ratio below 1 + p% moves l up to c,
 * else r down. The measurement (main/metrics/cett-ppl.ts), the pre-run estimate (main/jobs/estimate.ts) and the
 * progress plan (main/jobs/progress.ts) all step it through these three functions.
 */

/** the outer interval: the CETT lies in [l, r] */
export interface OuterInterval {
  l: number;
  r: number;
}

/** the outer steps left from interval `s` (from [0, 1] when not given) down to `tol` */
export function outerSteps(tol: number, s: OuterInterval = { l: 0, r: 1 }): number {
  let n = 0;
  for (let w = s.r - s.l; w > tol; w /= 2) n++;
  return n;
}

/** the CETT this step evaluates, and the two the next step may evaluate (c ± (r − l)/4, whichever way this one goes) */
export function outerMid(s: OuterInterval): { c: number; next: [number, number] } {
  const c = (s.l + s.r) / 2;
  return { c, next: [c - (s.r - s.l) / 4, c + (s.r - s.l) / 4] };
}

/** narrows `s` after evaluating c: a mean PPL ratio below 1 + p/100 keeps the sparser half */
export function outerNarrow(s: OuterInterval, c: number, pplRatio: number, p: number): void {
  if (pplRatio < 1 + p / 100) s.l = c;
  else s.r = c;
}
