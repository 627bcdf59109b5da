/**
 * files.list: a directory listing for the browser-mode file picker, confined to allowed roots (home,
 * user data, shipped resources). Paths are resolved through symlinks before the check, so a link that
 * points outside a root is refused like the outside path itself.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HandlerMap } from '../engine';
import type { EngineContext } from '../context';
import { LabError } from '../../api/errors';
import type { FileEntry, FileHint, FileRoot } from '../../api/domains/files';
import { resourcesDir } from '../../base/resources';

const MAX_ENTRIES = 2000;

function real(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch {
    return undefined;
  }
}

export function allowedRoots(ctx: Pick<EngineContext, 'paths'>): FileRoot[] {
  const roots: FileRoot[] = [];
  const add = (label: string, p: string) => {
    const r = real(p);
    if (r && !roots.some((x) => x.path === r)) roots.push({ label, path: r });
  };
  add('Home', os.homedir());
  add('App data', ctx.paths.userData);
  add('Demo lab', path.join(resourcesDir(), 'demo-lab'));
  return roots;
}

const within = (p: string, root: string) => p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);

function hintFor(file: string, isDir: boolean): FileHint | undefined {
  const lower = path.basename(file).toLowerCase();
  if (isDir) return fs.existsSync(path.join(file, 'config.json')) ? 'hf-checkpoint' : undefined;
  if (lower.endsWith('.onnx')) return 'onnx';
  if (lower.endsWith('.sparsitylab')) return 'session';
  if (/\.(txt|jsonl|json|md)$/.test(lower)) return 'text';
  return undefined;
}

export const filesHandlers: HandlerMap = {
  'files.list': (req, ctx) => {
    const roots = allowedRoots(ctx);
    const asked = path.resolve(req.path ?? os.homedir());
    const target = real(asked);
    if (!target) throw new LabError('NOT_FOUND', `Folder '${asked}' does not exist or cannot be read.`);
    const root = roots.find((r) => within(target, r.path));
    if (!root) throw new LabError('UNAUTHORIZED', `'${asked}' is outside the folders the file browser may show (${roots.map((r) => r.path).join(', ')}). Type the path instead.`);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(target);
    } catch (e) {
      throw new LabError('NOT_FOUND', `Cannot read '${asked}': ${(e as Error).message}`);
    }
    if (!stat.isDirectory()) throw new LabError('BAD_REQUEST', `'${asked}' is a file, not a folder.`);
    let dirents: fs.Dirent[];
    try {
      dirents = fs.readdirSync(target, { withFileTypes: true });
    } catch (e) {
      throw new LabError('NOT_FOUND', `Cannot list '${asked}': ${(e as Error).message}`);
    }
    const visible = dirents.filter((d) => (req.showHidden || !d.name.startsWith('.')) && (d.isDirectory() || d.isFile() || d.isSymbolicLink()));
    const entries: FileEntry[] = [];
    for (const d of visible.slice(0, MAX_ENTRIES)) {
      const p = path.join(target, d.name);
      let st: fs.Stats;
      try {
        st = fs.statSync(p); // follows links; a dangling link is skipped
      } catch {
        continue;
      }
      const isDir = st.isDirectory();
      entries.push({ name: d.name, path: p, kind: isDir ? 'dir' : 'file', size: isDir ? undefined : st.size, mtime: st.mtime.toISOString(), hint: hintFor(p, isDir) });
    }
    entries.sort((a, b) => (a.kind === b.kind ? a.name.localeCompare(b.name, undefined, { numeric: true }) : a.kind === 'dir' ? -1 : 1));
    return {
      path: target,
      parent: target === root.path ? null : path.dirname(target),
      roots,
      entries,
      truncated: visible.length > MAX_ENTRIES,
    };
  },
};
