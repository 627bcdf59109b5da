/**
 * Cross-process ownership of a session file (issue 19): a writer holds `<session>.lock`, a small JSON file
 * {pid, host, since} created with O_EXCL. A second process that opens the session for writing gets
 * "in use by PID … on host … since …" (code BUSY) instead of both writing one run; a lock whose owner is
 * dead (same host, no such PID) is taken over, so `kill -9` never leaves a session unusable. Within one
 * process the lock is counted (the engine and a job may hold the same file). Reading never needs the lock.
 *
 * Also: SQLite errors of a writing session (disk full, read-only file, I/O) become one clear message.
 */
import fs from 'node:fs';
import os from 'node:os';
import { LabError } from '../api/errors';
import { fileKind, readOwnJson } from '../base/regular-file';

interface LockInfo {
  pid: number;
  host: string;
  since: string;
  /** which process that PID was (processStart), where the system says */
  start?: string;
}

const held = new Map<string, number>(); // lock file -> count in this process

export const lockFileOf = (session: string) => `${session}.lock`;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Which process `pid` is, for as long as it runs: this boot's id and its start in clock ticks after boot (/proc, Linux;
 * undefined elsewhere). Neither moves with the wall clock, and a process that took over the PID has another.
 */
function processStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ticks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]; // field 22: starttime
    const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return /^\d+$/.test(ticks ?? '') && boot ? `${boot}:${ticks}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the process that wrote lock `o` has ended: on this host, no process has its PID, or the one that has it now
 * is another process than the one that wrote the lock (its start, recorded in the lock, differs: the PID was reused,
 * as in a container, where the CLI gets the same small PID every run). A lock of another host cannot be checked from
 * here: never gone.
 */
function ownerGone(o: LockInfo): boolean {
  if (o.host !== os.hostname()) return false;
  if (!pidAlive(o.pid)) return true;
  if (!o.start) return false; // written before the start was recorded: the PID is all there is to go by
  const now = processStart(o.pid);
  return now !== undefined && now !== o.start;
}

function readLock(file: string): LockInfo | undefined {
  try {
    const v = (readOwnJson(file, 64 * 1024) ?? {}) as Partial<LockInfo>; // a FIFO in its place is no owner, never waited on
    if (typeof v.pid === 'number' && Number.isInteger(v.pid) && v.pid > 0 && typeof v.host === 'string' && typeof v.since === 'string') return v as LockInfo;
  } catch {
    /* unreadable or half-written: treated as no owner below */
  }
  return undefined;
}

/**
 * The owner of lock file `file` when it is gone: a process of this host that no longer runs (kill -9, a crash, a power
 * cut), or this process's PID in a lock this process does not hold (a dead process's PID reused, as in a container).
 * Returns the owner as recorded, null for a lock that cannot be read, undefined for no lock or one whose owner may
 * live (a live process, this process, another host: that host's PIDs cannot be checked from here).
 */
export function deadOwner(file: string): LockInfo | null | undefined {
  if (!isPlainFile(file)) return undefined; // none, or a folder / link of that name: not a lock this app made
  const o = readLock(file);
  if (!o) return null;
  if (o.pid === process.pid) return held.has(file) ? undefined : o;
  return ownerGone(o) ? o : undefined;
}

function isPlainFile(file: string): boolean {
  try {
    return fs.lstatSync(file).isFile();
  } catch {
    return false;
  }
}

/** A lock its dead owner left, in words: "left by PID … on … since …, which is no longer running (killed or crashed)". */
export function staleLockWords(o: LockInfo | null): string {
  return o ? `left by PID ${o.pid} on ${o.host} since ${o.since}, which is no longer running (killed or crashed)` : 'that cannot be read (half-written when its process was killed)';
}

/**
 * Removes the lock file `file` if it is still the stale one read (deadOwner gave `owner`); true when removed. It is
 * renamed aside first and its content checked there, so a live lock another process made at that path meanwhile (it
 * took the dead owner's place) is put back, not deleted.
 */
export function removeStaleLock(file: string, owner: LockInfo | null): boolean {
  const aside = `${file}.stale-${process.pid}-${Date.now()}`;
  try {
    fs.renameSync(file, aside);
  } catch {
    return false; // gone already (another process cleared it)
  }
  const now = readLock(aside);
  if (owner ? now?.pid === owner.pid && now.since === owner.since && now.host === owner.host : !now) {
    fs.rmSync(aside, { force: true });
    return true;
  }
  try {
    fs.linkSync(aside, file); // a live lock: back in place (unless yet another was made there meanwhile)
  } catch {
    /* another lock is in place: this one's owner has lost it, as its own takeover would have done */
  }
  fs.rmSync(aside, { force: true });
  return false;
}

/** Who holds the session now (a live owner other than this process), or undefined. */
export function lockOwner(session: string): LockInfo | undefined {
  const info = readLock(lockFileOf(session));
  if (!info || info.pid === process.pid) return undefined;
  if (ownerGone(info)) return undefined;
  return info;
}

/** Whether any live process (this one included) writes the session now: if none, its 'running' runs are dead. */
export function hasLiveWriter(session: string): boolean {
  return held.has(lockFileOf(session)) || lockOwner(session) !== undefined;
}

export function busyMessage(session: string, o: LockInfo): string {
  return `${session}: in use by PID ${o.pid} on ${o.host} since ${o.since} (another Sparsity Lab window or CLI writes it). Close it there, or open this session read-only.`;
}

/**
 * Takes the session's lock for this process; throws BUSY when a live process holds it. Returns the owner of the stale
 * lock it took over (deadOwner: null when that lock could not be read), undefined when there was none.
 */
export function acquireSessionLock(session: string): LockInfo | null | undefined {
  const file = lockFileOf(session);
  const n = held.get(file);
  if (n) {
    held.set(file, n + 1);
    return undefined;
  }
  const start = processStart(process.pid);
  const mine: LockInfo = { pid: process.pid, host: os.hostname(), since: new Date().toISOString(), ...(start ? { start } : {}) };
  let replaced: LockInfo | null | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify(mine), { flag: 'wx' });
      held.set(file, 1);
      return replaced;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EROFS' || code === 'EPERM') return undefined; // a read-only folder: the open itself reports it
      if (code !== 'EEXIST') throw new LabError('SESSION_ERROR', `${session}: cannot create the lock file ${file} (${(e as Error).message})`);
    }
    // a folder or a link where the lock goes is nothing this app made: said, not taken for a lock changing hands
    let st: fs.Stats;
    try {
      st = fs.lstatSync(file);
    } catch {
      continue; // released meanwhile: try again
    }
    if (!st.isFile()) throw new LabError('SESSION_ERROR', `${session}: ${file} is ${st.isSymbolicLink() ? 'a link' : fileKind(st)}, not a lock file: move it away, then open the session again`);
    const owner = readLock(file);
    if (owner && owner.pid !== process.pid && !ownerGone(owner)) throw new LabError('BUSY', busyMessage(session, owner), { pid: owner.pid, host: owner.host });
    if (owner && owner.host !== os.hostname()) throw new LabError('BUSY', busyMessage(session, owner), { pid: owner.pid, host: owner.host });
    // a dead owner (or an unreadable lock): recover it
    replaced = owner ?? null;
    try {
      fs.unlinkSync(file);
    } catch {
      /* someone else recovered it first: retry */
    }
  }
  throw new LabError('BUSY', `${session}: the lock file ${file} keeps changing (another process is opening this session)`);
}

export function releaseSessionLock(session: string): void {
  const file = lockFileOf(session);
  const n = held.get(file);
  if (!n) return;
  if (n > 1) {
    held.set(file, n - 1);
    return;
  }
  held.delete(file);
  try {
    if (readLock(file)?.pid === process.pid) fs.unlinkSync(file);
  } catch {
    /* already gone */
  }
}

/** An SQLite failure while writing a session as a clear, honest message (no stack trace). */
export function sessionWriteError(session: string, e: unknown, doing: string): LabError {
  if (e instanceof LabError) return e;
  const code = (e as { code?: string })?.code ?? '';
  const msg = (e as Error)?.message ?? String(e);
  if (code.startsWith('SQLITE_FULL') || /disk is full|database or disk is full/i.test(msg))
    return new LabError('SESSION_ERROR', `${session}: the disk is full while ${doing}. Nothing saved before this point is lost (the file is intact); free some space and open the session again to continue.`);
  if (code.startsWith('SQLITE_READONLY')) return new LabError('READ_ONLY', `${session}: the file or its folder is read-only on disk while ${doing}; the file is unchanged.`);
  if (code.startsWith('SQLITE_IOERR')) return new LabError('SESSION_ERROR', `${session}: the disk reported an I/O error while ${doing} (${code}); the last completed step is kept.`);
  if (code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB')) return new LabError('SESSION_ERROR', `${session}: the file is damaged (${code}) — found while ${doing}.`);
  return new LabError('SESSION_ERROR', `${session}: ${doing} failed (${msg})`);
}
