/**
 * Opening a session file safely: it must be SQLite (magic header), pass `PRAGMA quick_check`, and have a
 * schema version this app knows. Older files are migrated in one transaction (a copy is kept beside them);
 * newer ones open read-only with a notice. WAL and foreign keys are on.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { LabError } from '../api/errors';
import { fileKind } from '../base/regular-file';
import { MIGRATIONS, SCHEMA_VERSION } from './schema';
import { hasLiveWriter, sessionWriteError } from './lock';

export interface OpenedDb {
  db: Database.Database;
  readOnly: boolean;
  notice?: string;
  migratedFrom?: number;
  /** a read-only session read from a temporary copy (readOnlyCopy): removes it, after db is closed */
  dropCopy?: () => void;
}

const MAGIC = 'SQLite format 3\0';

function fail(file: string, problem: string): never {
  throw new LabError('SESSION_ERROR', `${file}: ${problem}`);
}

/**
 * A new, empty session at `file`. A folder that does not take it (read-only, disk full) is one clear error naming it,
 * and a half-made file is removed (it held nothing yet), so the same name can be used again.
 */
export function createDb(file: string): Database.Database {
  if (fs.existsSync(file)) fail(file, 'a file with this name exists already (choose another name, or open it)');
  let db: Database.Database;
  try {
    db = new Database(file);
  } catch (e) {
    const dir = path.dirname(file);
    let writable = true;
    try {
      fs.accessSync(dir, fs.constants.W_OK);
    } catch {
      writable = false;
    }
    fail(file, !writable || (e as { code?: string }).code === 'SQLITE_CANTOPEN' ? `cannot be created: the folder ${dir} does not take new files (read-only, or no permission to write there). Choose a writable folder.` : `cannot be created (${(e as Error).message})`);
  }
  try {
    db.pragma('journal_mode = WAL');
    db.transaction(() => {
      for (const m of MIGRATIONS) m(db);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('created_at', new Date().toISOString());
    })();
    db.pragma('foreign_keys = ON');
  } catch (e) {
    try {
      db.close();
    } catch {
      /* closing a failed handle can fail too */
    }
    for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) fs.rmSync(f, { force: true });
    throw sessionWriteError(file, e, 'creating the session');
  }
  return db;
}

function writableOnDisk(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.W_OK);
    fs.accessSync(path.dirname(file), fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * After a reader closes: a read-only SQLite connection to a WAL file creates its -wal and -shm beside it and, not being
 * allowed to write, cannot remove them when it is the last one out. When this reader found no -wal (`walBefore` false)
 * and the one left is empty, a writable connection that only reads is opened and closed: as the last connection SQLite
 * itself checkpoints nothing and removes both, under its own locks (a writer that came meanwhile keeps them). A session
 * file read-only on disk in a writable folder cannot take that connection: the empty -wal and the -shm are removed
 * (test/integration/readonly-file.test.ts). The session file's bytes are not touched (issue 19: a read-only open never
 * writes).
 */
export function tidyAfterReader(file: string, walBefore: boolean): void {
  try {
    const wal = `${file}-wal`;
    if (walBefore || !fs.existsSync(wal) || fs.statSync(wal).size !== 0) return;
    if (!writableOnDisk(file)) {
      // the file is read-only on disk, its folder is not: no connection of ours may write it, so no SQLite connection
      // can tidy up; the -wal this reader made is empty (nothing to lose) and the caller found no live writer, so both
      // files are removed (SQLite makes them again for the next reader)
      fs.accessSync(path.dirname(file), fs.constants.W_OK);
      for (const f of [wal, `${file}-shm`]) fs.rmSync(f, { force: true });
      return;
    }
    const db = new Database(file, { fileMustExist: true });
    try {
      db.prepare('SELECT count(*) FROM sqlite_master').get();
    } finally {
      db.close();
    }
  } catch {
    /* only tidying: the session itself is unaffected */
  }
}

/**
 * The checks before SQLite or the session lock touch `file`: it exists, is a regular file, can be read, and starts
 * like an SQLite database. A folder, FIFO, device or a special file whose reads fail (/proc/self/mem: EIO) is named
 * with its problem, never a raw errno (a FIFO is never opened: that would wait for a writer).
 */
export function checkSessionFile(file: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new LabError('NOT_FOUND', `${file}: no such session file`);
    fail(file, `cannot be read (${(e as Error).message})`);
  }
  if (!st.isFile()) fail(file, `is ${fileKind(st)}, not a session file`);
  const head = Buffer.alloc(16);
  let n = 0;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      n = fs.readSync(fd, head, 0, 16, 0);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    fail(file, code === 'EIO' || code === 'EINVAL' ? `cannot be read as a file (${code}: a special or device file, not a session)` : `cannot be read (${(e as Error).message})`);
  }
  if (n < 16 || head.toString('latin1') !== MAGIC) fail(file, 'is not a Sparsity Lab session (not an SQLite database)');
  // SQLite's files beside it: a folder or special file with such a name made the open fail as "damaged or not a session
  // (unable to open database file)", about a session that is whole
  for (const [suffix, what] of [
    ['-wal', 'its write-ahead log'],
    ['-shm', 'its shared-memory index'],
    ['-journal', 'its rollback journal'],
  ] as const) {
    const side = fs.statSync(`${file}${suffix}`, { throwIfNoEntry: false });
    if (side && !side.isFile()) fail(file, `${file}${suffix} is ${fileKind(side)}, not ${what} (SQLite keeps it beside the session): move it away, then open the session again`);
  }
}

/**
 * A session in a folder this process cannot write (a read-only mount, a colleague's folder) cannot be read in place:
 * SQLite's WAL mode needs its -shm index beside the file, and a read-only connection cannot create it there
 * (SQLITE_READONLY_DIRECTORY). It is read from a copy in a temporary folder instead (the file and its -wal, if any),
 * opened read-only; the original is never touched. Returns the copy's path and its removal.
 */
function readOnlyCopy(file: string): { copy: string; drop: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparsity-lab-readonly-'));
  const drop = () => fs.rmSync(dir, { recursive: true, force: true });
  const copy = path.join(dir, path.basename(file));
  try {
    fs.copyFileSync(file, copy);
    if (fs.existsSync(`${file}-wal`)) fs.copyFileSync(`${file}-wal`, `${copy}-wal`);
  } catch (e) {
    drop();
    const code = (e as NodeJS.ErrnoException).code;
    fail(file, `is in a folder this app cannot write, and a copy to read it from cannot be made in ${os.tmpdir()} (${code === 'ENOSPC' ? 'disk full' : (e as Error).message})`);
  }
  return { copy, drop };
}

/**
 * quick_check's answer in one line: its rows hold lines of their own ("*** in database main ***", then one per
 * problem, hundreds for a badly damaged file), so the first three problems and how many more.
 */
export function integrityWords(rows: string[]): string {
  const lines = rows.flatMap((r) => r.split('\n')).map((l) => l.trim()).filter((l) => l && !/^\*\*\* in database \w+ \*\*\*$/.test(l));
  return lines.slice(0, 3).join('; ') + (lines.length > 3 ? `; and ${lines.length - 3} more` : '');
}

/**
 * An open that failed (a damaged file, not a session) leaves nothing beside the file: the -wal and -shm its connection
 * made are removed when the -wal is empty, was not there before and no live writer holds the session.
 */
function tidyFailedOpen(file: string, walBefore: boolean, shmBefore: boolean): void {
  try {
    const wal = `${file}-wal`;
    if (walBefore || !fs.existsSync(wal) || fs.statSync(wal).size !== 0 || hasLiveWriter(file)) return;
    fs.rmSync(wal, { force: true });
    if (!shmBefore) fs.rmSync(`${file}-shm`, { force: true });
  } catch {
    /* only tidying */
  }
}

export function openDb(file: string, opts: { readOnly?: boolean } = {}): OpenedDb {
  checkSessionFile(file);
  const walBefore = fs.existsSync(`${file}-wal`);
  const shmBefore = fs.existsSync(`${file}-shm`);
  // a file (or folder: WAL needs its -wal/-shm files beside it) that is read-only on disk opens read-only with that
  // reason, not as "damaged" (issue 19: locked, read-only and damaged files get three different messages)
  let diskNotice: string | undefined;
  if (!opts.readOnly && !writableOnDisk(file)) {
    opts = { ...opts, readOnly: true };
    diskNotice = `This session file (or its folder) is read-only on disk: it is open read-only. Copy it somewhere writable, or change its permissions, to record into it.`;
  }
  let db: Database.Database;
  /** the file SQLite reads: the session, or its temporary copy (readOnlyCopy) */
  let src = file;
  let dropCopy: (() => void) | undefined;
  try {
    db = new Database(file, { readonly: !!opts.readOnly, fileMustExist: true });
  } catch (e) {
    fail(file, `cannot be opened as SQLite (${(e as Error).message})`);
  }
  try {
    let check: { quick_check: string }[];
    try {
      check = db.pragma('quick_check', { simple: false }) as { quick_check: string }[];
    } catch (e) {
      if (!opts.readOnly || (e as { code?: string }).code !== 'SQLITE_READONLY_DIRECTORY') throw e;
      db.close();
      const c = readOnlyCopy(file);
      src = c.copy;
      dropCopy = c.drop;
      db = new Database(src, { readonly: true, fileMustExist: true });
      check = db.pragma('quick_check', { simple: false }) as { quick_check: string }[];
      diskNotice = `This session's folder (${path.dirname(file)}) is read-only for this app: the session is shown from a temporary copy and nothing can be recorded into it. Copy it somewhere writable to record into it.`;
    }
    if (check.length !== 1 || check[0].quick_check !== 'ok') fail(file, `is damaged (integrity check: ${integrityWords(check.map((c) => c.quick_check))})`);
    const version = db.pragma('user_version', { simple: true }) as number;
    const hasMeta = version > 0 && !!db.prepare("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").get();
    if (version === 0 || !hasMeta) fail(file, 'is an SQLite database but not a Sparsity Lab session');
    if (version > SCHEMA_VERSION) {
      db.close();
      db = new Database(src, { readonly: true, fileMustExist: true });
      return { db, readOnly: true, notice: `This session was written by a newer Sparsity Lab (schema v${version}; this app knows v${SCHEMA_VERSION}). It is open read-only: update the app to change it.`, ...(dropCopy ? { dropCopy } : {}) };
    }
    if (opts.readOnly) return { db, readOnly: true, notice: diskNotice, ...(dropCopy ? { dropCopy } : {}) };
    db.pragma('journal_mode = WAL');
    if (version < SCHEMA_VERSION) {
      fs.copyFileSync(file, `${file}.v${version}.bak`);
      // foreign keys off while tables are rebuilt (SQLite's ALTER TABLE procedure; the pragma is a no-op inside
      // a transaction); each migration that rebuilds checks the references itself before the commit
      db.pragma('foreign_keys = OFF');
      try {
        db.transaction(() => {
          for (let v = version; v < SCHEMA_VERSION; v++) MIGRATIONS[v](db);
          db.pragma(`user_version = ${SCHEMA_VERSION}`);
        })();
      } catch (e) {
        fail(file, `cannot be upgraded from schema v${version} to v${SCHEMA_VERSION} (${(e as Error).message}); the file is unchanged`);
      }
      db.pragma('foreign_keys = ON');
      return { db, readOnly: false, migratedFrom: version, notice: `Session upgraded from schema v${version} to v${SCHEMA_VERSION} (the original is kept as ${file}.v${version}.bak).` };
    }
    db.pragma('foreign_keys = ON');
    return { db, readOnly: false };
  } catch (e) {
    try {
      db.close();
    } catch {
      /* closing a damaged handle can fail too */
    }
    dropCopy?.();
    if (!dropCopy) tidyFailedOpen(file, walBefore, shmBefore);
    if (e instanceof LabError) throw e;
    fail(file, `is damaged or not a session (${(e as Error).message})`);
  }
}
