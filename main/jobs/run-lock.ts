/**
 * Which runs are being written in this process (issue 19). Across processes the session's lock file keeps a second
 * writer out (main/store/lock.ts), but inside one process that lock is shared (the engine and its jobs hold the same
 * file), so two jobs — two engines on one session, or two resumes of one run arriving together — could both write the
 * same run. A job holds its run here from before its first await until it ends; the second gets one clear BUSY error.
 */
import path from 'node:path';
import { LabError } from '../api/errors';

const inUse = new Map<string, { job: string; since: string }>();

/**
 * Takes run `runId` of the store at `where` (a session file or a job-state folder) for job `job`; returns the release.
 * Throws BUSY "run … is in use by job …" while another job of this process holds it.
 */
export function acquireRun(where: string, runId: string, job: string): () => void {
  const key = `${path.resolve(where)}\0${runId}`;
  const o = inUse.get(key);
  if (o) throw new LabError('BUSY', `run ${runId} is in use by job ${o.job} (writing it in ${path.resolve(where)} since ${o.since}); wait for that job to finish or cancel it, then resume`, { job: o.job });
  const mine = { job, since: new Date().toISOString() };
  inUse.set(key, mine);
  return () => {
    if (inUse.get(key) === mine) inUse.delete(key);
  };
}
