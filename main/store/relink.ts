/**
 * Relocatable sessions (issue 17): re-pointing a missing checkpoint or text at a file that must have the recorded
 * content hash, and a run's config rewritten to where its inputs are now, so it can be measured again on another
 * machine or after the files moved.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';
import type { SessionCheckpoint, SessionDataset } from '../api/domains/sessions';
import { inspectCheckpoint } from '../checkpoint/index';
import { fileHash } from '../base/file-hash';
import type { SessionStore } from './session';

export async function relink(s: SessionStore, kind: 'checkpoint' | 'dataset', id: number, file: string): Promise<SessionCheckpoint | SessionDataset> {
  const abs = path.resolve(file);
  if (kind === 'checkpoint') {
    if (!s.getCheckpoint(id)) throw new LabError('NOT_FOUND', `no checkpoint ${id} in ${s.file}`);
    const hash = (await inspectCheckpoint(abs)).contentHash; // reads it: a file that is no checkpoint says so here
    s.relocate('checkpoints', id, abs, hash);
    return s.getCheckpoint(id)!;
  }
  if (!s.getDataset(id)) throw new LabError('NOT_FOUND', `no dataset ${id} in ${s.file}`);
  const hash = fileHash(abs);
  if (!hash) throw new LabError('NOT_FOUND', `${abs}: cannot be read`);
  s.relocate('datasets', id, abs, hash);
  return s.getDataset(id)!;
}

/**
 * Re-points every missing checkpoint (and text) of the session found under `folder` by content: checkpoint folders
 * and .onnx files up to `depth` levels down are read and hashed, text files matched by sha256. For a session mailed
 * to a colleague whose copies of the models sit elsewhere. Returns what was re-pointed.
 */
export async function relinkFolder(s: SessionStore, folder: string, depth = 4): Promise<{ kind: 'checkpoint' | 'dataset'; id: number; path: string }[]> {
  const root = path.resolve(folder);
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new LabError('NOT_FOUND', `${root}: no such folder`);
  const wantCk = new Map(s.listCheckpoints().filter((c) => c.missing && c.contentHash).map((c) => [c.contentHash!, c.id]));
  const wantDs = new Map(s.listDatasets().filter((d) => d.missing && d.hash).map((d) => [d.hash!, d.id]));
  const done: { kind: 'checkpoint' | 'dataset'; id: number; path: string }[] = [];
  const visit = async (dir: string, level: number): Promise<void> => {
    if (!wantCk.size && !wantDs.size) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // unreadable folder: skipped
    }
    const candidates = entries.some((e) => e.isFile() && e.name === 'config.json') ? [dir] : [];
    for (const e of entries) if (e.isFile() && e.name.toLowerCase().endsWith('.onnx')) candidates.push(path.join(dir, e.name));
    for (const c of candidates) {
      const hash = await inspectCheckpoint(c).then((x) => x.contentHash).catch(() => undefined);
      const id = hash ? wantCk.get(hash) : undefined;
      if (id !== undefined) {
        s.relocate('checkpoints', id, c, hash!);
        wantCk.delete(hash!);
        done.push({ kind: 'checkpoint', id, path: c });
      }
    }
    if (wantDs.size)
      for (const e of entries) {
        if (!e.isFile() || !/\.(txt|jsonl?)$/i.test(e.name)) continue;
        const f = path.join(dir, e.name);
        const hash = fileHash(f);
        const id = hash ? wantDs.get(hash) : undefined;
        if (id !== undefined) {
          s.relocate('datasets', id, f, hash!);
          done.push({ kind: 'dataset', id, path: f });
        }
      }
    if (level < depth) for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.') && e.name !== 'node_modules') await visit(path.join(dir, e.name), level + 1);
  };
  await visit(root, 0);
  return done;
}

function missing(what: string, name: string, last: string): never {
  throw new LabError('NOT_FOUND', `the ${what} ${name} is missing (last seen at ${last}): re-point it (Session → Missing files, or \`sparsity-lab relink\`) and try again`);
}

/** Run `id`'s config with its checkpoint(s) and evaluation text at their current locations. */
export function rerunConfig(s: SessionStore, id: string): Record<string, unknown> {
  const run = s.getRun(id);
  if (!run) throw new LabError('NOT_FOUND', `no run ${id} in ${s.file}`);
  const cfg = { ...(s.runConfig(id) as Record<string, unknown>) };
  if (cfg.kind !== 'measure' && cfg.kind !== 'measure-series')
    throw new LabError('BAD_REQUEST', `run ${id} is a ${run.kind}${run.parentId ? ` of ${run.parentId}: measure that run again` : ''}; only measure and measure-series runs can be measured again`);
  delete cfg.stateDir;
  const prov = s.runProvenance(id);
  const hashOf = (p: string) => prov?.inputs?.checkpoints.find((x) => x.path === path.resolve(p))?.hash ?? null;
  const where = (p: string, preferId?: number | null): string => {
    const rowId = preferId ?? s.findCheckpoint(path.resolve(p), hashOf(p));
    const row = rowId != null ? s.getCheckpoint(rowId) : undefined;
    if (!row) return p; // not in the session's table: as recorded
    if (row.missing) missing('checkpoint', row.name, row.lastPath ?? row.path);
    return row.path;
  };
  if (cfg.kind === 'measure') cfg.checkpoint = where(String(cfg.checkpoint), run.checkpointId);
  else cfg.checkpoints = (cfg.checkpoints as { path: string; tokensSeen?: number }[]).map((c) => ({ ...c, path: where(c.path) }));
  const ds = run.datasetId != null ? s.getDataset(run.datasetId) : undefined;
  if (ds) {
    if (ds.missing) missing('evaluation text', path.basename(ds.lastPath), ds.lastPath);
    cfg.data = ds.path;
  }
  return cfg;
}
