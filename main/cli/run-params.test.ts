// The numeric run parameters are checked in ONE place (main/api/domains/runs.ts RUN_PARAMS, pProblem): a run's config
// (runs.start / runs.estimate: the CLI's measure and the lab's wizard), a p% sweep's values, a cluster
// submission and a sweep spec file all refuse the same values with the same words. `--p 1000` was measured (PPL ×11);
// `--p -1` and a p% sweep's 1000 recorded a failed job; a cluster submission or spec with p = 1000 made tasks that fail.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { requestSchemas } from '../api/contract';
import { P_MAX_PERCENT, pProblem } from '../api/domains/runs';
import { readSweepSpec } from '../cluster/tasks';
import { Engine } from '../engine/engine';
import { measureCommand } from './measure';
import { checkSweepP } from '../jobs/p-sweep';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-run-params-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const config = (o: Record<string, unknown>) => ({ config: { kind: 'measure', checkpoint: '/m', data: '/d.txt', ...o } });
const problems = (cmd: 'runs.start' | 'runs.estimate' | 'runs.plan', o: Record<string, unknown>) => {
  const r = requestSchemas[cmd].safeParse(config(o));
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};
const RANGE = `it must be > 0 and ≤ ${P_MAX_PERCENT} (the paper reports 1, 5, 10)`;

test('p: 0 < p ≤ 100 in every request that carries a run config; the refusal names the value and the range', () => {
  for (const p of [1, 5, 10, 0.25, 100]) expect(problems('runs.start', { p })).toEqual([]);
  for (const p of [1000, 100.5, 0, -1]) {
    for (const cmd of ['runs.start', 'runs.estimate'] as const) expect(problems(cmd, { p })).toEqual([`config.p: p is the allowed rise of perplexity in percent: ${RANGE}; got ${p}`]);
  }
  for (const p of [NaN, Infinity, -Infinity]) expect(problems('runs.start', { p })).toHaveLength(1);
  // runs.plan (how it would execute) does not depend on p or the method's parameter: the wizard asks while they are typed
  expect(problems('runs.plan', { p: 1000, method: 'fat' })).toEqual([]);
  expect(problems('runs.plan', { batch: 0 }).map((m) => m.split(':')[0])).toEqual(['config.batch']);
  expect(problems('runs.start', { sweepP: [1, 5, 1000] })).toEqual([`config.sweepP.2: p is the allowed rise of perplexity in percent: ${RANGE}; got 1000`]);
  expect(pProblem('5')).toContain('got "5"');
});

test('the other numbers: NaN, ±Infinity, negative, huge and fractional counts are refused by field', () => {
  const bad: Record<string, unknown[]> = {
    tokens: [NaN, -4096, 1.5, 1e12, Infinity],
    seqLen: [0, 1, 2.5, 1e9],
    batch: [0, -1, 1.5, 1e6],
    tol: [0, -1e-3, 0.5, NaN],
    deviceMemory: [0, -1, 1e9, Infinity],
    param: [NaN, Infinity],
  };
  for (const [field, values] of Object.entries(bad))
    for (const v of values) expect(problems('runs.start', { [field]: v }).map((m) => m.split(':')[0]), `${field} = ${v}`).toEqual([`config.${field}`]);
  expect(problems('runs.start', { tokens: 4096, seqLen: 128, batch: 8, tol: 1e-6, deviceMemory: 0.5, param: 0.25 })).toEqual([]);
  // a budget below one sequence failed inside the job (a job file recorded for it)
  expect(problems('runs.start', { tokens: 100, seqLen: 256 })).toEqual(['config.tokens: the token budget (100) is less than one sequence of 256 tokens (seqLen): give at least 256']);
  expect(problems('runs.start', { tokens: 256, seqLen: 256 })).toEqual([]);
});

test("a baseline's parameter (FAT ε ≥ 0, Top-k's fraction kept in (0, 1]) and a sweep's values are refused before a job, by the same words", () => {
  expect(problems('runs.start', { method: 'fat', param: -0.1 })).toEqual(['config.param: fat needs --param ε ≥ 0 (the threshold under which activations are zeroed; got -0.1)']);
  expect(problems('runs.start', { method: 'fat' })).toEqual(['config.param: fat needs --param ε ≥ 0 (the threshold under which activations are zeroed; got none)']);
  expect(problems('runs.start', { method: 'topk-token', param: 5 })).toEqual(['config.param: topk-token needs --param = the fraction of neurons kept, in (0, 1] (got 5)']);
  expect(problems('runs.estimate', { method: 'topk-batch', param: 0 })).toEqual(['config.param: topk-batch needs --param = the fraction of neurons kept, in (0, 1] (got 0)']);
  expect(problems('runs.start', { method: 'topk-token', sweep: [0.1, 1.5] })).toEqual(['config.sweep.1: topk-token needs --param = the fraction of neurons kept, in (0, 1] (got 1.5)']);
  expect(problems('runs.start', { sweep: [0.1, -0.2] })).toEqual(["config.sweep.1: a CETT sweep's values lie in [0, 1] (got -0.2)"]);
  for (const ok of [{ method: 'fat', param: 0 }, { method: 'fat', param: 0.01 }, { method: 'topk-token', param: 1 }, { method: 'relu' }, { method: 'topk-batch', sweep: [0.1, 0.5] }, { sweep: [0, 0.5, 1] }])
    expect(problems('runs.start', ok), JSON.stringify(ok)).toEqual([]);
  const series = requestSchemas['runs.start'].safeParse({ config: { kind: 'measure-series', checkpoints: [{ path: '/a' }, { path: '/b' }], data: '/d.txt', method: 'fat', param: -1 } });
  expect(series.error?.issues.map((i) => i.path.join('.'))).toEqual(['config.param']);
});

test('a p% sweep, a cluster submission and a sweep spec file refuse p out of range the same way', () => {
  expect(() => checkSweepP([1, 1000], '--sweep-p list')).toThrow(`the --sweep-p list, value 2 of 2: p is the allowed rise of perplexity in percent: ${RANGE}; got 1000`);
  expect(checkSweepP([1, 5, 10])).toEqual([1, 5, 10]);
  const submit = (o: Record<string, unknown>) => requestSchemas['cluster.submit'].safeParse({ checkpoints: [{ path: '/m' }], measure: { data: '/d.txt' }, ...o });
  expect(submit({}).success).toBe(true);
  expect(submit({ measure: { data: '/d.txt', p: 1000 } }).error?.issues[0].message).toContain('got 1000');
  expect(submit({ measure: { data: '/d.txt', tokens: 1.5 } }).success).toBe(false);
  expect(submit({ measure: { data: '/d.txt', batch: 1e6 } }).success).toBe(false);
  expect(submit({ sweep: { key: 'p', values: [1, 200] } }).error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([['sweep.values.1', `p is the allowed rise of perplexity in percent: ${RANGE}; got 200`]]);
  expect(submit({ sweep: { key: 'param', values: [200] } }).success).toBe(true); // a baseline's parameter: its own range
  const spec = path.join(dir, 'sweep.json');
  fs.writeFileSync(spec, JSON.stringify({ checkpoints: ['a'], p: [1, 5, 1000] }));
  expect(() => readSweepSpec(spec)).toThrow(`${spec}: not a sweep spec (p.2: p is the allowed rise of perplexity in percent: ${RANGE}; got 1000)`);
});

test('the CLI: `measure --p 1000` is refused before a job is recorded (no job file), naming the value and the range', async () => {
  const engine = new Engine({ paths: { userData: path.join(dir, 'ud'), cache: path.join(dir, 'cache') }, log: { info() {}, warn() {}, error() {} } });
  const text = path.join(dir, 'eval.txt');
  fs.writeFileSync(text, 'some text. '.repeat(50));
  const state = path.join(dir, 'state');
  try {
    for (const p of ['1000', '0', '-5'])
      await expect(measureCommand.run([path.resolve(__dirname, '../../resources/demo-lab/models/relu'), '--data', text, `--p=${p}`, '--seq-len', '16', '--state-dir', state, '--json'], engine)).rejects.toThrow(
        `config.p: p is the allowed rise of perplexity in percent: ${RANGE}; got ${p}`,
      );
  } finally {
    await engine.dispose();
  }
  expect(fs.existsSync(state) ? fs.readdirSync(state) : []).toEqual([]);
});
