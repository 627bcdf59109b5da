// Issue 18: the p% sweep. Each point of `sweepP: [p…]` is a full CETT-PPL-p% search; its numbers must be those of a
// separate CETT-PPL-p% run with that p (independent engines, independent jobs: nothing shared but the files), its
// unreachable targets flagged point by point, each point a run of its own in the session with its thresholds, and
// the whole labelled as a p% sweep (never 'CETT-PPL-1%'). The CLI spells it `--sweep-p` and refuses bad lists.
import { afterAll, describe, expect, test, vi } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { JobInfo } from '../../main/api/domains/runs';
import type { SessionRun } from '../../main/api/domains/sessions';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';
import { main } from '../../main/cli/index';
import { EXIT_TARGET_NOT_MET } from '../../main/api/errors';
import { describeConfig } from '../../common/run-label';
import { methodLabel, sweepCounts } from '../../renderer/src/runrows';
import { SessionStore } from '../../main/store/index';
import { sessionChartSource } from '../../main/store/chart-source';
import { plotData } from '../../main/charts/data';
import { loadCheckpoint } from '../../main/checkpoint/index';
import { createRunner } from '../../main/inference/index';
import { batchStream } from '../../main/metrics/data';
import { measureCettPpl, measureCettPplOverP } from '../../main/metrics/cett-ppl';
import { downWeightsOf } from '../../main/metrics/target';
import { testEngine, tinyMeasureSetup } from './engine-fixture';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-psweep-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));


const setup = tinyMeasureSetup(tmp, 'silu', { activation: 'silu', seed: 5, std: 0.3 });
const { ck, data } = setup;
const base = { ...setup.base, stateDir: path.join(tmp, 'jobs') };
// three targets, flagged or not each on its own
const PS = [0.01, 3, 40];

type Point = { p: number; param: number; cett: number; activationRatio: number; pplRatio: number; pplSparse: number; targetNotMet?: string };
type Full = { p: number; cett: number; activationRatio: number; pplRatio: number; pplSparse: number; pplDense: number; thresholds: number[]; searchHistory: unknown[]; targetNotMet?: string };

describe('p% sweep', () => {
  test('each point equals a separate CETT-PPL-p% run with that p; the session keeps one child run per p', async () => {
    const file = path.join(tmp, 'p.sparsitylab');
    const a = testEngine(path.join(tmp, 'home-a'));
    let sweep: { points: Point[]; runs: Full[]; sweepOver: string; targetsNotMet: number };
    let sweepId: string;
    try {
      await a.e.invoke('sessions.new', { path: file });
      const { id } = await a.e.invoke('runs.start', { config: { ...base, stateDir: undefined, sweepP: PS } as never });
      sweepId = id;
      expect(((await a.e.call('runs.active', {})) as JobInfo[]).find((j) => j.id === id)?.label).toBe('CETT-PPL-p% sweep · silu · p = 0.01, 3, 40%');
      const f = await a.finished(id);
      expect(f.status, JSON.stringify(f.error)).toBe('completed');
      sweep = f.result as typeof sweep;
      expect(sweep.sweepOver).toBe('p');
      expect(sweep.points.map((x) => x.p)).toEqual(PS);
      expect(sweep.points.map((x) => x.param)).toEqual(PS);
      // this toy model meets 0.01% and 3% and cannot lose 40% (every CETT keeps the PPL ratio below 1.4): both cases
      expect(sweep.points.map((x) => !!x.targetNotMet)).toEqual([false, false, true]);
      expect(sweep.targetsNotMet).toBe(1);

      const rows = (await a.e.call('sessions.listRuns', {})) as SessionRun[];
      const parent = rows.find((r) => r.id === id)!;
      const kids = rows.filter((r) => r.parentId === id).sort((x, y) => x.id.localeCompare(y.id));
      expect(parent.p).toBeNull();
      expect(methodLabel(parent, sweepCounts(rows).get(id), true)).toBe('CETT-PPL-p% sweep ×3 (p = 0.01, 3, 40%)');
      expect(kids.map((k) => [k.kind, k.method, k.p, k.status])).toEqual(PS.map((p) => ['sweep-point', 'cett-ppl', p, 'completed']));
      expect(kids.map((k) => methodLabel(k))).toEqual(PS.map((p) => `CETT-PPL-${p}%`));
      expect(kids.map((k) => [k.cett, k.activationRatio, k.pplRatio])).toEqual(sweep.points.map((x) => [x.cett, x.activationRatio, x.pplRatio]));
      expect(kids.map((k) => k.targetNotMet ?? undefined)).toEqual(sweep.points.map((x) => x.targetNotMet));
      expect(parent.targetNotMet === null).toBe(sweep.targetsNotMet === 0);
      // each point keeps its whole CETT-PPL-p% result (thresholds: its run page exports them); the parent only the table
      const k0 = (await a.e.call('sessions.getRun', { id: kids[1].id })) as { result: Full };
      expect(k0.result.thresholds).toHaveLength(2);
      const pr = (await a.e.call('sessions.getRun', { id })) as { result: Record<string, unknown> };
      expect(pr.result.runs).toBeUndefined();
      expect(pr.result.points).toHaveLength(3);
      await a.e.call('sessions.close', {});
    } finally {
      await a.e.dispose();
    }

    // the Pareto chart names the point whose target was not met, in its legend and its tooltip
    const ro = SessionStore.open(file, { readOnly: true });
    try {
      const plot = plotData('pareto', sessionChartSource(ro, false), { run: `${sweepId}#0` });
      const series = plot.series.find((x) => x.points.length === 3)!;
      expect(series.label).toMatch(/target not met: p=40%/);
      expect(series.points.filter((pt) => /\(target not met\)/.test(String(pt.run)))).toHaveLength(1);
    } finally {
      ro.close();
    }

    // independent runs: a fresh engine (no session), one CETT-PPL-p% job per p
    const b = testEngine(path.join(tmp, 'home-b'));
    try {
      for (const [i, p] of PS.entries()) {
        const { id } = await b.e.invoke('runs.start', { config: { ...base, method: 'cett-ppl', p } as never });
        const f = await b.finished(id);
        expect(f.status, JSON.stringify(f.error)).toBe('completed');
        const one = f.result as Full;
        const pt = sweep!.runs[i];
        expect([pt.p, pt.cett, pt.activationRatio, pt.pplRatio, pt.pplSparse, pt.pplDense]).toEqual([one.p, one.cett, one.activationRatio, one.pplRatio, one.pplSparse, one.pplDense]);
        expect(pt.thresholds).toEqual(one.thresholds);
        expect(pt.searchHistory).toEqual(one.searchHistory);
        expect(pt.targetNotMet).toEqual(one.targetNotMet);
        expect(sweep!.points[i]).toMatchObject({ p, cett: one.cett, activationRatio: one.activationRatio, pplRatio: one.pplRatio, pplSparse: one.pplSparse });
      }
    } finally {
      await b.e.dispose();
    }
    // a larger p never asks for less sparsity: CETT is non-decreasing in p
    const cetts = sweep!.points.map((x) => x.cett);
    expect([...cetts].sort((x, y) => x - y)).toEqual(cetts);
    expect(sweepId!).toBeTruthy();
  });

  test('labels: a p% sweep is never called CETT-PPL-1%', () => {
    expect(describeConfig({ kind: 'measure', method: 'cett-ppl', p: 1, checkpoint: '/m/tiny', sweepP: [1, 5, 10] })).toBe('CETT-PPL-p% sweep · tiny · p = 1, 5, 10%');
    expect(methodLabel({ method: 'cett-ppl', p: null, param: null }, 2, true)).toBe('CETT-PPL-p% sweep ×2');
    expect(methodLabel({ method: 'cett-ppl', p: null, param: null }, 2)).toBe('CETT sweep ×2');
    expect(methodLabel({ method: 'cett-ppl', p: null, param: null })).toBe('sweep (no points yet)'); // running: no p to name
    expect(methodLabel({ method: 'cett-ppl', p: 5, param: null })).toBe('CETT-PPL-5%');
  });

  test('the engine refuses a p% sweep of a baseline, with sweep, or with p ≤ 0 / repeated values', async () => {
    const { e, finished } = testEngine(path.join(tmp, 'home-c'));
    try {
      for (const [cfg, msg] of [
        [{ method: 'fat', param: 0.01, sweepP: [1, 5] }, /p% sweep measures CETT-PPL-p%/],
        [{ sweepP: [1, 5], sweep: [0.1] }, /either p .* or CETT/],
        [{ sweepP: [5, 5] }, /p = 5 twice/],
      ] as const) {
        const { id } = await e.invoke('runs.start', { config: { ...base, ...cfg } as never });
        const f = await finished(id);
        expect(f.status).toBe('failed');
        expect(f.error?.message).toMatch(msg);
      }
      // a value out of range is refused by the contract before a job is recorded (main/api/domains/runs.ts pProblem)
      await expect(e.invoke('runs.start', { config: { ...base, sweepP: [1, 0] } as never })).rejects.toThrow(/config\.sweepP\.1: p is the allowed rise of perplexity in percent: it must be > 0 and ≤ 100/);
    } finally {
      await e.dispose();
    }
  });

  test('CLI: --sweep-p runs it (exit 3 when a target is not met), bad lists are refused before any work', async () => {
    const err: string[] = [];
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((m: string) => void out.push(m));
    const warn = vi.spyOn(console, 'error').mockImplementation((m: string) => void err.push(String(m)));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      for (const [list, msg] of [
        ['1,,5', /sweep-p/],
        ['1,x', /sweep-p/],
        ['1,-2', /--sweep-p list, value 2 of 2: p is the allowed rise of perplexity in percent: it must be > 0 and ≤ 100 .*; got -2/],
        ['1,500', /--sweep-p list, value 2 of 2: p is the allowed rise of perplexity in percent: it must be > 0 and ≤ 100 .*; got 500/],
        ['5,5', /p = 5 twice/],
      ] as const) {
        err.length = 0;
        const rc = await main(['measure', ck, '--data', data, '--sweep-p', list, '--state-dir', path.join(tmp, 'cli-jobs'), '--quiet']);
        expect(rc, list).not.toBe(0);
        expect(err.join('\n'), list).toMatch(msg);
      }
      err.length = 0;
      expect(await main(['measure', ck, '--data', data, '--sweep-p', '1,5', '--sweep', '0.1', '--quiet'])).not.toBe(0);
      expect(err.join('\n')).toMatch(/--sweep-p and --sweep/);
      err.length = 0;
      expect(await main(['measure', ck, '--data', data, '--sweep-p', '1,5', '--method', 'fat', '--quiet'])).not.toBe(0);
      expect(err.join('\n')).toMatch(/--sweep-p sweeps CETT-PPL-p%/);
      expect(fs.existsSync(path.join(tmp, 'cli-jobs'))).toBe(false);

      out.length = 0;
      err.length = 0;
      const rc = await main(['measure', ck, '--data', data, '--sweep-p', PS.join(','), '--tokens', '256', '--seq-len', '32', '--batch', '4', '--tol', '0.01', '--provider', 'cpu', '--state-dir', path.join(tmp, 'cli-jobs2'), '--json']);
      const r = JSON.parse(out.join('\n')) as { points: Point[]; targetsNotMet: number };
      expect(r.points.map((x) => x.p)).toEqual(PS);
      expect(rc).toBe(r.targetsNotMet > 0 ? EXIT_TARGET_NOT_MET : 0);
    } finally {
      log.mockRestore();
      warn.mockRestore();
      stderr.mockRestore();
    }
  });

  test('the fused search (GPU path, forced on the CPU): one memo serves every p, same numbers as separate runs, fewer evaluations', async () => {
    const dir = path.join(tmp, 'fused');
    writeTinyCheckpoint(dir, 'llama', { activation: 'silu', hidden: 32, layers: 3, heads: 4, kvHeads: 2, intermediate: 48, vocab: 300, seed: 11, std: 0.2, maxPositions: 64 });
    const ckpt = await loadCheckpoint(dir);
    const runner = await createRunner(ckpt, { provider: 'cpu', maxSeq: 32 });
    let s = 99;
    const ids = Int32Array.from({ length: 6 * 20 }, () => (s = (s * 1103515245 + 12345) >>> 0) % 300);
    const data = batchStream(ids, { seqLen: 20, batch: 3 }, 'test');
    const target = { id: dir, runner, downWeights: downWeightsOf(ckpt) };
    try {
      const o = { tol: 1e-3, thresholdMode: 'authors' as const, curveEngine: 'fused' as const };
      const ps = [1, 5, 10];
      const sweep = await measureCettPplOverP(target, data, ps, o);
      let separate = 0;
      for (const [i, p] of ps.entries()) {
        const one = await measureCettPpl(target, data, { ...o, p });
        expect(sweep[i].curveEngine).toBe('fused');
        expect([sweep[i].cett, sweep[i].activationRatio, sweep[i].pplRatio, sweep[i].pplSparse]).toEqual([one.cett, one.activationRatio, one.pplRatio, one.pplSparse]);
        expect(sweep[i].thresholdsPerBatch).toEqual(one.thresholdsPerBatch);
        expect(sweep[i].searchHistory).toEqual(one.searchHistory);
        separate += one.searchStats!.evaluations;
      }
      // later p walk paths the earlier ones evaluated: the sweep evaluates fewer candidates than the runs one by one
      expect(sweep.reduce((a, r) => a + r.searchStats!.evaluations, 0)).toBeLessThan(separate);
    } finally {
      await runner.dispose();
    }
  }, 120_000);

  test('a run whose target was not met never stands for its checkpoint in the laws charts', () => {
    const file = path.join(tmp, 'laws.sparsitylab');
    const st = SessionStore.create(file);
    try {
      const acts = [0.4, 0.3, 0.25];
      for (const [i, a] of acts.entries()) {
        const c = st.upsertCheckpoint({ path: `/m/s/step-${i}`, contentHash: `h${i}`, activation: 'relu' }, { series: 's', tokensTrained: (i + 1) * 1e9 });
        st.createRun({ id: `r${i}`, kind: 'measure', method: 'cett-ppl', checkpointId: c, p: 1, config: {}, status: 'completed' });
        st.saveResult(`r${i}`, { activationRatio: a, pplRatio: 1.01 });
        if (i === 2) {
          // later (id sorts last: the 'latest' run): an unreachable p on the same checkpoint, the edge of the search
          st.createRun({ id: 'z-late', kind: 'sweep-point', method: 'cett-ppl', checkpointId: c, p: 5000, config: {}, status: 'completed' });
          st.saveResult('z-late', { activationRatio: 0.01, pplRatio: 30, targetNotMet: 'the p = 5000% target cannot be met: x' });
        }
      }
      const plot = plotData('activation-vs-tokens', sessionChartSource(st, false));
      const measured = plot.series.find((x) => x.role === 'measured')!;
      expect(measured.points.map((pt) => pt.y)).toEqual(acts.map((a) => a * 100));
    } finally {
      st.close();
    }
  });
});
