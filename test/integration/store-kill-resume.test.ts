// Session files under a real writer process: a concurrent reader sees committed steps while the writer
// writes (WAL), and `kill -9` of the writer loses at most the step in flight; the reopened session shows
// the run as interrupted with its completed steps, and the job resumes and finishes.
import { afterAll, describe, expect, test } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SessionStore } from '../../main/store/index';
import { SessionJobPersistence } from '../../main/jobs/session-persistence';
import { JsonFilePersistence } from '../../main/jobs/persistence';
import { Engine } from '../../main/engine/engine';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';
import type { JobFinishedEvent } from '../../main/api/domains/runs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-store-kill-'));
const f = (n: string) => path.join(tmp, n);
const root = path.resolve(__dirname, '../..');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function writer(file: string, id: string, delayMs: number): { child: ChildProcess; out: () => string } {
  const child = spawn(process.execPath, [path.join(root, 'bin/run-ts'), path.join(root, 'test/integration/fixtures/store-writer-child.ts'), file, id, String(delayMs)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, out: () => out };
}

interface State {
  k: number;
  sum: number;
  sq: number;
  history: number[];
}

/** Independent check of a saved state: closed forms of 1+…+k and 1²+…+k². */
function consistent(s: State): boolean {
  return s.sum === (s.k * (s.k + 1)) / 2 && s.sq === (s.k * (s.k + 1) * (2 * s.k + 1)) / 6 && s.history[0] === s.k;
}

describe('a real writer process (synthetic step loop through SessionJobPersistence)', () => {
  test('a concurrent reader sees a growing, always consistent run while the writer commits; SIGKILL then resume', async () => {
    const file = path.join(tmp, 'w.sparsitylab');
    SessionStore.create(file).close();
    const { child, out } = writer(file, 'job-1', 2);
    // reader: a separate connection in this process, polling while the child writes
    const seen: number[] = [];
    const t0 = Date.now();
    while (seen.length === 0 || seen[seen.length - 1] < 60) {
      if (Date.now() - t0 > 30_000) throw new Error(`writer made no progress: ${out()}`);
      if (child.exitCode !== null) throw new Error(`writer exited: ${out()}`);
      const r = SessionStore.open(file, { readOnly: true });
      try {
        const run = r.listRuns()[0];
        if (run) {
          expect(run.status).toBe('running');
          const st = r.runState(run.id);
          if (st.state) {
            expect(consistent(st.state as State)).toBe(true); // never half a step
            expect((st.state as State).k).toBe(st.steps);
          }
          seen.push(st.steps);
        }
      } finally {
        r.close();
      }
      await new Promise((res) => setTimeout(res, 5));
    }
    // the reader was never blocked and saw the count grow monotonically
    expect(seen.length).toBeGreaterThan(3);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]);
    expect(new Set(seen).size).toBeGreaterThan(2);

    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(child.signalCode).toBe('SIGKILL');
    const lastSeen = seen[seen.length - 1];

    // reopen (as the app would): the run is interrupted, with every step committed before the kill
    const s = SessionStore.open(file);
    const run = s.getRun('job-1')!;
    expect(run.status).toBe('interrupted');
    expect(run.steps).toBeGreaterThanOrEqual(lastSeen);
    const jobs = new SessionJobPersistence(() => s, new JsonFilePersistence(path.join(tmp, 'jobs')));
    const unfinished = await jobs.listUnfinished();
    expect(unfinished.map((j) => j.id)).toEqual(['job-1']);
    const job = (await jobs.load('job-1'))!;
    const st = job.state as State;
    expect(consistent(st)).toBe(true);
    expect(st.k).toBe(job.steps);
    expect(job.config).toMatchObject({ kind: 'synthetic', totalSteps: 1_000_000 });

    // resume: continue from k, 20 more steps, then complete with the closed-form result
    let { k, sum, sq } = st;
    const target = k + 20;
    while (k < target) {
      k++;
      sum += k;
      sq += k * k;
      await jobs.saveStep('job-1', { k, sum, sq, history: [k] });
    }
    await jobs.finish('job-1', 'completed', { result: { cett: sum / sq, activationRatio: 0.5, pplRatio: 1.01 } });
    s.close();

    const t = SessionStore.open(file, { readOnly: true });
    const done = t.getRun('job-1')!;
    expect(done.status).toBe('completed');
    expect(done.steps).toBe(target);
    const n = target;
    expect(done.cett).toBeCloseTo((n * (n + 1)) / 2 / ((n * (n + 1) * (2 * n + 1)) / 6), 12);
    expect(done.activationRatio).toBe(0.5);
    t.close();
  }, 60_000);
});

describe('a real engine process killed with SIGKILL mid-measurement', () => {
  test('loses at most the step in flight; the session reopens with the run interrupted and resumes to the same answer', async () => {
    const ckpt = writeTinyCheckpoint(f('ck'), 'llama', { activation: 'relu', hidden: 64, layers: 2, seed: 11 });
    const data = f('eval.txt');
    const para = 'The committee met on Tuesday and agreed that the river crossing would be rebuilt before winter. ';
    fs.writeFileSync(data, Array.from({ length: 900 }, (_, i) => `${para}Item ${i} of the record says ${(i * 37) % 101} boats.\n`).join(''));
    const session = f('kill.sparsitylab');
    SessionStore.create(session).close();
    const home = f('home');
    const child = spawn(process.execPath, [path.join(root, 'bin/run-ts'), path.join(root, 'test/integration/fixtures/measure-child.ts'), session, ckpt, data, home], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    // a concurrent reader polls the file while the writer process commits steps (WAL: never blocked)
    let steps = 0;
    let reads = 0;
    const t0 = Date.now();
    while (steps < 3) {
      if (Date.now() - t0 > 90_000) throw new Error(`the child never saved 3 steps; stdout: ${out}`);
      if (child.exitCode !== null) throw new Error('the child finished before it could be killed: make the job longer');
      try {
        const r = SessionStore.open(session, { readOnly: true });
        const runs = r.listRuns();
        reads++;
        steps = runs[0]?.steps ?? 0;
        r.close();
      } catch (e) {
        if (!/no such table|locked|busy/i.test((e as Error).message)) throw e;
      }
      await new Promise((res) => setTimeout(res, 30));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(reads).toBeGreaterThan(0);
    const id = out.trim();
    // reopen: the run is interrupted, its completed steps are there
    const engine = new Engine({ paths: { userData: home, cache: path.join(home, 'cache') }, log: { info() {}, warn() {}, error() {} } });
    try {
      const info = (await engine.call('sessions.open', { path: session })) as { interrupted: number };
      expect(info.interrupted).toBe(1);
      const resumable = (await engine.call('sessions.resumable', {})) as { id: string; config: unknown; steps: number }[];
      expect(resumable).toHaveLength(1);
      expect(resumable[0].id).toBe(id);
      const savedSteps = resumable[0].steps;
      expect(savedSteps).toBeGreaterThanOrEqual(3);
      const finished = new Promise<JobFinishedEvent>((resolve) => engine.onEvent((e, p) => e === 'job.finished' && resolve(p as JobFinishedEvent)));
      await engine.call('runs.start', { config: resumable[0].config, resume: id });
      const ev = await finished;
      expect(ev.status).toBe('completed');
      const got = (await engine.call('sessions.getRun', { id })) as { run: { status: string; steps: number; cett: number }; result: { searchHistory: unknown[] } };
      expect(got.run.status).toBe('completed');
      expect(got.run.steps).toBeGreaterThan(savedSteps);
      // the resumed search equals an uninterrupted one (same config, no session)
      const ref = new Promise<JobFinishedEvent>((resolve) => engine.onEvent((e, p) => e === 'job.finished' && (p as JobFinishedEvent).id !== id && resolve(p as JobFinishedEvent)));
      await engine.call('sessions.close', {});
      await engine.call('runs.start', { config: { ...(resumable[0].config as object), stateDir: f('state') } });
      const refEv = await ref;
      expect((refEv.result as { cett: number }).cett).toBe(got.run.cett);
    } finally {
      await engine.dispose();
    }
  });
});
