// Sessions under hostile conditions (issue 19): a second writer, a dead owner, a full disk, stored values of the
// wrong type, and the three honest messages for locked, read-only and damaged files.
import { afterEach, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { SessionStore } from '../../main/store/session';
import { lockFileOf, sessionWriteError } from '../../main/store/lock';
import { LabError } from '../../main/api/errors';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

function fresh(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-harden-'));
  const file = path.join(dir, 'lab.sparsitylab');
  const s = SessionStore.create(file);
  s.createRun({ id: 'r1', kind: 'measure', method: 'cett-ppl', p: 1, config: { a: 1 } });
  s.saveResult('r1', { cett: 0.2, activationRatio: 0.3, pplRatio: 1.01, thresholds: [0.1, 0.2] });
  s.close();
  return file;
}

const errOf = (f: () => unknown): LabError => {
  try {
    f();
  } catch (e) {
    return e as LabError;
  }
  throw new Error('expected an error');
};

test('a live owner refuses a second writer with its PID; a dead owner is recovered; readers are never blocked', () => {
  const file = fresh();
  const owner = spawn('sleep', ['30']);
  children.push(owner);
  const since = new Date(Date.now() + 1000).toISOString(); // written by its process after it started, as a real owner's is
  fs.writeFileSync(lockFileOf(file), JSON.stringify({ pid: owner.pid, host: os.hostname(), since }));
  const e = errOf(() => SessionStore.open(file));
  expect(e.code).toBe('BUSY');
  expect(e.message).toBe(`${file}: in use by PID ${owner.pid} on ${os.hostname()} since ${since} (another Sparsity Lab window or CLI writes it). Close it there, or open this session read-only.`);
  const ro = SessionStore.open(file, { readOnly: true });
  expect(ro.getResult('r1')?.cett).toBe(0.2);
  ro.close();
  // the owner dies (kill -9 leaves its lock behind): the next writer takes the lock over
  const dead = spawnSync('true').pid!;
  fs.writeFileSync(lockFileOf(file), JSON.stringify({ pid: dead, host: os.hostname(), since: '2026-01-01T00:00:00Z' }));
  const s = SessionStore.open(file);
  expect(JSON.parse(fs.readFileSync(lockFileOf(file), 'utf8')).pid).toBe(process.pid);
  // and says so (the CLI prints it as a note; a clean open says nothing)
  expect(s.notice).toBe(`The lock ${lockFileOf(file)} was left by PID ${dead} on ${os.hostname()} since 2026-01-01T00:00:00Z, which is no longer running (killed or crashed); it is cleared, and runs that process left unfinished are marked interrupted (resumable).`);
  s.close();
  expect(fs.existsSync(lockFileOf(file))).toBe(false);
  const clean = SessionStore.open(file);
  expect(clean.notice).toBeUndefined();
  clean.close();
});

test('a full disk while closing is one clear error, no stack trace, and the file reopens intact', () => {
  const file = fresh();
  const s = SessionStore.open(file);
  // a real SQLITE_FULL: cap the database at its current size and write more
  const pages = s.db.pragma('page_count', { simple: true }) as number;
  s.db.pragma(`max_page_count = ${pages}`);
  let full: unknown;
  try {
    s.saveFit({ kind: 'k', spec: {}, result: { big: 'x'.repeat(200_000) } });
  } catch (e) {
    full = e;
  }
  expect((full as { code?: string }).code).toMatch(/^SQLITE_FULL/);
  const mapped = sessionWriteError(file, full, 'saving a fit');
  expect(mapped.message).toBe(`${file}: the disk is full while saving a fit. Nothing saved before this point is lost (the file is intact); free some space and open the session again to continue.`);
  // close hits the full disk too (its checkpoint): the same clear error, and the handle and lock are released
  const realPragma = s.db.pragma.bind(s.db);
  s.db.pragma = ((src: string, o?: unknown) => {
    if (src.startsWith('wal_checkpoint')) throw full;
    return realPragma(src, o as never);
  }) as typeof s.db.pragma;
  const e = errOf(() => s.close());
  expect(e).toBeInstanceOf(LabError);
  expect(e.message).toContain('the disk is full while closing the session');
  expect(fs.existsSync(lockFileOf(file))).toBe(false);
  const again = SessionStore.open(file);
  expect(again.db.pragma('quick_check', { simple: true })).toBe('ok');
  expect(again.getResult('r1')?.thresholds).toEqual([expect.closeTo(0.1, 6), expect.closeTo(0.2, 6)]);
  again.close();
});

test('stored results and job states of the wrong type are refused naming file, run, field and problem', () => {
  const file = fresh();
  const s = SessionStore.open(file);
  s.db.prepare('UPDATE results SET summary=? WHERE run_id=?').run(JSON.stringify({ cett: 'high', activationRatio: 0.3 }), 'r1');
  expect(errOf(() => s.getResult('r1')).message).toBe(`${file}: result of run r1 is damaged: field cett: Invalid input: expected number, received string (found the text "high")`);
  s.db.prepare('DELETE FROM arrays WHERE run_id=?').run('r1');
  s.db.prepare('UPDATE results SET summary=? WHERE run_id=?').run(JSON.stringify({ cett: 0.2, perLayerActivation: [0.1, null, 0.3] }), 'r1');
  expect(errOf(() => s.getResult('r1')).message).toMatch(/result of run r1 is damaged: field perLayerActivation\[1\]: .*expected number.*\(found null\)$/);
  // a state with string bounds once resumed to CETT NaN
  s.updateRun('r1', { state: { l: '0', r: 1, history: [] }, steps: 1 });
  const e = errOf(() => s.runState('r1'));
  expect(e.code).toBe('SESSION_ERROR');
  expect(e.message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: saved state of run r1 is damaged: field l: .*expected number.*\\(found the text "0"\\)$`));
  s.updateRun('r1', { state: { l: 0.9, r: 0.1, history: [] }, steps: 1 });
  expect(errOf(() => s.runState('r1')).message).toContain('field l: the search bounds are reversed (l > r)');
  s.updateRun('r1', { state: { l: 0, r: 1, history: [{ c: 0.5, pplRatio: 1.02, perCheckpoint: [1.02] }] }, steps: 1 });
  expect(s.runState('r1').state).toEqual({ l: 0, r: 1, history: [{ c: 0.5, pplRatio: 1.02, perCheckpoint: [1.02] }] });
  s.close();
});

test('locked, read-only and damaged files get three different messages', () => {
  const locked = fresh();
  const owner = spawn('sleep', ['30']);
  children.push(owner);
  fs.writeFileSync(lockFileOf(locked), JSON.stringify({ pid: owner.pid, host: os.hostname(), since: 'now' }));
  expect(errOf(() => SessionStore.open(locked)).message).toContain(`in use by PID ${owner.pid}`);

  const damaged = fresh();
  const buf = fs.readFileSync(damaged);
  buf.fill(0x5a, 4096, Math.min(buf.length, 12288));
  fs.writeFileSync(damaged, buf);
  expect(errOf(() => SessionStore.open(damaged)).message).toMatch(/is damaged|not a session/);

  if (process.getuid?.() !== 0) {
    // root writes through permissions, so this part runs only as an ordinary user (CI)
    const ro = fresh();
    fs.chmodSync(ro, 0o444);
    const s = SessionStore.open(ro);
    expect(s.readOnly).toBe(true);
    expect(s.notice).toContain('read-only on disk');
    s.close();
  }
});

test('a read-only open shows a dead writer’s running run as interrupted, a live writer’s as running', () => {
  const file = fresh();
  const w = SessionStore.open(file);
  w.createRun({ id: 'live', kind: 'measure', method: 'cett-ppl', p: 1, config: {} }); // status 'running'
  w.close(); // still 'running' in the file; below, its lock names a dead PID (a writer killed with -9)
  const dead = spawnSync('true').pid!;
  fs.writeFileSync(lockFileOf(file), JSON.stringify({ pid: dead, host: os.hostname(), since: 'then' }));
  const before = fs.readFileSync(file);
  const ro = SessionStore.open(file, { readOnly: true });
  expect(ro.getRun('live')?.status).toBe('interrupted');
  expect(ro.listRuns().find((r) => r.id === 'live')?.status).toBe('interrupted');
  ro.close();
  expect(fs.readFileSync(file).equals(before)).toBe(true); // shown, not written
  const owner = spawn('sleep', ['20']);
  children.push(owner);
  fs.writeFileSync(lockFileOf(file), JSON.stringify({ pid: owner.pid, host: os.hostname(), since: 'now' }));
  const ro2 = SessionStore.open(file, { readOnly: true });
  expect(ro2.getRun('live')?.status).toBe('running');
  ro2.close();
});

test('a folder where the session lock goes is named as such (it read "the lock file keeps changing"); the job-folder sweep leaves one alone', async () => {
  const file = fresh();
  fs.mkdirSync(lockFileOf(file));
  const e = errOf(() => SessionStore.open(file));
  expect({ code: e.code, message: e.message }).toEqual({ code: 'SESSION_ERROR', message: `${file}: ${lockFileOf(file)} is a folder, not a lock file: move it away, then open the session again` });
  const ro = SessionStore.open(file, { readOnly: true }); // reading needs no lock
  expect(ro.listRuns().length).toBe(1);
  ro.close();
  const { clearStaleJobLocks } = await import('../../main/jobs/run-lock');
  const jobs = path.dirname(file);
  fs.mkdirSync(path.join(jobs, 'x.job.json.lock'));
  fs.utimesSync(path.join(jobs, 'x.job.json.lock'), new Date(0), new Date(0));
  expect(clearStaleJobLocks(jobs)).toEqual([]);
  expect(fs.statSync(path.join(jobs, 'x.job.json.lock')).isDirectory()).toBe(true);
});

test('a lock whose PID now belongs to another process than the one that took it (the PID reused: a container) is its dead owner\'s', () => {
  if (!fs.existsSync('/proc/self/stat')) return; // which process a PID is comes from /proc (Linux)
  const file = fresh();
  // a lock as this app writes it records which process took it: its boot and start tick
  const s0 = SessionStore.open(file);
  const mine = JSON.parse(fs.readFileSync(lockFileOf(file), 'utf8')) as { start?: string };
  expect(mine.start).toMatch(/^[0-9a-f-]{36}:\d+$/);
  s0.close();
  const other = spawn('sleep', ['30']);
  children.push(other);
  // the lock's writer started at another tick than the live process that has its PID now
  const since = new Date().toISOString();
  fs.writeFileSync(lockFileOf(file), JSON.stringify({ pid: other.pid, host: os.hostname(), since, start: `${mine.start!.split(':')[0]}:1` }));
  const s = SessionStore.open(file);
  expect(s.notice).toBe(`The lock ${lockFileOf(file)} was left by PID ${other.pid} on ${os.hostname()} since ${since}, which is no longer running (killed or crashed); it is cleared, and runs that process left unfinished are marked interrupted (resumable).`);
  s.close();
});
