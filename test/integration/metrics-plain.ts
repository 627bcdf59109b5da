/**
 * A deliberately plain implementation of the authors' CETT-PPL-p%, written from the paper (Sec. 4.1–4.2, Algorithm 1): no
 * caching, the dense pass and the per-layer threshold bisection (one direct matrix product per step)
 * redone in every outer step, exactly as calc_threshold_for_each_layer.py + inspect_sparsity.py do. Written
 * without the production code's grid or bisection (main/base/authors-search.ts), so a change there shows up here.
 */
import type { ModelRunner } from '../../main/inference/runner-types';
import type { EvalData } from '../../main/metrics/data';

export interface PlainModel {
  runner: ModelRunner;
  /** per layer W_out [d, F] */
  down: Float32Array[];
}

function plainThreshold(a: Float32Array, T: number, F: number, w: Float32Array, d: number, norms: Float32Array, c: number): number {
  const N = new Float32Array(T * F);
  for (let i = 0; i < T * F; i++) N[i] = Math.abs(a[i]) * norms[i % F];
  let min = Infinity;
  for (const x of N) min = Math.min(min, x);
  // q99 of a strided subsample: torch.quantile on fp32 — rank 0.99·(n − 1) in fp32, then ATen's lerp in fp32
  const fr = Math.fround;
  const stride = Math.max(Math.floor(N.length / 65536), 1);
  const sub: number[] = [];
  for (let i = 0; i < N.length; i += stride) sub.push(N[i]);
  sub.sort((x, y) => x - y);
  const rank = fr(fr(0.99) * fr(sub.length - 1));
  const lo = Math.floor(rank);
  const wt = fr(rank - lo);
  const va = sub[lo];
  const vb = sub[Math.min(lo + 1, sub.length - 1)];
  const q99 = wt < 0.5 ? fr(va + fr(wt * fr(vb - va))) : fr(vb - fr(fr(vb - va) * fr(1 - wt)));
  // torch.linspace(min, q99, 65536) as its CUDA kernel computes it in fp32: the first half up from min, the rest down from q99
  const step = fr(fr(q99 - min) / 65535);
  const cand = (j: number) => (j < 32768 ? fr(min + fr(step * j)) : fr(q99 - fr(step * (65535 - j))));
  const cett = (t: number) => {
    let s = 0;
    let n = 0;
    for (let tok = 0; tok < T; tok++) {
      let full = 0;
      let tail = 0;
      for (let k = 0; k < d; k++) {
        let x = 0;
        let y = 0;
        for (let i = 0; i < F; i++) {
          const v = a[tok * F + i] * w[k * F + i];
          x += v;
          if (N[tok * F + i] <= t) y += v;
        }
        full += x * x;
        tail += y * y;
      }
      if (full > 0) {
        s += Math.sqrt(tail / full);
        n++;
      }
    }
    return s / n;
  };
  let left = 0;
  let right = 65535;
  while (left < right) {
    const mid = (left + right) >> 1;
    if (cett(cand(mid)) > c) right = mid;
    else left = mid + 1;
  }
  return left === 0 ? 0 : cand(left - 1); // the authors' left==0 wrap replaced by "skip nothing"
}

export async function plainInspect(m: PlainModel, data: EvalData, c: number) {
  const { hiddenSize: d, intermediateSize: F, numLayers: L } = m.runner.spec;
  const ratios: number[] = [];
  const acts: number[] = [];
  const eps: number[][] = [];
  for (const bt of data.batches) {
    const dense = await m.runner.forward({ ids: bt.ids, batch: bt.batch, seqLen: bt.seqLen, mode: { kind: 'dense' }, captureActivations: true });
    const T = bt.batch * bt.seqLen;
    const th = dense.activations!.map((a, l) => plainThreshold(a, T, F, m.down[l], d, m.runner.colNorms[l], c));
    eps.push(th);
    const tau = th.map((e, l) => Float32Array.from(m.runner.colNorms[l], (n) => e / n));
    const sparse = await m.runner.forward({ ids: bt.ids, batch: bt.batch, seqLen: bt.seqLen, mode: { kind: 'cett', tau } });
    const ld = dense.nll.reduce((x, y) => x + y, 0) / dense.nll.length;
    const ls = sparse.nll.reduce((x, y) => x + y, 0) / sparse.nll.length;
    ratios.push(Math.exp(ls - ld));
    acts.push(sparse.activeCounts.reduce((x, y) => x + y, 0) / (L * T * F));
  }
  const avg = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
  return { ratio: avg(ratios), act: avg(acts), eps: Array.from({ length: L }, (_, l) => avg(eps.map((e) => e[l]))), epsPerBatch: eps };
}

export async function plainCettPpl(m: PlainModel, data: EvalData, p: number, tol: number) {
  let l = 0;
  let r = 1;
  while (r - l > tol) {
    const c = (l + r) / 2;
    const { ratio } = await plainInspect(m, data, c);
    if (ratio < 1 + p / 100) l = c;
    else r = c;
  }
  const c = (l + r) / 2;
  return { c, ...(await plainInspect(m, data, c)) };
}

