// A disk that fills while a run records into a session: the job ends with one clear message naming the session and the
// step it was saving (it said "INTERNAL: database or disk is full"), the steps saved before are kept and the run resumes
// to its end once there is room. And a full disk while the CLI closes the session at its end (the journal folded into
// the file) is said as the CLI says any error, one line and a non-zero status, never a stack trace (Engine.dispose
// threw out of the CLI's finally). The real SQLITE_FULL comes from an SQLite database capped at its size.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, test, vi } from 'vitest';
import { Engine } from '../../main/engine/engine';
import { LabError } from '../../main/api/errors';
import type { JobFinishedEvent } from '../../main/api/domains/runs';
import type { SessionStore } from '../../main/store/session';
import { commands } from '../../main/cli/commands';
import { main } from '../../main/cli/index';
import { makeToyModel, toyModelSource } from './metrics-toy-model';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-disk-full-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** a real SQLITE_FULL error, from a database capped at its size */
function sqliteFull(): Error {
  const db = new Database(path.join(dir, 'cap.db'));
  db.exec('CREATE TABLE t (x)');
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
  try {
    db.prepare('INSERT INTO t VALUES (?)').run('x'.repeat(100_000));
  } catch (e) {
    return e as Error;
  } finally {
    db.close();
  }
  throw new Error('the capped database took the row');
}

test('the disk fills while a run saves a step: SESSION_ERROR naming the session and the step; the run resumes to its end', async () => {
  const full = sqliteFull();
  expect((full as { code?: string }).code).toMatch(/^SQLITE_FULL/);
  const model = makeToyModel({ seed: 5, vocab: 20, d: 8, f: 16, layers: 2, gated: true, activation: 'silu' });
  const src = toyModelSource(model);
  const text = path.join(dir, 'eval.txt');
  fs.writeFileSync(text, 'the quick brown fox jumps over the lazy dog; '.repeat(8));
  const config = { kind: 'measure' as const, checkpoint: '/models/toy', data: text, p: 5, tokens: 96, seqLen: 12, batch: 4 };
  const e = new Engine({ paths: { userData: path.join(dir, 'ud'), cache: path.join(dir, 'cache') }, log: { info() {}, warn() {}, error() {} } });
  e.ctx.services.set('runs.models', src);
  const finished: JobFinishedEvent[] = [];
  e.onEvent((ev, p) => ev === 'job.finished' && finished.push(p as JobFinishedEvent));
  const file = path.join(dir, 'lab.sparsitylab');
  await e.call('sessions.new', { path: file });
  const s = e.ctx.services.get('session') as SessionStore;
  // the third step's save hits the full disk (once: the disk has room again after)
  const update = s.updateRun.bind(s);
  let steps = 0;
  s.updateRun = (id, u) => {
    if (u.steps !== undefined && ++steps === 3) throw full;
    return update(id, u);
  };
  const { id } = (await e.call('runs.start', { config })) as { id: string };
  while (!finished.length) await new Promise((r) => setTimeout(r, 5));
  expect(finished[0]).toEqual({
    id,
    status: 'failed',
    error: { code: 'SESSION_ERROR', message: `${file}: the disk is full while saving step 3 of run ${id}. Nothing saved before this point is lost (the file is intact); free some space and open the session again to continue.` },
  });
  expect(s.runState(id).steps).toBe(2); // the steps saved before are kept
  await e.call('runs.start', { config, resume: id });
  while (finished.length < 2) await new Promise((r) => setTimeout(r, 5));
  expect(finished[1]).toMatchObject({ id, status: 'completed' });
  await e.dispose();
});

test('a full disk while the CLI closes the session: one line and exit status 1, never a stack trace', async () => {
  const closing = new LabError('SESSION_ERROR', `${dir}/x.sparsitylab: the disk is full while closing the session. Nothing saved before this point is lost (the file is intact); free some space and open the session again to continue.`);
  const disposed: string[] = [];
  commands['test-close'] = {
    summary: 'a command whose session cannot be closed',
    async run(_argv, engine) {
      engine.ctx.services.set('session', {
        dispose() {
          throw closing;
        },
      });
      engine.ctx.services.set('other', { dispose: () => void disposed.push('other') }); // still disposed after it
      return 0;
    },
  };
  const err = vi.spyOn(console, 'error').mockImplementation(() => {});
  try {
    expect(await main(['test-close'])).toBe(1);
    expect(err.mock.calls).toEqual([[`sparsity-lab test-close: SESSION_ERROR: ${closing.message}`]]);
    expect(disposed).toEqual(['other']);
  } finally {
    err.mockRestore();
    delete commands['test-close'];
  }
});
