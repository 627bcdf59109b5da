/**
 * Activation statistics of sparse passes (paper Sec. 2.2, Sec. 5): activation ratio overall (mean of per-batch
 * means, as the authors' inspect_sparsity.py averages per-batch values), per layer, per token summary,
 * a layer × token matrix of one sample sequence, per-neuron activation frequency and dead neurons.
 */
import type { ForwardResult } from '../inference/runner-types';

export const DEAD_NEURON_FREQUENCY = 0.001; // "active on < 0.1% of tokens" (the dead-neuron plot of the authors' repository, thunlp/SparsingLaw)

export interface Summary {
  mean: number;
  p5: number;
  p50: number;
  p95: number;
}

export interface ActivationStats {
  activationRatio: number;
  sparsity: number;
  perLayerActivation: number[];
  /** per token (mean over layers) activation ratio, summarised over all tokens */
  tokenActivation: Summary;
  /** [L][S] activation ratio of the first sequence of the first batch */
  sampleMatrix: number[][];
  /** [L][F] share of tokens on which each neuron was active */
  neuronFrequency: number[][];
  deadNeurons: { perLayer: number[]; total: number; belowFrequency: number };
}

export function percentile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export class StatsAccumulator {
  private batchRatios: number[] = [];
  private batchLayerRatios: number[][] = [];
  private tokenRatios: number[] = [];
  private neuronCounts: Float64Array;
  private tokens = 0;
  private sample?: number[][];

  constructor(
    readonly layers: number,
    readonly f: number,
  ) {
    this.neuronCounts = new Float64Array(layers * f);
  }

  /** Adds one sparse pass over a batch of B sequences of S tokens. */
  add(res: ForwardResult, batch: number, seqLen: number): void {
    const L = this.layers;
    const F = this.f;
    const T = batch * seqLen;
    const perLayer: number[] = [];
    let all = 0;
    for (let l = 0; l < L; l++) {
      let s = 0;
      for (let t = 0; t < T; t++) s += res.activeCounts[l * T + t];
      perLayer.push(s / (T * F));
      all += s;
    }
    this.batchRatios.push(all / (L * T * F));
    this.batchLayerRatios.push(perLayer);
    for (let t = 0; t < T; t++) {
      let s = 0;
      for (let l = 0; l < L; l++) s += res.activeCounts[l * T + t];
      this.tokenRatios.push(s / (L * F));
    }
    for (let i = 0; i < L * F; i++) this.neuronCounts[i] += res.neuronActiveCounts[i];
    this.tokens += T;
    if (!this.sample) {
      this.sample = [];
      for (let l = 0; l < L; l++) this.sample.push(Array.from(res.activeCounts.subarray(l * T, l * T + seqLen), (x) => x / F));
    }
  }

  /** Overall activation ratio so far (for the outer search, without the rest of the statistics). */
  get activationRatio(): number {
    return mean(this.batchRatios);
  }

  finish(): ActivationStats {
    const L = this.layers;
    const F = this.f;
    const perLayerActivation = Array.from({ length: L }, (_, l) => mean(this.batchLayerRatios.map((r) => r[l])));
    const sorted = Float64Array.from(this.tokenRatios).sort();
    const neuronFrequency: number[][] = [];
    const dead: number[] = [];
    for (let l = 0; l < L; l++) {
      const row = Array.from(this.neuronCounts.subarray(l * F, (l + 1) * F), (c) => c / this.tokens);
      neuronFrequency.push(row);
      dead.push(row.filter((x) => x < DEAD_NEURON_FREQUENCY).length);
    }
    const activationRatio = mean(this.batchRatios);
    return {
      activationRatio,
      sparsity: 1 - activationRatio,
      perLayerActivation,
      tokenActivation: { mean: mean(this.tokenRatios), p5: percentile(sorted, 0.05), p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95) },
      sampleMatrix: this.sample ?? [],
      neuronFrequency,
      deadNeurons: { perLayer: dead, total: dead.reduce((a, b) => a + b, 0), belowFrequency: DEAD_NEURON_FREQUENCY },
    };
  }
}

export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return xs.length ? s / xs.length : NaN;
}

/** Mean next-token NLL of a batch (every position is a real token: batches are never padded). */
export function meanNll(nll: Float32Array): number {
  let s = 0;
  for (let i = 0; i < nll.length; i++) s += nll[i];
  return s / nll.length;
}
