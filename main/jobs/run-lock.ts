/**
 * Which runs are being written in this process (issue 19). Across processes the session's lock file keeps a second
 * writer out (main/store/lock.ts), but inside one process that lock is shared (the engine and its jobs hold the same
 * file), so two jobs — two engines on one session, or two resumes of one run arriving together — could both write the
 * same run. A job holds its run here from before its first await until it ends; the second gets one clear BUSY error.
 * A run kept in a job-state folder is also held across processes (jobFileLock).
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';
import { acquireSessionLock, releaseSessionLock } from '../store/lock';

const inUse = new Map<string, { job: string; since: string }>();

/**
 * Takes run `runId` of the store at `where` (a session file or a job-state folder) for job `job`; returns the release.
 * Throws BUSY "run … is in use by job …" while another job of this process holds it.
 */
export function acquireRun(where: string, runId: string, job: string): () => void {
  const key = `${path.resolve(where)}\0${runId}`;
  const o = inUse.get(key);
  if (o) throw new LabError('BUSY', `run ${runId} is in use by job ${o.job} (writing it in ${path.resolve(where)} since ${o.since}); wait for that job to finish or cancel it, then resume`, { job: o.job });
  const file = jobFileLock(where, runId);
  const mine = { job, since: new Date().toISOString() };
  inUse.set(key, mine);
  return () => {
    if (inUse.get(key) !== mine) return;
    inUse.delete(key);
    if (file) releaseSessionLock(file);
  };
}

/**
 * Across processes: a run saved in a job-state folder (no session: the CLI's default, `--state-dir`) is held through
 * `<id>.job.json.lock` (main/store/lock.ts: PID and host, a dead owner's lock taken over), so a second process that
 * resumes it while the first computes it gets BUSY "in use by PID …". A run in a session file is held by the
 * session's own lock. Returns the locked path, or undefined for a session file.
 */
function jobFileLock(where: string, runId: string): string | undefined {
  let isFile = false;
  try {
    isFile = fs.statSync(where).isFile();
  } catch {
    /* a folder not made yet */
  }
  if (isFile) return undefined;
  const file = path.join(where, `${runId}.job.json`);
  try {
    fs.mkdirSync(where, { recursive: true });
    acquireSessionLock(file);
  } catch (e) {
    const d = (e as LabError).details as { pid?: number; host?: string } | undefined;
    if (e instanceof LabError && e.code === 'BUSY' && d?.pid !== undefined)
      throw new LabError('BUSY', `run ${runId} is in use by PID ${d.pid} on ${d.host} (another Sparsity Lab process is computing it, saving to ${where}); wait for it to finish or stop it, then resume`, d);
    throw e;
  }
  return file;
}
