/**
 * The app-level store: recently opened sessions, kept as a small JSON file in the user-data folder.
 * A damaged file is treated as empty (and rewritten), never as a crash.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RecentSession, StartSession } from '../api/domains/engine';
import { prepareDemoSession } from './demo';
import { writeFileAtomic } from '../base/atomic-write';
import { readOwnJson } from '../base/regular-file';

const FILE = 'recent-sessions.json';
const MAX = 20;

interface Stored {
  path: string;
  openedAt: string;
}

function load(userData: string): Stored[] {
  try {
    const raw = readOwnJson(path.join(userData, FILE), 16 * 2 ** 20); // a FIFO in its place is never waited on
    if (!Array.isArray(raw)) return [];
    return raw.filter((r): r is Stored => !!r && typeof r.path === 'string' && typeof r.openedAt === 'string');
  } catch {
    return [];
  }
}

export function readRecent(userData: string): RecentSession[] {
  return load(userData).map((r) => ({
    path: r.path,
    name: path.basename(r.path).replace(/\.sparsitylab$/, ''),
    openedAt: r.openedAt,
    exists: fs.existsSync(r.path),
  }));
}

export function addRecent(userData: string, file: string): void {
  const abs = path.resolve(file);
  const list = [{ path: abs, openedAt: new Date().toISOString() }, ...load(userData).filter((r) => r.path !== abs)].slice(0, MAX);
  fs.mkdirSync(userData, { recursive: true });
  writeFileAtomic(path.join(userData, FILE), JSON.stringify(list, null, 2)); // a crash never leaves half a file
}

/**
 * Which session the lab starts in: on the first start (no session ever opened) the demo lab — its private copy in
 * user data, made now — and later the last session opened that still exists (none: no session, Home).
 */
export function startSession(userData: string): StartSession {
  const recent = readRecent(userData);
  if (recent.length === 0) {
    const demo = prepareDemoSession(userData);
    return { path: demo.path ?? null, firstStart: true, message: demo.message };
  }
  const last = recent.find((r) => r.exists);
  if (last) return { path: last.path, firstStart: false, message: `Reopening ${last.path}, the session open last.` };
  return { path: null, firstStart: false, message: `None of the ${recent.length} recent session(s) exists any more: open or create one.` };
}
