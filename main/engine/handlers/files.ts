/**
 * files.list / files.remember: the browser-mode file browser (Electron uses the native dialogs). Any folder the
 * engine's user can read may be listed — browsing is what the user asked for, the page already holds the token — but
 * a listing carries names, kinds, sizes and dates only: no file is opened, so no contents ever reach the page, and an
 * error names the path and the reason (permission denied, a loop of links…), never anything read from a file.
 * Work is async (fs.promises), so a slow folder never holds up the engine's other requests.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HandlerMap } from '../engine';
import type { EngineContext } from '../context';
import { LabError } from '../../api/errors';
import type { FileEntry, FileHint, FileRoot } from '../../api/domains/files';
import { resourcesDir } from '../../base/resources';
import { writeFileAtomic } from '../../base/atomic-write';
import { readOwnJson } from '../../base/regular-file';

/** a folder lists at most this many entries (folders first, by name); the path box reaches the rest */
export const MAX_ENTRIES = 5000;
const RECENT_FILE = 'recent-folders.json';
const MAX_RECENT = 12;

function real(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch {
    return undefined;
  }
}

/** Places offered above the listing: home, the app's data, the demo lab when shipped, and the file system's root. */
export function allowedRoots(ctx: Pick<EngineContext, 'paths'>): FileRoot[] {
  const roots: FileRoot[] = [];
  const add = (label: string, p: string) => {
    const r = real(p);
    if (r && !roots.some((x) => x.path === r)) roots.push({ label, path: r });
  };
  add('Home', os.homedir());
  add('App data', ctx.paths.userData);
  add('Demo lab', path.join(resourcesDir(), 'demo-lab'));
  add('File system', path.parse(os.homedir()).root);
  return roots;
}

/** One sentence for a failed file-system call: the reason by its code, never the call's own text beyond that. */
function reason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return 'does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'cannot be read (permission denied)';
    case 'ELOOP':
      return 'is a loop of symbolic links';
    case 'ENOTDIR':
      return 'has a part that is not a folder';
    case 'ENAMETOOLONG':
      return 'is too long a name for the file system';
    default:
      return `cannot be read (${code ?? (e as Error)?.message ?? 'unknown error'})`;
  }
}

/** An absolute path from what the user typed: `~` and `~/…` are the home folder; relative paths are refused. */
export function resolveAsked(raw: string): string {
  if (raw.includes('\0')) throw new LabError('BAD_REQUEST', 'The path contains a NUL character.');
  const t = raw.trim();
  const expanded = t === '~' ? os.homedir() : t.startsWith('~/') ? path.join(os.homedir(), t.slice(2)) : t;
  if (!path.isAbsolute(expanded)) throw new LabError('BAD_REQUEST', `'${t}' is not an absolute path: start it with / (or ~ for your home folder).`);
  return path.resolve(expanded);
}

function hintFor(file: string, isDir: boolean): FileHint | undefined {
  const lower = path.basename(file).toLowerCase();
  if (isDir) return fs.existsSync(path.join(file, 'config.json')) ? 'hf-checkpoint' : undefined;
  if (lower.endsWith('.onnx')) return 'onnx';
  if (lower.endsWith('.sparsitylab')) return 'session';
  if (/\.(txt|jsonl|json|md)$/.test(lower)) return 'text';
  return undefined;
}

function loadRecent(userData: string): string[] {
  try {
    const raw = readOwnJson(path.join(userData, RECENT_FILE), 16 * 2 ** 20); // a FIFO in its place is never waited on
    return Array.isArray(raw) ? raw.filter((x): x is string => typeof x === 'string' && path.isAbsolute(x)).slice(0, MAX_RECENT) : [];
  } catch {
    return []; // missing or damaged: no recent folders (rewritten on the next choice)
  }
}
const existingDirs = (list: string[]) => list.filter((p) => fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false);

/** Remembers `folder` first in the recent list (atomic replace of a small JSON file in the app's data folder). */
export function rememberFolder(userData: string, folder: string): string[] {
  const list = [folder, ...loadRecent(userData).filter((p) => p !== folder)].slice(0, MAX_RECENT);
  fs.mkdirSync(userData, { recursive: true });
  writeFileAtomic(path.join(userData, RECENT_FILE), JSON.stringify(list, null, 2));
  return existingDirs(list);
}

export const filesHandlers: HandlerMap = {
  'files.list': async (req, ctx) => {
    const asked = resolveAsked(req.path ?? os.homedir());
    let target: string;
    try {
      target = await fs.promises.realpath(asked);
    } catch (e) {
      throw new LabError('NOT_FOUND', `'${asked}' ${reason(e)}.`);
    }
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(target);
    } catch (e) {
      throw new LabError('NOT_FOUND', `'${asked}' ${reason(e)}.`);
    }
    let selected: string | undefined;
    if (!stat.isDirectory()) {
      selected = path.basename(target); // a file: list its folder, the file selected
      target = path.dirname(target);
    }
    let dirents: fs.Dirent[];
    try {
      dirents = await fs.promises.readdir(target, { withFileTypes: true });
    } catch (e) {
      throw new LabError('NOT_FOUND', `The folder '${target}' ${reason(e)}.`);
    }
    const byName = (a: string, b: string) => a.localeCompare(b, undefined, { numeric: true });
    const visible = dirents
      .filter((d) => (req.showHidden || !d.name.startsWith('.') || d.name === selected) && (d.isDirectory() || d.isFile() || d.isSymbolicLink()))
      // the ones shown when there are too many: folders first, by name, and always the selected file
      .sort((a, b) => Number(b.name === selected) - Number(a.name === selected) || Number(b.isDirectory()) - Number(a.isDirectory()) || byName(a.name, b.name));
    const entries: FileEntry[] = [];
    for (const d of visible.slice(0, MAX_ENTRIES)) {
      const p = path.join(target, d.name);
      let st: fs.Stats;
      try {
        st = await fs.promises.stat(p); // follows links; a dangling link or a loop of links is left out
      } catch {
        continue;
      }
      const isDir = st.isDirectory();
      if (!isDir && !st.isFile()) continue; // sockets, FIFOs, devices: nothing the lab reads
      entries.push({ name: d.name, path: p, kind: isDir ? 'dir' : 'file', size: isDir ? undefined : st.size, mtime: st.mtime.toISOString(), hint: hintFor(p, isDir) });
    }
    entries.sort((a, b) => (a.kind === b.kind ? byName(a.name, b.name) : a.kind === 'dir' ? -1 : 1));
    const parent = path.dirname(target);
    return {
      path: target,
      parent: parent === target ? null : parent,
      roots: allowedRoots(ctx),
      recent: existingDirs(loadRecent(ctx.paths.userData)),
      entries,
      ...(selected !== undefined ? { selected } : {}),
      truncated: visible.length > MAX_ENTRIES,
    };
  },
  'files.remember': async (req, ctx) => {
    const abs = resolveAsked(req.path);
    const st = await fs.promises.stat(abs).catch(() => undefined);
    const folder = st?.isDirectory() ? abs : path.dirname(abs);
    const isDir = (await fs.promises.stat(folder).catch(() => undefined))?.isDirectory();
    if (!isDir) throw new LabError('NOT_FOUND', `The folder '${folder}' does not exist.`);
    return { recent: rememberFolder(ctx.paths.userData, folder) };
  },
};
