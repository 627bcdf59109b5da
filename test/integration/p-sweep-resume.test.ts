// Issue 18: a killed p% sweep resumes instead of restarting. A real engine process runs a p% sweep into a session and
// is killed with SIGKILL after a known saved step: the first point finished, the second three outer steps into its
// search. The reopened session lists the sweep as interrupted; resuming it keeps the finished point as saved (not
// measured again, its child run's row not written again), continues the second point's search from its saved step,
// and gives exactly the answers of an uninterrupted sweep (an independent job, no session).
import { afterAll, expect, test } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../main/engine/engine';
import type { JobFinishedEvent } from '../../main/api/domains/runs';
import type { SessionRun } from '../../main/api/domains/sessions';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';
import { SessionStore } from '../../main/store/index';
import { outerSteps } from '../../main/jobs/progress';
import { pSweepResumeState, type PSweepState } from '../../main/jobs/p-sweep';
import { validateStoredJobState } from '../../main/store/validate';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-psweep-resume-'));
const f = (n: string) => path.join(tmp, n);
const root = path.resolve(__dirname, '../..');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

type Full = { p: number; cett: number; activationRatio: number; pplRatio: number; pplSparse: number; pplDense: number; thresholds: number[]; searchHistory: unknown[]; forwardPasses: number; targetNotMet?: string };

function engine(home: string) {
  const e = new Engine({ paths: { userData: home, cache: path.join(home, 'cache') }, log: { info() {}, warn() {}, error() {} } });
  const finished = (id: string) => new Promise<JobFinishedEvent>((resolve) => e.onEvent((ev, p) => ev === 'job.finished' && (p as JobFinishedEvent).id === id && resolve(p as JobFinishedEvent)));
  return { e, finished };
}

test('kill -9 mid-sweep: finished points stay finished, the interrupted one resumes from its step, same answers', async () => {
  const ck = writeTinyCheckpoint(f('ck'), 'llama', { activation: 'relu', hidden: 48, layers: 2, seed: 17 });
  const data = f('eval.txt');
  fs.writeFileSync(data, Array.from({ length: 300 }, (_, i) => `Entry ${i}: the mill ground ${(i * 29) % 97} sacks before noon.\n`).join(''));
  const tol = 1e-3;
  const config = { kind: 'measure', checkpoint: ck, data, tokens: 1024, seqLen: 64, batch: 4, tol, provider: 'cpu', sweepP: [1, 5, 10] };
  const S = outerSteps(tol);
  const session = f('sweep.sparsitylab');
  SessionStore.create(session).close();

  // saves: S steps of p=1's search, its finished point, then 3 steps of p=5's search — and the process dies
  const kill = S + 1 + 3;
  const child = spawn(process.execPath, [path.join(root, 'bin/run-ts'), path.join(root, 'test/integration/fixtures/psweep-child.ts'), session, f('home-a'), String(kill), JSON.stringify(config)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  await new Promise((r) => child.once('exit', r));
  expect(child.signalCode, out).toBe('SIGKILL');

  // what the killed process left: the first point whole (its child run), the second's search 3 steps in; the state
  // itself holds no point, only their count and the search
  const ro = SessionStore.open(session, { readOnly: true });
  const id = ro.listRuns({ parentId: null })[0].id;
  const state = ro.runState(id).state as PSweepState;
  expect(Object.keys(state).sort()).toEqual(['done', 'kind', 'search']);
  expect(state.done).toBe(1);
  const saved = pSweepResumeState(state, [ro.getResult(`${id}#0`)], config.sweepP)!;
  // the first point's rows as the killed process wrote them: the run row, its result and arrays (rowid, content)
  const rowsOf = (st: SessionStore) => st.db.prepare(`SELECT 'run' t, rowid, updated_at v FROM runs WHERE id=@c UNION ALL SELECT 'result', rowid, summary FROM results WHERE run_id=@c UNION ALL SELECT name, rowid, hex(data) FROM arrays WHERE run_id=@c ORDER BY 1`).all({ c: `${id}#0` });
  const firstRows = rowsOf(ro);
  ro.close();
  expect(saved.points.map((r) => r.p)).toEqual([1]);
  expect(saved.search?.history).toHaveLength(3);
  expect(firstRows.length).toBeGreaterThan(2); // run, result and at least one array

  const a = engine(f('home-a'));
  let resumed: { runs: Full[]; points: unknown[] };
  let rows: SessionRun[];
  try {
    const info = (await a.e.call('sessions.open', { path: session })) as { interrupted: number };
    expect(info.interrupted).toBe(1);
    const resumable = (await a.e.call('sessions.resumable', {})) as { id: string; config: unknown; steps: number }[];
    expect(resumable.map((r) => [r.id, r.steps])).toEqual([[id, kill]]);
    const done = a.finished(id);
    await a.e.call('runs.start', { config: resumable[0].config, resume: id });
    const ev = await done;
    expect(ev.status, JSON.stringify(ev.error)).toBe('completed');
    resumed = ev.result as typeof resumed;
    rows = (await a.e.call('sessions.listRuns', {})) as SessionRun[];
  } finally {
    await a.e.dispose();
  }

  // the uninterrupted sweep: another engine, no session, the same config
  const b = engine(f('home-b'));
  let ref: { runs: Full[]; points: unknown[] };
  try {
    const { id: refId } = (await b.e.call('runs.start', { config: { ...config, stateDir: f('jobs') } })) as { id: string };
    const ev = await b.finished(refId);
    expect(ev.status, JSON.stringify(ev.error)).toBe('completed');
    ref = ev.result as typeof ref;
  } finally {
    await b.e.dispose();
  }

  // the same answers, point by point, to the last bit
  expect(resumed.points).toEqual(ref.points);
  for (const [i, r] of resumed.runs.entries()) {
    const x = ref.runs[i];
    expect([r.p, r.cett, r.activationRatio, r.pplRatio, r.pplSparse, r.pplDense, r.targetNotMet]).toEqual([x.p, x.cett, x.activationRatio, x.pplRatio, x.pplSparse, x.pplDense, x.targetNotMet]);
    expect(r.thresholds).toEqual(x.thresholds);
    expect(r.searchHistory).toEqual(x.searchHistory);
  }
  // the finished point is the saved one, not measured again (its timings are the killed process's), and its rows were
  // not written again by the resumed steps or the finish
  expect(resumed.runs[0]).toEqual(JSON.parse(JSON.stringify(saved.points[0])));
  const after = SessionStore.open(session, { readOnly: true });
  expect(rowsOf(after)).toEqual(firstRows);
  after.close();
  // the interrupted point did 3 outer steps fewer (each one pass per batch); the last point is whole
  const nb = ref.runs[2].forwardPasses / (ref.runs[2].searchHistory.length + 2); // dense + steps + final, per batch
  expect(Number.isInteger(nb)).toBe(true);
  expect(resumed.runs[1].forwardPasses).toBe(ref.runs[1].forwardPasses - 3 * nb);
  expect(resumed.runs[2].forwardPasses).toBe(ref.runs[2].forwardPasses);
  // the session: the sweep completed, one child run per p
  expect(rows!.find((r) => r.id === id)?.status).toBe('completed');
  expect(rows!.filter((r) => r.parentId === id).map((r) => [r.p, r.status])).toEqual([[1, 'completed'], [5, 'completed'], [10, 'completed']]);
}, 120_000);

test('a saved p% sweep state that is not one is refused with the reason, never half-resumed', () => {
  const ps = [1, 5];
  const pt = { p: 1, cett: 0.3, activationRatio: 0.4, pplRatio: 1.01 };
  expect(pSweepResumeState(undefined, [], ps)).toBeUndefined();
  expect(pSweepResumeState({ kind: 'p-sweep', done: 1, search: { l: 0, r: 0.5, history: [] } }, [pt], ps)).toMatchObject({ points: [pt], search: { r: 0.5 } });
  // a point saved as a child but not yet counted (killed between the two writes) is measured again
  expect(pSweepResumeState({ kind: 'p-sweep', done: 0, search: { l: 0, r: 0.5, history: [] } }, [pt], ps)).toMatchObject({ points: [] });
  // a state saved before the points were children holds them itself
  expect(pSweepResumeState({ kind: 'p-sweep', points: [pt], search: { l: 0, r: 0.5, history: [] } }, undefined, ps)).toMatchObject({ points: [pt], search: { r: 0.5 } });
  expect(() => pSweepResumeState({ kind: 'p-sweep', done: 2 }, [pt], ps, 'run x')).toThrow(/run x cannot be resumed: it counts 2 finished points but 1 are saved/);
  const bad = (raw: unknown) => () => pSweepResumeState(raw, [], ps, 'run x');
  expect(bad({ l: 0, r: 1, history: [] })).toThrow(/the saved state of run x cannot be resumed: it is not a p% sweep's/);
  expect(bad({ kind: 'p-sweep', points: [{ ...pt, p: 5 }] })).toThrow(/point 1 is not a finished CETT-PPL-1% result/);
  expect(bad({ kind: 'p-sweep', points: [pt, { ...pt, p: 5 }, pt] })).toThrow(/3 finished points for 2 values of p/);
  expect(bad({ kind: 'p-sweep', points: [pt], search: { l: 0.6, r: 0.5, history: [] } })).toThrow(/not an interval of CETT/);
  expect(bad({ kind: 'p-sweep', points: [{ ...pt, cett: NaN }] })).toThrow(/point 1/);
  // read back from a session file: checked like a single run's search state, the field named
  expect(() => validateStoredJobState({ kind: 'p-sweep', points: [{ ...pt, cett: 'x' }] }, '/x/a.sparsitylab: saved state of run 7')).toThrow(/^\/x\/a\.sparsitylab: saved state of run 7 is damaged: field points\[0\]\.cett: /);
  expect(() => validateStoredJobState({ kind: 'p-sweep', points: [], search: { l: 0.6, r: 0.5, history: [] } }, 'w')).toThrow(/search\.l: the search bounds are reversed/);
  expect(validateStoredJobState({ kind: 'p-sweep', points: [pt], search: { l: 0, r: 0.5, history: [] } }, 'w')).toMatchObject({ points: [pt] });
});
