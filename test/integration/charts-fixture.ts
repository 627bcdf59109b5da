/**
 * A chart snapshot shaped like a session of the paper's experiments, with values drawn from known closed
 * forms (so tests can check plotted numbers against an independent computation). NOT produced by the
 * measurement engine: see the note in charts.test.ts.
 */
import type { ChartSnapshot } from '../../main/charts/source';

/** deterministic noise in [−1, 1] */
function noise(i: number): number {
  const x = Math.sin(i * 12.9898 + 78.233) * 43758.5453;
  return 2 * (x - Math.floor(x)) - 1;
}

export const RELU = (D: number, A0: number) => Math.exp(-0.02 * Math.pow(D, 0.8) - 3.0) + A0;
export const SILU = (D: number, A0: number) => -0.1 / Math.pow(D, 0.5) + A0;
export const TOKENS_B = [5, 10, 20, 40, 80, 120, 200, 300];

export function chartFixture(): ChartSnapshot {
  const snap: Required<Pick<ChartSnapshot, 'checkpoints' | 'runs'>> & ChartSnapshot = { name: 'fixture', checkpoints: [], runs: [], fits: [], chartSettings: {} };
  let k = 0;
  const series = [
    { name: 'relu-0.1b', act: 'relu', h: 768, L: 16, A0: 0.0614 },
    { name: 'relu-0.2b', act: 'relu', h: 1024, L: 20, A0: 0.0674 },
    { name: 'silu-0.1b', act: 'silu', h: 768, L: 16, A0: 0.409 },
    { name: 'silu-0.2b', act: 'silu', h: 1024, L: 20, A0: 0.39 },
    { name: 'relu-wd14', act: 'relu', h: 512, L: 36, A0: 0.052 },
    { name: 'relu-wd114', act: 'relu', h: 1024, L: 9, A0: 0.0725 },
    { name: 'relu-wd384', act: 'relu', h: 1536, L: 4, A0: 0.073 },
  ];
  for (const s of series) {
    const f = s.act === 'relu' ? RELU : SILU;
    const toks = s.name.includes('wd') ? TOKENS_B.slice(-3) : TOKENS_B;
    for (const D of toks) {
      const id = `${s.name}@${D}`;
      snap.checkpoints.push({ id, name: `${s.name} ${D}B`, series: s.name, activation: s.act, tokensTrained: D * 1e9, nonEmbeddingParams: 11.5 * s.h * s.h * s.L, params: 11.5 * s.h * s.h * s.L + 122753 * s.h, hiddenSize: s.h, numLayers: s.L });
      const A = f(D, s.A0) * (1 + 0.01 * noise(k++));
      const perLayer = Array.from({ length: s.L }, (_, l) => Math.min(1, A * (1 + 0.3 * Math.cos((l / (s.L - 1)) * Math.PI))));
      snap.runs.push({ id: `r${k}`, checkpointId: id, method: 'cett-ppl', status: 'done', p: 1, cett: 0.2, activationRatio: A, ppl: 20, densePpl: 19.8, pplRatio: 1.01, perLayer });
    }
    const fp: Record<string, number> = s.act === 'relu' ? { c: 0.02, alpha: 0.8, b: -3.0 } : { c: 0.1, alpha: 0.5 };
    const band = { x: TOKENS_B, lo: TOKENS_B.map((D) => f(D, s.A0) - 0.002), hi: TOKENS_B.map((D) => f(D, s.A0) + 0.002) };
    snap.fits!.push({ series: s.name, form: s.act, params: fp, A0: s.A0, A0Low: s.A0 - 0.003, A0High: s.A0 + 0.003, droppedTokens: s.name === 'relu-0.1b' ? [5e9] : [], band: s.name.endsWith('0.1b') ? band : undefined });
  }
  snap.widthDepthFit = { slope: (0.0725 - 0.052) / 100, intercept: 0.052 - (14 * (0.0725 - 0.052)) / 100, bottleneck: 114, bottleneckLow: 95, bottleneckHigh: 140 };
  // the last ReLU 0.1B checkpoint: a heatmap, neuron frequencies, and sweeps of CETT, Top-k, FAT-ε
  const last = 'relu-0.1b@300';
  const L = 16;
  const T = 48;
  const lt = Array.from({ length: L * T }, (_, i) => 0.05 + 0.1 * Math.abs(noise(i)) + (Math.floor(i / T) === 0 || Math.floor(i / T) === L - 1 ? 0.15 : 0));
  const dF = 1920 * L;
  const freq = Array.from({ length: dF }, (_, i) => Math.min(1, Math.max(0, 0.08 * Math.pow(1 - ((i * 7919) % dF) / dF, 3) * 4 * (1 + 0.2 * noise(i)))));
  snap.runs.push({ id: 'heat', checkpointId: last, method: 'cett-ppl', status: 'done', p: 1, activationRatio: 0.07, ppl: 20.1, pplRatio: 1.01, layerToken: { layers: L, tokens: T, values: lt }, neuronFrequency: freq });
  for (const [ck, base] of [[last, 0.3], ['silu-0.1b@300', 0.6]] as const) {
    for (const c of [0.02, 0.05, 0.1, 0.2, 0.35, 0.5]) snap.runs.push({ id: `c${ck}${c}`, checkpointId: ck, method: 'cett', status: 'done', cett: c, activationRatio: base * Math.exp(-6 * c), ppl: 19.8 * (1 + 0.6 * c * c) });
    for (const kf of [0.05, 0.1, 0.2, 0.3]) snap.runs.push({ id: `t${ck}${kf}`, checkpointId: ck, method: 'topk', status: 'done', param: kf, activationRatio: kf, ppl: 19.8 * (1 + 0.02 / kf) });
    for (const e of [0.01, 0.05, 0.1]) snap.runs.push({ id: `f${ck}${e}`, checkpointId: ck, method: 'fat', status: 'done', param: e, activationRatio: base * 0.8 * Math.exp(-10 * e), ppl: 19.8 * (1 + 3 * e) });
  }
  snap.runs.push({ id: 'failed1', checkpointId: last, method: 'cett-ppl', status: 'failed' });
  return snap;
}
