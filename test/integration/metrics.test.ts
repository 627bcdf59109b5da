/**
 * The fast CETT-PPL-p% path against a deliberately plain implementation of the authors' algorithm
 * (metrics-plain.ts: written from the paper's Sec. 4.1–4.2, no caching, dense pass + threshold bisection redone at
 * every outer step), on toy models of several families (gated / non-gated with biases).
 */
import { describe, expect, it } from 'vitest';
import { batchStream } from '../../main/metrics/data';
import { measureCettPpl, measureSeries } from '../../main/metrics/cett-ppl';
import { measureBaseline, sweepCett } from '../../main/metrics/baselines';
import type { MeasureTarget } from '../../main/metrics/target';
import type { ModelRunner } from '../../main/inference/runner-types';
import { makeToyModel, type ToyConfig } from './metrics-toy-model';
import { plainCettPpl } from './metrics-plain';

// ---------- fixtures ----------
const FAMILIES: (ToyConfig & { name: string })[] = [
  { name: 'gated relu', seed: 1, vocab: 20, d: 8, f: 20, layers: 2, gated: true, activation: 'relu' },
  { name: 'gated silu', seed: 2, vocab: 20, d: 8, f: 20, layers: 3, gated: true, activation: 'silu' },
  { name: 'non-gated gelu (gpt2-like, biases)', seed: 3, vocab: 20, d: 8, f: 24, layers: 2, gated: false, activation: 'gelu' },
];

function setup(cfg: ToyConfig, sequences = 6, S = 12, B = 3) {
  const m = makeToyModel(cfg);
  const data = batchStream(m.sample(sequences, S, cfg.seed + 100), { seqLen: S, batch: B }, 'toy');
  const target: MeasureTarget = { id: `toy-${cfg.seed}`, runner: m, downWeights: m.down };
  return { m, data, target };
}

describe('CETT-PPL-p%: fast path = plain authors algorithm', () => {
  for (const fam of FAMILIES) {
    it(fam.name, async () => {
      // the non-gated case also has a smaller last batch (7 sequences in batches of 3)
      const { m, data, target } = fam.gated ? setup(fam) : setup(fam, 7, 12, 3);
      const p = 5;
      const tol = 1e-3;
      const ref = await plainCettPpl({ runner: m, down: m.down }, data, p, tol);
      m.forwardCalls = 0;
      const fast = await measureCettPpl(target, data, { p, tol, thresholdMode: 'authors' });
      expect(Math.abs(fast.cett! - ref.c)).toBeLessThanOrEqual(tol);
      // at the same c the thresholds and the activation ratio agree (the outer path is the same too)
      expect(fast.cett).toBe(ref.c);
      fast.thresholds.forEach((e, l) => expect(Math.abs(e - ref.eps[l])).toBeLessThanOrEqual(1e-3 * Math.abs(ref.eps[l]) + 1e-12));
      expect(Math.abs(fast.activationRatio - ref.act)).toBeLessThanOrEqual(0.001);
      expect(fast.pplRatio).toBeCloseTo(ref.ratio, 6);
      // one dense pass per batch, one sparse pass per batch and outer step, plus the final pass
      expect(fast.forwardPasses).toBe(data.batches.length * (1 + fast.searchHistory!.length + 1));
      expect(m.forwardCalls).toBe(fast.forwardPasses);
      // Algorithm 1's decisions: below target moves l up, else r down (the final c may overshoot on a jump)
      let l = 0;
      let r = 1;
      for (const h of fast.searchHistory!) {
        expect(h.c).toBe((l + r) / 2);
        if (h.pplRatio < 1 + p / 100) l = h.c;
        else r = h.c;
      }
      expect(fast.cett).toBe((l + r) / 2);
      expect(fast.sparsity).toBeCloseTo(1 - fast.activationRatio, 12);
      expect(fast.neuronFrequency.length).toBe(fam.layers);
      expect(fast.curveEngine).toBe('js');
      // the ORT probe path gives the same answer
      const viaOrt = await measureCettPpl(target, data, { p, tol, thresholdMode: 'authors', curveEngine: 'ort' });
      expect(viaOrt.curveEngine).toBe('ort');
      expect(Math.abs(viaOrt.cett! - ref.c)).toBeLessThanOrEqual(tol);
      expect(Math.abs(viaOrt.activationRatio - ref.act)).toBeLessThanOrEqual(0.001);
      expect(fast.sampleMatrix.length).toBe(fam.layers);
      expect(fast.sampleMatrix[0].length).toBe(data.seqLen);
    });
  }
});

describe('properties', () => {
  it('activation ratio falls and PPL ratio rises with CETT; CETT → 0 gives PPL ratio → 1', async () => {
    const { data, target } = setup(FAMILIES[1], 8, 12, 4);
    const pts = await sweepCett(target, data, [0, 0.02, 0.1, 0.25, 0.5, 0.8]);
    for (let i = 1; i < pts.length; i++) {
      expect(pts[i].activationRatio).toBeLessThanOrEqual(pts[i - 1].activationRatio + 1e-12);
      expect(pts[i].pplRatio).toBeGreaterThanOrEqual(pts[i - 1].pplRatio - 2e-3);
    }
    expect(pts[0].pplRatio).toBeCloseTo(1, 9);
    expect(pts[0].activationRatio).toBe(1);
    const gaps: number[] = [];
    for (const p of [2, 0.2, 0.02]) {
      const r = await measureCettPpl(target, data, { p, tol: 1e-6, thresholdMode: 'authors' });
      gaps.push(Math.abs(r.pplRatio - 1));
    }
    expect(gaps[2]).toBeLessThan(gaps[0]);
    expect(gaps[2]).toBeLessThan(1e-3);
  });

  it('with no room for curves the dense pass is redone per step, same answer', async () => {
    const { data, target } = setup(FAMILIES[0]);
    const cached = await measureCettPpl(target, data, { p: 5, tol: 1e-3, thresholdMode: 'authors' });
    const bounded = await measureCettPpl(target, data, { p: 5, tol: 1e-3, thresholdMode: 'authors', cacheBytes: 0 });
    expect(bounded.cett).toBe(cached.cett);
    expect(bounded.thresholds).toEqual(cached.thresholds);
    expect(bounded.forwardPasses).toBe(cached.forwardPasses + data.batches.length * (cached.searchHistory!.length + 1));
  });

  it('exact mode agrees with the authors grid to within the grid spacing effect', async () => {
    const { data, target } = setup(FAMILIES[0]);
    const a = await measureCettPpl(target, data, { p: 5, tol: 1e-3, thresholdMode: 'authors' });
    const e = await measureCettPpl(target, data, { p: 5, tol: 1e-3, thresholdMode: 'exact' });
    expect(Math.abs(a.cett! - e.cett!)).toBeLessThan(0.05);
    expect(e.thresholdMode).toBe('exact');
  });

  it('baselines: relu equals FAT ε=0 on a ReLU model, and is refused on SiLU', async () => {
    const relu = setup(FAMILIES[0]);
    const r = await measureBaseline(relu.target, relu.data, 'relu', undefined);
    const f = await measureBaseline(relu.target, relu.data, 'fat', 0);
    expect(r.activationRatio).toBeCloseTo(f.activationRatio, 12);
    expect(r.activationRatio).toBeLessThan(1);
    const silu = setup(FAMILIES[1]);
    await expect(measureBaseline(silu.target, silu.data, 'relu', undefined)).rejects.toThrow(/ReLU-family/);
    const tk = await measureBaseline(silu.target, silu.data, 'topk-token', 0.25);
    expect(tk.activationRatio).toBeCloseTo(5 / 20, 12); // k = round(0.25·20) of 20 per token
  });

  it('bad inputs fail before any compute', async () => {
    const { m, data, target } = setup(FAMILIES[0]);
    m.forwardCalls = 0;
    await expect(measureCettPpl(target, data, { p: 0, tol: 1e-3, thresholdMode: 'authors' })).rejects.toThrow(/p must be/);
    await expect(measureCettPpl(target, data, { p: -1, tol: 1e-3, thresholdMode: 'authors' })).rejects.toThrow(/p must be/);
    const one = [{ id: 'a', open: async () => target }];
    await expect(measureSeries(one, data, { p: 1, tol: 1e-3, thresholdMode: 'authors' })).rejects.toThrow(/at least 2/);
    const other = setup(FAMILIES[1]);
    const two = [
      { id: 'a', spec: target.runner.spec, open: async () => target },
      { id: 'b', spec: other.target.runner.spec, open: async () => other.target },
    ];
    await expect(measureSeries(two, data, { p: 1, tol: 1e-3, thresholdMode: 'authors' })).rejects.toThrow(/different architectures/);
    expect(m.forwardCalls).toBe(0);
    expect(() => batchStream([1, 2, 3], { seqLen: 8, batch: 2 }, 'short.txt')).toThrow(/short\.txt is too short/);
  });

  it('progress: phases in order, step never past its total, tokens/s and an ETA', async () => {
    const { data, target } = setup(FAMILIES[0]);
    const seen: { phase: string; step: number; of: number; tokensPerSec: number; etaSec: number | null }[] = [];
    await measureCettPpl(target, data, { p: 5, tol: 1e-2, thresholdMode: 'authors' }, { progress: (p) => seen.push(p) });
    expect([...new Set(seen.map((p) => p.phase))]).toEqual(['dense', 'search', 'final']);
    for (const p of seen) expect(p.step).toBeLessThanOrEqual(p.of);
    const search = seen.filter((p) => p.phase === 'search');
    expect(search.at(-1)!.step).toBe(7); // 1 → 1/128 < 1e-2 in 7 halvings
    expect(search.at(-1)!.of).toBe(7);
    expect(search.some((p) => p.etaSec !== null && p.tokensPerSec > 0)).toBe(true);
  });

  it('cancel stops between forward calls', async () => {
    const { data, target } = setup(FAMILIES[0]);
    const ac = new AbortController();
    let passes = 0;
    const wrapped: MeasureTarget = {
      ...target,
      runner: {
        ...target.runner,
        forward: async (req) => {
          if (++passes === 3) ac.abort();
          return target.runner.forward(req);
        },
      } as ModelRunner,
    };
    await expect(measureCettPpl(wrapped, data, { p: 1, tol: 1e-3, thresholdMode: 'authors' }, { signal: ac.signal })).rejects.toThrow(/cancelled/);
    expect(passes).toBe(3);
  });
});

describe('training series (paper App. E)', () => {
  it('one CETT from the last k checkpoints, applied to every checkpoint; resume gives the same answer', async () => {
    const cfgs = [11, 12, 13].map((seed) => ({ ...FAMILIES[1], seed }));
    const models = cfgs.map((c) => makeToyModel(c));
    const data = batchStream(models[2].sample(4, 10, 5), { seqLen: 10, batch: 2 }, 'toy');
    const entries = models.map((m, i) => ({ id: `ck${i}`, tokensSeen: (i + 1) * 1e9, open: async (): Promise<MeasureTarget> => ({ id: `ck${i}`, runner: m, downWeights: m.down }) }));
    const states: unknown[] = [];
    const res = await measureSeries(entries, data, { p: 5, tol: 1e-2, thresholdMode: 'authors', lastK: 2 }, {}, { onStep: (s) => void states.push(structuredClone(s)) });
    expect(res.searchedOn).toEqual(['ck1', 'ck2']);
    expect(res.checkpoints.map((c) => c.cett)).toEqual([res.cett, res.cett, res.cett]);
    // the search's ratio is the mean of the last two checkpoints' ratios
    for (const h of res.searchHistory) expect(h.pplRatio).toBeCloseTo((h.perCheckpoint[0] + h.perCheckpoint[1]) / 2, 12);
    // same CETT measured on ck1 alone at res.cett gives ck1's result
    const single = await sweepCett({ id: 'ck1', runner: models[1], downWeights: models[1].down }, data, [res.cett]);
    expect(res.checkpoints[1].activationRatio).toBeCloseTo(single[0].activationRatio, 12);
    // resume from the state after the 3rd search step: the same final CETT
    const mid = states[2] as Parameters<typeof measureSeries>[4] extends infer H ? (H extends { resume?: infer R } ? R : never) : never;
    const resumed = await measureSeries(entries, data, { p: 5, tol: 1e-2, thresholdMode: 'authors', lastK: 2 }, {}, { resume: mid });
    expect(resumed.cett).toBe(res.cett);
    expect(resumed.searchHistory.length).toBe(res.searchHistory.length);
  });
  it('a runner opened for the final phase is released when its checkpoint is refused (another architecture) or its dense pass fails', async () => {
    // ck0 is not among the last k = 2: it is opened only for the final phase; its architecture (or its runner) is bad
    const models = [FAMILIES[0], FAMILIES[1], FAMILIES[1]].map((c, i) => makeToyModel({ ...c, seed: 21 + i }));
    const data = batchStream(models[2].sample(4, 10, 5), { seqLen: 10, batch: 2 }, 'toy');
    for (const broken of ['architecture', 'forward'] as const) {
      const released: string[] = [];
      const entries = models.map((m, i) => {
        const id = `ck${i}`;
        const base = i === 0 && broken === 'forward' ? models[1] : m;
        const runner: ModelRunner = {
          spec: base.spec, provider: base.provider, dtype: base.dtype, fallbackReasons: base.fallbackReasons, colNorms: base.colNorms,
          forward: (req) => (i === 0 && broken === 'forward' ? Promise.reject(new Error('the device is gone')) : base.forward(req)),
          dispose: async () => void released.push(id),
        };
        return { id, open: async (): Promise<MeasureTarget> => ({ id, runner, downWeights: base.down }) };
      });
      const run = measureSeries(entries, data, { p: 5, tol: 1e-2, thresholdMode: 'authors', lastK: 2 });
      await expect(run).rejects.toThrow(broken === 'architecture' ? /checkpoints of different architectures in one series: ck1 .* vs ck0/ : /the device is gone/);
      expect(released.sort(), broken).toEqual(['ck0', 'ck1', 'ck2']);
    }
  });
});
