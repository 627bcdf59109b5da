// One progress figure per run (issue 18): across dense, search and final (and each p of a p% sweep) the overall
// fraction never goes back, ends at 1, and each event says which of the run's phases it is in.
import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeTinyCheckpoint } from '../checkpoint/testing/tiny';
import { measureConfigSchema } from '../api/domains/runs';
import type { Progress } from '../metrics/control';
import { runMeasure } from './measure-job';
import { ETA_MIN_STEPS, planPhases, outerSteps, withOverall, type KindRates } from './progress';
import { costKey, forgetRates, priorRates, ratesFromEstimate, rememberRates } from './cost-prior';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-progress-'));
const ck = writeTinyCheckpoint(path.join(dir, 'ck'), 'llama', { activation: 'relu', hidden: 32, layers: 2, seed: 3 });
fs.writeFileSync(path.join(dir, 'e.txt'), Array.from({ length: 120 }, (_, i) => `Line ${i}: a short sentence ${(i * 7) % 31}.\n`).join(''));
const base = { kind: 'measure', checkpoint: ck, data: path.join(dir, 'e.txt'), tokens: 256, seqLen: 32, batch: 4, tol: 1e-2, provider: 'cpu' };

async function events(cfg: object): Promise<Progress[]> {
  const seen: Progress[] = [];
  await runMeasure(measureConfigSchema.parse(cfg), { progress: (p) => seen.push(p) }, { onStep: async () => {} });
  return seen;
}

function checkMonotone(seen: Progress[]): void {
  const o = seen.map((p) => p.overall!);
  expect(o.every((x) => typeof x === 'number' && x >= 0 && x <= 1)).toBe(true);
  for (let i = 1; i < o.length; i++) expect(o[i]).toBeGreaterThanOrEqual(o[i - 1]);
  expect(o[o.length - 1]).toBe(1);
}

describe('overall progress', () => {
  test('CETT-PPL-p%: dense, search, final in one figure; a new phase never starts the figure again at 0', async () => {
    forgetRates(); // (no costs known from before: the figure is the share of passes until the search has a rate)
    const seen = await events({ ...base, method: 'cett-ppl', p: 5 });
    checkMonotone(seen);
    expect(seen[seen.length - 1].phases).toEqual(['dense', 'search', 'final']);
    // the first search event comes after the whole dense phase: its figure is the dense share (2 batches of 2 + 7·2 + 2)
    const firstSearch = seen.find((p) => p.phase === 'search')!;
    expect(firstSearch.step).toBe(0);
    expect(firstSearch.phaseIndex).toBe(1);
    const nb = 2;
    expect(firstSearch.overall).toBeCloseTo(nb / (nb + outerSteps(1e-2) * nb + nb), 12);
  });

  test('p% sweep: one bar over the dense pass and every p; phases name the p', async () => {
    const seen = await events({ ...base, sweepP: [1, 10] });
    checkMonotone(seen);
    expect(seen[seen.length - 1].phases).toEqual(['dense', 'search p=1%', 'final p=1%', 'search p=10%', 'final p=10%']);
    expect([...new Set(seen.filter((p) => p.phase !== 'plan').map((p) => p.phaseIndex))]).toEqual([0, 1, 2, 3, 4]);
  });

  test('an event of a phase not in the plan keeps the figure; without a progress listener nothing is wrapped', () => {
    const got: Progress[] = [];
    const ctl = withOverall({ progress: (p) => got.push(p) }, planPhases(measureConfigSchema.parse({ ...base, method: 'fat', param: 0.1 }), 4));
    const ev = (phase: string, step: number, of: number) => ctl.progress!({ phase, step, of, tokensPerSec: 0, etaSec: null });
    ev('plan', 0, 1);
    ev('dense', 2, 4);
    ev('plan', 0, 1);
    ev('sparse', 1, 1);
    expect(got.map((p) => p.overall)).toEqual([0, 0.25, 0.25, 1]);
    const bare = {};
    expect(withOverall(bare, [])).toBe(bare);
  });

  test('a resumed p% sweep: the bar counts the finished point from the first event, while the dense pass runs again', () => {
    const got: Progress[] = [];
    const plan = planPhases(measureConfigSchema.parse({ ...base, sweepP: [1, 5, 10] }), 2);
    plan[1].done = plan[2].done = true;
    const ctl = withOverall({ progress: (p) => got.push(p) }, plan);
    ctl.progress!({ phase: 'dense', step: 0, of: 2, tokensPerSec: 0, etaSec: null });
    const total = plan.reduce((a, q) => a + q.weight, 0);
    expect(got[0].overall).toBeCloseTo((plan[1].weight + plan[2].weight) / total, 12);
    // drawn as the run's progress from the start (not 'estimating', not 0%), though no kind has a rate yet
    expect(got[0].overallBasis).toBe('time');
  });

  test('a resumed p% sweep without known costs: the bar starts at the finished point\'s share and never goes back; the ETA waits for this run\'s own steps', () => {
    const plan = planPhases(measureConfigSchema.parse({ ...base, sweepP: [1, 5, 10] }), 2);
    plan[1].done = plan[2].done = true;
    const total = plan.reduce((a, q) => a + q.weight, 0);
    const doneShare = (plan[1].weight + plan[2].weight) / total;
    const got: Progress[] = [];
    let t = 100; // (a resumed process's clock: any origin)
    const ctl = withOverall({ progress: (p) => got.push(p) }, plan, () => t, {});
    ctl.progress!({ phase: 'plan', step: 0, of: 1, tokensPerSec: 0, etaSec: null });
    for (let i = 0; i < plan.length; i++) {
      if (plan[i].done) continue;
      const n = plan[i].phase === 'dense' ? 2 : plan[i].phase === 'final' ? 1 : plan[i].weight / 2;
      for (let k = 0; k <= n; k++) {
        if (k > 0) t += plan[i].phase === 'dense' ? 5 : 1; // a dense pass costs five search steps
        ctl.progress!({ phase: plan[i].phase, step: k, of: n, tokensPerSec: 0, etaSec: null });
      }
    }
    const bar = got.map((p) => p.overall!);
    expect(bar[0]).toBeCloseTo(doneShare, 12);
    expect(bar).toEqual([...bar].sort((a, b) => a - b));
    expect(bar[bar.length - 1]).toBe(1);
    expect(got.every((p) => p.overallBasis === 'time')).toBe(true);
    // the ETA counts from the resume only: none during the dense pass (no search step of this run yet), then the seconds left
    expect(got.filter((p) => p.phase === 'dense').every((p) => p.overallEtaSec === null)).toBe(true);
    const last = got.filter((p) => p.overallEtaSec !== null);
    expect(last.length).toBeGreaterThan(0);
    expect(last[last.length - 1].overallEtaSec).toBe(0);
  });

  test('a resumed p% sweep: the finished points\' phases count as done, its next search goes to the next p', () => {
    const got: Progress[] = [];
    const plan = planPhases(measureConfigSchema.parse({ ...base, sweepP: [1, 5, 10] }), 2);
    plan[1].done = plan[2].done = true; // p = 1% finished before the kill
    const ctl = withOverall({ progress: (p) => got.push(p) }, plan);
    const ev = (phase: string, step: number, of: number) => ctl.progress!({ phase, step, of, tokensPerSec: 0, etaSec: null });
    ev('dense', 2, 2);
    ev('search', 0, 7);
    const total = plan.reduce((a, q) => a + q.weight, 0);
    expect(got.map((p) => p.phaseIndex)).toEqual([0, 3]);
    // the monitor lists them as done while the dense pass runs again, not as to come
    expect(got.map((p) => p.phasesDone)).toEqual([[1, 2], [1, 2]]);
    // (no rate yet for the search: the bar holds at the finished point's share, not the share of passes)
    expect(got[1].overall).toBeCloseTo((plan[1].weight + plan[2].weight) / total, 12);
  });
});

/**
 * A run's progress events as the measurement sends them (Meter: step 0 when a phase is entered, then one per step),
 * with the time of each: `cost(phase index, step)` is that step's seconds. Returns the events the wrapped control
 * emitted and, for each, the true seconds left in its phase and in the run (from the same costs).
 */
function replay(cfgOver: object, batches: number, cost: (phase: number, step: number) => number, prior?: KindRates) {
  const plan = planPhases(measureConfigSchema.parse({ ...base, ...cfgOver }), batches);
  const steps = plan.map((q) => (q.phase === 'final' ? 1 : q.phase === 'dense' ? batches : Math.round(q.weight / batches)));
  const got: { p: Progress; phaseLeft: number; runLeft: number; i: number; step: number }[] = [];
  let t = 0;
  let truth = { phaseLeft: 0, runLeft: 0, i: 0, step: 0 };
  const ctl = withOverall({ progress: (p) => got.push({ p, ...truth }) }, plan, () => t, prior);
  const left = (i: number, step: number) => {
    let phase = 0;
    for (let k = step + 1; k <= steps[i]; k++) phase += cost(i, k);
    let run = phase;
    for (let j = i + 1; j < plan.length; j++) for (let k = 1; k <= steps[j]; k++) run += cost(j, k);
    return { phaseLeft: phase, runLeft: run, i, step };
  };
  for (let i = 0; i < plan.length; i++) {
    truth = left(i, 0);
    ctl.progress!({ phase: plan[i].phase, step: 0, of: steps[i], tokensPerSec: 0, etaSec: null });
    for (let k = 1; k <= steps[i]; k++) {
      t += cost(i, k);
      truth = left(i, k);
      ctl.progress!({ phase: plan[i].phase, step: k, of: steps[i], tokensPerSec: 0, etaSec: 99 });
    }
  }
  return { got, steps };
}

describe('ETA (each phase\'s first, warm-up step left out)', () => {
  // 4 batches of 1 s a forward pass; a search step is a pass over all 4; the first step of the dense phase also opens
  // the model (+5 s), the search's first builds its sparse graph (+6 s), the final one warms up (+2 s)
  const warm = [5, 6, 2];
  const nb = 4;
  const cost = (i: number, k: number) => (i === 0 ? 1 : nb) + (k === 1 ? warm[i] : 0);

  test('"estimating…" (null) until enough steady steps; then the true time left, where a naive rate overestimates', () => {
    const { got, steps } = replay({ method: 'cett-ppl', p: 5 }, nb, cost);
    expect(steps).toEqual([nb, outerSteps(1e-2), 1]);
    for (const g of got) {
      const steady = Math.max(0, g.step - 1); // steady steps of this phase so far
      // the phase's own ETA: none before ETA_MIN_STEPS steady steps of it; after, exactly its steps left at 4 s
      if (steady < ETA_MIN_STEPS) expect(g.p.etaSec).toBeNull();
      else expect(g.p.etaSec).toBeCloseTo(g.phaseLeft, 9);
      // the run's: none while a phase to come has no rate of its own kind (the dense pass: no search step yet; the
      // search's first ETA_MIN_STEPS steady steps); the final pass takes the search's rate
      if (g.i === 0 || (g.i === 1 && steady < ETA_MIN_STEPS)) expect(g.p.overallEtaSec).toBeNull();
      // after: the true time left less the final's warm-up still to come
      else expect(g.p.overallEtaSec).toBeCloseTo(g.runLeft - (g.i < 2 || g.step === 0 ? warm[2] : 0), 9);
    }
    // where the naive phase rate (time in phase / steps done, the old figure) said 2.5× the truth, nothing is said
    const firstSearch = got.find((g) => g.i === 1 && g.step === 1)!;
    const naive = (cost(1, 1) / 1) * (steps[1] - 1);
    expect(naive / firstSearch.phaseLeft).toBeGreaterThan(1.4);
    expect(firstSearch.p.etaSec).toBeNull();
    expect(firstSearch.p.overallEtaSec).toBeNull();
  });

  test('a dense pass five times a search step (the CPU curve engine): no run ETA from the dense rate, the right one after', () => {
    // dense 5 s a batch (forward + CETT curves), a search step 1 s a batch, the final pass 1 s a batch; no warm-ups
    const cheap = (i: number) => (i === 0 ? 5 : nb);
    const { got } = replay({ method: 'cett-ppl', p: 5 }, nb, cheap);
    // the old figure (the dense rate for all the work left) would have said about 5× the truth during the dense pass
    for (const g of got.filter((x) => x.i === 0)) expect(g.p.overallEtaSec).toBeNull();
    const given = got.filter((g) => g.p.overallEtaSec !== null && g.p.overallEtaSec !== undefined);
    expect(given.length).toBeGreaterThan(3);
    for (const g of given) expect(g.p.overallEtaSec!).toBeCloseTo(g.runLeft, 9);
    // the bar: the share of passes during the dense pass (it said 8% when 60% of the time had gone), then of time
    const total = got[0].runLeft;
    const afterDense = got.find((g) => g.i === 0 && g.step === nb)!;
    expect(afterDense.p.overall).toBeCloseTo(nb / (nb + outerSteps(1e-2) * nb + nb), 9);
    for (const g of given) expect(g.p.overall!).toBeCloseTo((total - g.runLeft) / total, 9);
    const bar = got.map((g) => g.p.overall!);
    expect(bar).toEqual([...bar].sort((a, b) => a - b)); // never decreasing
    // the share of passes is marked as such (the monitor does not draw it as the run's progress)
    for (const g of got) expect(g.p.overallBasis).toBe(g.p.overallEtaSec === null ? 'work' : 'time');
  });

  test('with the costs known before the run (a pilot, an earlier run) the bar is the share of time from the first event: no jump when the search starts; the ETA still waits for the run\'s own steps', () => {
    const cheap = (i: number) => (i === 0 ? 5 : nb);
    // the prior: seconds per batch pass by kind (a search step is a pass over all 4 batches: 1 s a batch)
    const { got } = replay({ method: 'cett-ppl', p: 5 }, nb, cheap, { dense: 5, search: 1 });
    const total = got[0].runLeft;
    // an event before the plan's first (the execution plan's announcement) is at 0 of the run's time already
    const early: Progress[] = [];
    const c = withOverall({ progress: (p) => early.push(p) }, planPhases(measureConfigSchema.parse({ ...base, method: 'cett-ppl', p: 5 }), nb), () => 0, { dense: 5, search: 1 });
    c.progress!({ phase: 'plan', step: 0, of: 1, tokensPerSec: 0, etaSec: null });
    expect([early[0].overall, early[0].overallBasis]).toEqual([0, 'time']);
    for (const g of got) {
      expect(g.p.overallBasis).toBe('time');
      expect(g.p.overall!).toBeCloseTo((total - g.runLeft) / total, 9);
    }
    // after the dense pass: 20 of its 20 + 11·4 + 4 s — where the share of passes said 7.7%
    const afterDense = got.find((g) => g.i === 0 && g.step === nb)!;
    expect(afterDense.p.overall!).toBeCloseTo(20 / (20 + outerSteps(1e-2) * nb + nb), 9);
    expect(afterDense.p.overall!).toBeGreaterThan(0.2);
    // the largest step of the bar is one step's share of the time (one dense batch, 5 of 68 s), no jump
    const bar = got.map((g) => g.p.overall!);
    const jumps = bar.slice(1).map((b, i) => b - bar[i]);
    expect(Math.max(...jumps)).toBeLessThanOrEqual(5 / total + 1e-9);
    for (const g of got.filter((x) => x.i === 0)) expect(g.p.overallEtaSec).toBeNull();
  });

  test('a prior that is off: the run\'s own rates replace it as they come; the bar never goes back on the time basis', () => {
    const cheap = (i: number) => (i === 0 ? 5 : nb);
    const { got } = replay({ method: 'cett-ppl', p: 5 }, nb, cheap, { dense: 3, search: 1.5 });
    const bar = got.map((g) => g.p.overall!);
    expect(bar).toEqual([...bar].sort((a, b) => a - b));
    // once the search has its own rate the figure is the true share again
    const total = got[0].runLeft;
    for (const g of got.filter((x) => x.i === 2)) expect(g.p.overall!).toBeCloseTo((total - g.runLeft) / total, 9);
  });

  test('p% sweep: every search phase starts again without its warm-up step; an event outside the plan keeps the ETAs', () => {
    const { got, steps } = replay({ sweepP: [1, 10] }, nb, (i, k) => (i === 0 ? 1 : nb) + (k === 1 ? 7 : 0));
    const search2 = got.filter((g) => g.i === 3);
    expect(search2.map((g) => g.p.etaSec)).toEqual(search2.map((g) => (g.step - 1 >= ETA_MIN_STEPS ? expect.closeTo(nb * (steps[3] - g.step), 9) : null)));
    const got2: Progress[] = [];
    let t = 0;
    const ctl = withOverall({ progress: (p) => got2.push(p) }, planPhases(measureConfigSchema.parse({ ...base, method: 'cett-ppl', p: 5 }), 1), () => t);
    for (let k = 0; k <= 4; k++) {
      t = k * 3 + (k ? 10 : 0);
      ctl.progress!({ phase: 'search', step: k, of: 7, tokensPerSec: 0, etaSec: null });
    }
    ctl.progress!({ phase: 'plan', step: 0, of: 1, tokensPerSec: 0, etaSec: null });
    expect(got2.at(-2)!.etaSec).toBeCloseTo(9, 9);
    expect(got2.at(-1)!.etaSec).toBe(got2.at(-2)!.etaSec);
    expect(got2.at(-1)!.overallEtaSec).toBe(got2.at(-2)!.overallEtaSec);
  });

  test('a search whose steps get cheaper: the ETA follows the latest steps, never the warm-up', () => {
    // step k of the search costs 4·0.9^k s after a 6 s first step; the dense phase 1 s a pass as before
    const shrink = (i: number, k: number) => (i === 1 ? (k === 1 ? 10 : nb * 0.9 ** k) : cost(i, k));
    const { got } = replay({ method: 'cett-ppl', p: 5, tol: 1e-4 }, nb, shrink);
    const late = got.filter((g) => g.i === 1 && g.step >= 8 && g.p.etaSec !== null);
    expect(late.length).toBeGreaterThan(3);
    for (const g of late) {
      // the naive rate (all of the phase's time over its steps, the warm-up in it) is further off than ours, which still
      // errs high (the steps of the window cost more than those to come), never low
      const spent = Array.from({ length: g.step }, (_, k) => shrink(1, k + 1)).reduce((a, b) => a + b, 0);
      const naive = (spent / g.step) * (got.find((x) => x.i === 1)!.p.of - g.step);
      if (g.phaseLeft === 0) expect(g.p.etaSec).toBe(0);
      else expect(Math.abs(g.p.etaSec! - g.phaseLeft)).toBeLessThan(Math.abs(naive - g.phaseLeft));
      expect(g.p.etaSec!).toBeGreaterThanOrEqual(g.phaseLeft);
    }
  });
});

describe('costs known before a run (main/jobs/cost-prior.ts)', () => {
  test('keyed by what sets a pass\'s cost: the token budget, p and tolerance share a key, another model or batch does not', () => {
    forgetRates();
    const cfg = measureConfigSchema.parse({ ...base, method: 'cett-ppl', p: 1 });
    rememberRates(cfg, { dense: 2, search: 0.5 });
    expect(priorRates(measureConfigSchema.parse({ ...base, method: 'cett-ppl', p: 5, tokens: 4096, tol: 1e-3 }))).toEqual({ dense: 2, search: 0.5 });
    expect(priorRates(measureConfigSchema.parse({ ...base, batch: 8 }))).toEqual({});
    expect(costKey(measureConfigSchema.parse({ ...base, checkpoint: '/elsewhere' }))).not.toBe(costKey(cfg));
    rememberRates(cfg, { search: 0.25, final: Number.NaN });
    expect(priorRates(cfg)).toEqual({ dense: 2, search: 0.25 });
    forgetRates();
  });

  test('from a pilot estimate: each part\'s seconds over its passes in the run\'s plan', () => {
    const cfg = measureConfigSchema.parse({ ...base, method: 'cett-ppl', p: 1 });
    const S = outerSteps(1e-2);
    // 4 batches: the dense part 20 s over 4 passes, the search 44 s over 4·S, the final 4 s over 4
    expect(ratesFromEstimate(cfg, 4, { dense: 20, search: 4 * S, final: 4 })).toEqual({ dense: 5, search: 1, final: 1 });
    const sweep = measureConfigSchema.parse({ ...base, method: 'fat', sweep: [0.1, 0.2] });
    expect(ratesFromEstimate(sweep, 4, { dense: 8, search: 16, final: 0 })).toEqual({ dense: 2, sweep: 2 });
  });

  test('a real run remembers its rates; the next run of the same model and settings draws the time share from its first event', async () => {
    forgetRates();
    const first = await events({ ...base, method: 'cett-ppl', p: 5 });
    expect(first[0].overallBasis).toBe('work');
    expect(Object.keys(priorRates(measureConfigSchema.parse({ ...base, method: 'cett-ppl', p: 5 }))).sort()).toEqual(['dense', 'search']); // (the final pass is one warm-up step: it takes the search's)
    const second = await events({ ...base, method: 'cett-ppl', p: 1 });
    expect(second.filter((p) => p.phase !== 'plan').every((p) => p.overallBasis === 'time')).toBe(true);
    checkMonotone(second);
    forgetRates();
  });
});
