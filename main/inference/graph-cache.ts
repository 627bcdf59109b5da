/**
 * Built graphs on disk (issue 15), so that a second open is fast. An entry holds graph protobufs and, only where a
 * conversion is unavoidable (inference/graph-store.ts), converted weights: never a copy of weights a graph can point
 * at in the checkpoint itself.
 *
 * Layout under `dir`:
 *   <key>/entry.json (+ the entry's files)   a complete entry: built in `.staging-<key>-<pid>/`, then renamed in place
 *   leases/<key>.<pid>                        the entry is in use by process <pid>
 * An entry with a lease of a live process is never evicted or removed (that was the bug where prune deleted the graph
 * it had just written: 'File doesn't exist'); a lease of a process that no longer runs is stale and dropped. The size
 * limit evicts the least recently used entries without a live lease; an entry that cannot fit beside the entries in
 * use is refused before anything is written, with a message naming the sizes and the setting.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { LabError } from '../api/errors';
import { writeProblem } from '../base/atomic-write';

/** The environment variable that sets the limit (bytes, or a number with K/M/G/T). */
export const CACHE_LIMIT_ENV = 'SPARSITY_LAB_GRAPH_CACHE_LIMIT';
const DEFAULT_LIMIT = 32 * 1024 ** 3;

/** `12G`, `500M`, `1.5T` or plain bytes → bytes; undefined when not a size. */
export function parseSize(v: string | undefined): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(v ?? '');
  if (!m) return undefined;
  return Math.round(Number(m[1]) * 1024 ** ' kmgt'.indexOf((m[2] || ' ').toLowerCase()));
}

export function formatBytes(n: number): string {
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** The configured limit: the env variable when set and valid, else 32 GiB. */
export function defaultCacheLimit(): number {
  return parseSize(process.env[CACHE_LIMIT_ENV]) ?? DEFAULT_LIMIT;
}

export interface CacheEntryInfo {
  key: string;
  dir: string;
  bytes: number;
  /** ms since epoch of the last open */
  lastUsed: number;
  /** pids of live processes holding it */
  users: number[];
}

/** An entry held open: its folder stays until release(). */
export interface CacheLease {
  key: string;
  dir: string;
  release(): void;
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const f of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, f.name);
    n += f.isDirectory() ? dirBytes(p) : fs.statSync(p).size;
  }
  return n;
}

/** leases this process holds, per lease file: the count of open uses */
const held = new Map<string, number>();
/** openAsync builds in progress in this process, per staging folder */
const building = new Map<string, Promise<unknown>>();

export class GraphCache {
  constructor(
    readonly dir: string,
    readonly limitBytes = defaultCacheLimit(),
  ) {}

  /** A key for anything JSON can hold (content hash, options, paths). */
  static key(parts: unknown): string {
    return crypto.createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
  }

  private leaseFile(key: string, pid = process.pid): string {
    return path.join(this.dir, 'leases', `${key}.${pid}`);
  }

  private lease(key: string): CacheLease {
    const file = this.leaseFile(key);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const n = held.get(file) ?? 0;
    if (n === 0) fs.writeFileSync(file, `${process.pid}\n`);
    held.set(file, n + 1);
    let done = false;
    return {
      key,
      dir: path.join(this.dir, key),
      release: () => {
        if (done) return;
        done = true;
        const left = (held.get(file) ?? 1) - 1;
        if (left > 0) held.set(file, left);
        else {
          held.delete(file);
          fs.rmSync(file, { force: true });
        }
      },
    };
  }

  /** pids of live processes holding `key`; stale lease files (dead processes) are removed on the way */
  users(key: string): number[] {
    const dir = path.join(this.dir, 'leases');
    if (!fs.existsSync(dir)) return [];
    const out: number[] = [];
    for (const f of fs.readdirSync(dir)) {
      if (!f.startsWith(`${key}.`)) continue;
      const pid = Number(f.slice(key.length + 1));
      if (!Number.isInteger(pid) || pid <= 0) continue;
      if (alive(pid)) out.push(pid);
      else fs.rmSync(path.join(dir, f), { force: true });
    }
    return out;
  }

  entries(): CacheEntryInfo[] {
    if (!fs.existsSync(this.dir)) return [];
    const out: CacheEntryInfo[] = [];
    for (const f of fs.readdirSync(this.dir, { withFileTypes: true })) {
      if (!f.isDirectory() || !/^[0-9a-f]{32}$/.test(f.name)) continue;
      const dir = path.join(this.dir, f.name);
      const meta = path.join(dir, 'entry.json');
      if (!fs.existsSync(meta)) continue;
      out.push({ key: f.name, dir, bytes: dirBytes(dir), lastUsed: fs.statSync(meta).mtimeMs, users: this.users(f.name) });
    }
    return out;
  }

  /** whether entry `key` is complete in the cache now (another process may still remove it before it is opened) */
  has(key: string): boolean {
    return fs.existsSync(path.join(this.dir, key, 'entry.json'));
  }

  /**
   * Entry `key`, complete and held by this process until release(). When missing, `build(dir)` writes its files into
   * an empty staging folder, which then becomes the entry; `expectBytes` (what build will write) is checked against
   * the limit first, so an entry that cannot fit is refused before anything is written.
   */
  open(key: string, expectBytes: number, build: (dir: string) => void): CacheLease {
    const s = this.begin(key, expectBytes);
    if (!s.staging) return s.lease;
    try {
      build(s.staging);
      return this.complete(s.lease, s.staging);
    } catch (e) {
      s.lease.release();
      throw this.writeError(e);
    } finally {
      fs.rmSync(s.staging, { recursive: true, force: true });
    }
  }

  /**
   * open() with an asynchronous `build` (one that runs in a worker thread: graph-off-thread.ts). Whatever it wrote is
   * removed when it fails or is cancelled, after its promise settled; an open of the same entry by this process
   * meanwhile waits for it (they would share the staging folder).
   */
  async openAsync(key: string, expectBytes: number, build: (dir: string) => Promise<void>): Promise<CacheLease> {
    const staging = this.stagingDir(key);
    for (let b = building.get(staging); b; b = building.get(staging)) await b.catch(() => undefined);
    const s = this.begin(key, expectBytes);
    if (!s.staging) return s.lease;
    const work = (async () => {
      try {
        await build(staging);
        return this.complete(s.lease, staging);
      } catch (e) {
        s.lease.release();
        throw this.writeError(e);
      } finally {
        fs.rmSync(staging, { recursive: true, force: true });
      }
    })();
    building.set(staging, work);
    try {
      return await work;
    } finally {
      building.delete(staging);
    }
  }

  private stagingDir(key: string): string {
    return path.join(this.dir, `.staging-${key}-${process.pid}`);
  }

  /** the lease of entry `key`, and an empty staging folder to build it in when it is missing (room made for it) */
  private begin(key: string, expectBytes: number): { lease: CacheLease; staging?: string } {
    const lease = this.lease(key);
    try {
      const meta = path.join(lease.dir, 'entry.json');
      if (fs.existsSync(meta)) {
        const now = new Date();
        fs.utimesSync(meta, now, now);
        return { lease };
      }
      this.ensureRoom(key, expectBytes);
      const staging = this.stagingDir(key);
      fs.rmSync(staging, { recursive: true, force: true });
      fs.mkdirSync(staging, { recursive: true });
      return { lease, staging };
    } catch (e) {
      lease.release();
      throw e;
    }
  }

  /**
   * A build that could not write its files (disk full, no permission, a read-only file system) as one clear error naming
   * the cache folder; what it wrote is removed (open, openAsync). Other errors pass as they are.
   */
  private writeError(e: unknown): unknown {
    const code = (e as NodeJS.ErrnoException)?.code;
    if (!['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS'].includes(code ?? '')) return e;
    return new LabError('UNSUPPORTED', `the graph cache (${this.dir}) cannot take this model's graphs: ${writeProblem(e)} (${(e as Error).message}). Free some space there or make it writable, then run again.`);
  }

  /** the built staging folder becomes the entry (or another process's copy of it, finished first, is used) */
  private complete(lease: CacheLease, staging: string): CacheLease {
    const meta = path.join(lease.dir, 'entry.json');
    fs.writeFileSync(path.join(staging, 'entry.json'), JSON.stringify({ created: new Date().toISOString(), pid: process.pid }));
    try {
      fs.renameSync(staging, lease.dir);
    } catch (e) {
      // another process finished the same entry first: use theirs
      if (!fs.existsSync(meta)) throw e;
    }
    this.prune();
    return lease;
  }

  /** Refuses (LabError) when `bytes` more cannot fit beside the entries in use; evicts unused entries to make room. */
  ensureRoom(key: string, bytes: number): void {
    const list = this.entries().filter((e) => e.key !== key);
    const inUse = list.filter((e) => e.users.length).reduce((a, e) => a + e.bytes, 0);
    if (bytes + inUse > this.limitBytes)
      throw new LabError(
        'UNSUPPORTED',
        `the graph cache (${this.dir}) is limited to ${formatBytes(this.limitBytes)} (setting: ${CACHE_LIMIT_ENV}, e.g. ${CACHE_LIMIT_ENV}=64G); ` +
          `this entry needs ${formatBytes(bytes)}${inUse ? ` and entries in use hold ${formatBytes(inUse)}` : ''}: raise the limit or close other runs`,
      );
    this.prune(this.limitBytes - bytes);
  }

  /**
   * Evicts least recently used entries that no live process holds until the total is ≤ `target` (the limit by
   * default); also drops staging folders of processes that no longer run. Returns how many entries it removed.
   */
  prune(target = this.limitBytes): number {
    this.dropStaleStaging();
    const list = this.entries().sort((a, b) => a.lastUsed - b.lastUsed);
    let total = list.reduce((a, e) => a + e.bytes, 0);
    let removed = 0;
    for (const e of list) {
      if (total <= target) break;
      if (e.users.length) continue;
      this.removeDir(e.dir);
      total -= e.bytes;
      removed++;
    }
    return removed;
  }

  private dropStaleStaging(): void {
    if (!fs.existsSync(this.dir)) return;
    for (const f of fs.readdirSync(this.dir)) {
      const m = /^\.(?:staging|trash)-[0-9a-f]{32}-(\d+)$/.exec(f);
      if (m && !alive(Number(m[1]))) fs.rmSync(path.join(this.dir, f), { recursive: true, force: true });
    }
  }

  /** Removes every entry no live process holds; returns how many. */
  clear(): number {
    let n = 0;
    for (const e of this.entries())
      if (!e.users.length) {
        this.removeDir(e.dir);
        n++;
      }
    this.dropStaleStaging();
    return n;
  }

  /**
   * Removes entry `key` (found damaged by a holder). Refused while another live process holds it; this process's own
   * holders must not use it after this.
   */
  remove(key: string): void {
    const others = this.users(key).filter((p) => p !== process.pid);
    if (others.length) throw new LabError('BUSY', `graph cache entry ${key} is in use by process ${others.join(', ')}`);
    this.removeDir(path.join(this.dir, key));
  }

  /** renamed away first, so that no reader ever sees a half-deleted entry as complete */
  private removeDir(dir: string): void {
    if (!fs.existsSync(dir)) return;
    const trash = path.join(this.dir, `.trash-${path.basename(dir)}-${process.pid}`);
    fs.rmSync(trash, { recursive: true, force: true });
    try {
      fs.renameSync(dir, trash);
    } catch {
      fs.rmSync(dir, { recursive: true, force: true });
      return;
    }
    fs.rmSync(trash, { recursive: true, force: true });
  }
}
