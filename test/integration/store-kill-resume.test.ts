// Session files under a real writer process: a concurrent reader sees committed steps while the writer
// writes (WAL), and `kill -9` of the writer loses at most the step in flight; the reopened session shows
// the run as interrupted with its completed steps, and the job resumes and finishes.
import { afterAll, describe, expect, test } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SessionStore, SessionJobPersistence } from '../../main/store/index';
import { JsonFilePersistence } from '../../main/jobs/persistence';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-store-kill-'));
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
