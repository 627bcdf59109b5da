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
import { jobFile, jobFolderError } from './persistence';
import { acquireSessionLock, deadOwner, releaseSessionLock, removeStaleLock, staleLockWords } from '../store/lock';
import { readOwnJson } from '../base/regular-file';

const inUse = new Map<string, { job: string; since: string }>();

/** A run held by a job: its release, and the stale locks of dead processes cleared on the way, in words. */
export interface HeldRun {
  release(): void;
  notices: string[];
}

/**
 * Takes run `runId` of the store at `where` (a session file or a job-state folder) for job `job`. Throws BUSY "run … is
 * in use by job …" while another job of this process holds it. In a job-state folder, locks that dead processes left
 * there (a job killed with kill -9, a crash) are cleared first, each named in `notices` (clearStaleJobLocks).
 */
export function acquireRun(where: string, runId: string, job: string): HeldRun {
  const key = `${path.resolve(where)}\0${runId}`;
  const o = inUse.get(key);
  if (o) throw new LabError('BUSY', `run ${runId} is in use by job ${o.job} (writing it in ${path.resolve(where)} since ${o.since}); wait for that job to finish or cancel it, then resume`, { job: o.job });
  const { file, notices } = jobFileLock(where, runId);
  const mine = { job, since: new Date().toISOString() };
  inUse.set(key, mine);
  return {
    notices,
    release: () => {
      if (inUse.get(key) !== mine) return;
      inUse.delete(key);
      if (file) releaseSessionLock(file);
    },
  };
}

/** a lock file that cannot be read is left alone this long (its process may be writing it right now) */
const UNREADABLE_LOCK_MS = 60_000;

/**
 * Clears the locks in job-state folder `dir` whose owner is gone (main/store/lock.ts deadOwner: a process of this host
 * that no longer runs), which a job killed mid-run leaves behind, and says what each was: "<lock>: a stale lock left by
 * PID … since …, which is no longer running (killed or crashed); cleared", and whether its run can be resumed (its job
 * file is still 'running', with its saved steps). Locks of live processes and of other hosts are kept. `resuming`: the
 * run being resumed now (its own lock is said to be taken over).
 */
export function clearStaleJobLocks(dir: string, resuming?: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.job.json.lock'));
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const owner = deadOwner(file);
    if (owner === undefined) continue;
    if (owner === null) {
      let age = 0;
      try {
        age = Date.now() - fs.statSync(file).mtimeMs;
      } catch {
        continue;
      }
      if (age < UNREADABLE_LOCK_MS) continue;
    }
    if (!removeStaleLock(file, owner)) continue;
    const id = name.slice(0, -'.job.json.lock'.length);
    out.push(`${file}: a stale lock ${staleLockWords(owner)}; cleared. ${id === resuming ? `Run ${id} resumes from its last saved step.` : runLeft(dir, id)}`);
  }
  return out;
}

/** what a cleared lock's run is now, from its job file (a FIFO in its place is never waited on: readOwnJson) */
function runLeft(dir: string, id: string): string {
  const f = path.join(dir, `${id}.job.json`);
  if (!fs.existsSync(f)) return `No job file ${id}.job.json beside it: nothing to resume.`;
  const j = readOwnJson(f, 1024 * 2 ** 20) as { status?: unknown; steps?: unknown } | undefined;
  if (!j || typeof j !== 'object') return `Its job file ${id}.job.json cannot be read.`;
  return j.status === 'running' ? `Its run ${id} stopped after ${typeof j.steps === 'number' ? j.steps : '?'} saved steps and can be resumed (run id ${id}).` : `Its run ${id} is ${String(j.status)}.`;
}

/**
 * Across processes: a run saved in a job-state folder (no session: the CLI's default, `--state-dir`) is held through
 * `<id>.job.json.lock` (main/store/lock.ts: PID and host, a dead owner's lock taken over), so a second process that
 * resumes it while the first computes it gets BUSY "in use by PID …". A run in a session file is held by the
 * session's own lock. Returns the locked path (none for a session file) and the stale locks cleared in the folder.
 */
function jobFileLock(where: string, runId: string): { file?: string; notices: string[] } {
  let isFile = false;
  try {
    isFile = fs.statSync(where).isFile();
  } catch {
    /* a folder not made yet */
  }
  if (isFile) return { notices: [] };
  const file = jobFile(where, runId);
  const notices = clearStaleJobLocks(where, runId);
  try {
    fs.mkdirSync(where, { recursive: true });
  } catch (e) {
    throw jobFolderError(where, e);
  }
  try {
    const replaced = acquireSessionLock(file);
    // (cleared above, unless its owner died just now)
    if (replaced !== undefined) notices.push(`${file}.lock: a stale lock ${staleLockWords(replaced)}; taken over. Run ${runId} resumes from its last saved step.`);
  } catch (e) {
    const d = (e as LabError).details as { pid?: number; host?: string } | undefined;
    if (e instanceof LabError && e.code === 'BUSY' && d?.pid !== undefined)
      throw new LabError('BUSY', `run ${runId} is in use by PID ${d.pid} on ${d.host} (another Sparsity Lab process is computing it, saving to ${where}); wait for it to finish or stop it, then resume`, d);
    throw e;
  }
  return { file, notices };
}
