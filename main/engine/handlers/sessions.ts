/**
 * The sessions domain: one open session per engine (ctx.services 'session'). Opening one also routes job
 * persistence into it, so measurements started from the UI are recorded step by step in the file.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { HandlerMap } from '../engine';
import type { EngineContext } from '../context';
import { LabError } from '../../api/errors';
import type { SessionInfo } from '../../api/domains/sessions';
import { SessionJobPersistence } from '../../jobs/session-persistence';
import { SessionStore, importRuns, exportRun, relink, relinkFolder, rerunConfig } from '../../store/index';
import { JsonFilePersistence } from '../../jobs/persistence';
import { inspectCheckpoint } from '../../checkpoint/index';
import { addRecent } from '../recent';
import { jobsInSession } from './runs';
import { writableOut } from './output';
import { exportThresholds } from '../export-thresholds';
import { fileKind } from '../../base/regular-file';
import { busyMessage, lockOwner } from '../../store/lock';
import type { Family } from '../../checkpoint/types';

export function currentSession(ctx: EngineContext): SessionStore | undefined {
  return ctx.services.get('session') as SessionStore | undefined;
}

function need(ctx: EngineContext): SessionStore {
  const s = currentSession(ctx);
  if (!s) throw new LabError('BAD_REQUEST', 'no session is open: create or open one first');
  return s;
}

function info(s: SessionStore): SessionInfo {
  const runs = s.listRuns({ parentId: null });
  return { path: s.file, name: s.name, readOnly: s.readOnly, notice: s.notice, runs: runs.length, checkpoints: s.listCheckpoints().length, interrupted: runs.filter((r) => r.status === 'interrupted').length };
}

/** Job state goes into whichever session is open (JSON files in user data when none). */
function routeJobs(ctx: EngineContext): void {
  if (!ctx.services.has('runs.persistence'))
    ctx.services.set('runs.persistence', new SessionJobPersistence(() => currentSession(ctx), new JsonFilePersistence(path.join(ctx.paths.userData, 'jobs'))));
  const existing = ctx.services.get('runs:') as { list(): unknown[] } | undefined;
  if (existing && existing.list().length === 0) ctx.services.delete('runs:'); // next runs.start binds to the router
}

/**
 * A running measurement writes its steps into the open session: switching or closing it then would leave the run
 * 'interrupted' (issue 18: a reload whose URL named another session did that). Refused, naming the run, until it ends.
 */
function refuseWhileMeasuring(ctx: EngineContext, what: string, target?: string): void {
  const cur = currentSession(ctx);
  if (!cur || (target !== undefined && path.resolve(target) === cur.file)) return;
  const jobs = jobsInSession(ctx, cur.file);
  if (jobs.length)
    throw new LabError('BUSY', `cannot ${what} while ${jobs.map((j) => `'${j.label ?? j.kind}'`).join(', ')} ${jobs.length > 1 ? 'are' : 'is'} measuring into ${cur.file}; wait for it to finish or cancel it first`);
}

function attach(ctx: EngineContext, s: SessionStore): SessionInfo {
  const old = currentSession(ctx);
  if (old && old !== s) old.close();
  ctx.services.set('session', s);
  routeJobs(ctx);
  addRecent(ctx.paths.userData, s.file);
  ctx.emit('session.changed', { path: s.file, what: 'opened' });
  return info(s);
}

function checkExt(p: string): string {
  const abs = path.resolve(p);
  return abs.endsWith('.sparsitylab') ? abs : `${abs}.sparsitylab`;
}

/**
 * Save As never overwrites by accident (the backup replaced whatever was there: another session's runs, a session another
 * window or CLI was recording into): an existing file only with `overwrite` (the window's own Replace), never one a live
 * writer holds, never a folder or special file.
 */
function refuseSaveAsOnto(dest: string, overwrite: boolean): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dest);
  } catch {
    return; // a new file
  }
  if (!st.isFile()) throw new LabError('BAD_REQUEST', `${dest}: is ${fileKind(st)}, not a file a session can be saved as`);
  const owner = lockOwner(dest);
  if (owner) throw new LabError('BUSY', `${busyMessage(dest, owner)} It cannot be replaced while it is recorded into.`);
  if (!overwrite) throw new LabError('BAD_REQUEST', `${dest} exists already: save under another name, or replace it`, { path: dest }, 'FILE_EXISTS');
}

/** A run's config with its files where they are now (a relocated session), or as recorded when they cannot be found. */
function configHere(s: SessionStore, id: string): unknown {
  const cfg = s.runConfig(id) as Record<string, unknown>;
  try {
    const here = rerunConfig(s, id);
    return cfg.stateDir === undefined ? here : { ...here, stateDir: cfg.stateDir };
  } catch {
    return cfg; // resuming then says which file is missing
  }
}

export const sessionsHandlers: HandlerMap = {
  'sessions.new': (req, ctx) => {
    refuseWhileMeasuring(ctx, 'start a new session');
    const file = checkExt(req.path);
    // a new session goes only where the user chose: an existing folder (no folders created on the way), a new name
    if (!fs.existsSync(path.dirname(file)) || !fs.statSync(path.dirname(file)).isDirectory()) throw new LabError('BAD_REQUEST', `${path.dirname(file)}: no such folder (a new session is created only in an existing folder)`);
    return attach(ctx, SessionStore.create(file));
  },
  'sessions.open': (req, ctx) => {
    const cur = currentSession(ctx);
    if (cur && cur.file === path.resolve(req.path)) return info(cur);
    refuseWhileMeasuring(ctx, `open ${req.path}`, req.path);
    return attach(ctx, SessionStore.open(req.path, { readOnly: req.readOnly }));
  },
  'sessions.saveAs': async (req, ctx) => {
    const s = need(ctx);
    refuseWhileMeasuring(ctx, 'save the session under another name');
    const dest = checkExt(req.path);
    refuseSaveAsOnto(dest, !!req.overwrite);
    await s.backupTo(dest);
    return attach(ctx, SessionStore.open(dest));
  },
  'sessions.close': (_req, ctx) => {
    const s = currentSession(ctx);
    if (!s) return { closed: false };
    refuseWhileMeasuring(ctx, 'close the session');
    s.close();
    ctx.services.delete('session');
    ctx.emit('session.changed', { path: null, what: 'closed' });
    return { closed: true };
  },
  'sessions.current': (_req, ctx) => {
    const s = currentSession(ctx);
    return s ? info(s) : null;
  },
  'sessions.listRuns': (req, ctx) => need(ctx).listRuns({ ...req, parentId: req.topLevelOnly ? null : undefined }),
  'sessions.getRun': (req, ctx) => {
    const s = need(ctx);
    const run = s.getRun(req.id);
    if (!run) throw new LabError('NOT_FOUND', `no run ${req.id} in this session`);
    return {
      run,
      config: s.runConfig(req.id),
      result: s.getResult(req.id) ?? null,
      children: s.listRuns({ parentId: req.id }),
      provenance: s.runProvenance(req.id),
      checkpointRef: run.checkpointId != null ? (s.getCheckpoint(run.checkpointId) ?? null) : null,
      dataset: run.datasetId != null ? (s.getDataset(run.datasetId) ?? null) : null,
    };
  },
  'sessions.compareRuns': (req, ctx) => {
    const s = need(ctx);
    const runs = req.ids.map((id) => {
      const r = s.getRun(id);
      if (!r) throw new LabError('NOT_FOUND', `no run ${id} in this session`);
      return r;
    });
    return { runs, results: req.ids.map((id) => s.getResult(id) ?? null) };
  },
  'sessions.deleteRun': (req, ctx) => {
    need(ctx).deleteRun(req.id);
    ctx.emit('session.changed', { path: need(ctx).file, what: 'runs' });
    return { deleted: req.id };
  },
  'sessions.undoDelete': (req, ctx) => {
    need(ctx).undoDelete(req.id);
    ctx.emit('session.changed', { path: need(ctx).file, what: 'runs' });
    return { restored: req.id };
  },
  'sessions.updateRun': (req, ctx) => {
    const s = need(ctx);
    s.updateRun(req.id, { label: req.label, notes: req.notes, tags: req.tags });
    ctx.emit('session.changed', { path: s.file, what: 'runs' });
    return s.getRun(req.id)!;
  },
  'sessions.listCheckpoints': (_req, ctx) => need(ctx).listCheckpoints(),
  'sessions.addCheckpoint': async (req, ctx) => {
    const s = need(ctx);
    const sum = await inspectCheckpoint(req.path, { family: req.family as Family | undefined });
    const id = s.upsertCheckpoint(sum, { series: req.series ?? null, tokensTrained: req.tokensTrained ?? null });
    // the same content may be in the session already: series and tokens are the user's labels, so what they give
    // here replaces them (the content hash and architecture are never rewritten)
    if (req.series !== undefined || req.tokensTrained !== undefined) s.updateCheckpoint(id, { series: req.series, tokensTrained: req.tokensTrained });
    ctx.emit('session.changed', { path: s.file, what: 'checkpoints' });
    return s.getCheckpoint(id)!;
  },
  'sessions.updateCheckpoint': (req, ctx) => {
    const s = need(ctx);
    s.updateCheckpoint(req.id, req);
    ctx.emit('session.changed', { path: s.file, what: 'checkpoints' });
    return s.getCheckpoint(req.id)!;
  },
  'sessions.importRuns': (req, ctx) => {
    const s = need(ctx);
    const r = importRuns(s, req.from);
    ctx.emit('session.changed', { path: s.file, what: 'runs' });
    return r;
  },
  'sessions.exportRun': (req, ctx) => exportRun(need(ctx), req.id, req.format, writableOut(req.out, req.format, req.overwrite)),
  'sessions.exportThresholds': (req, ctx) => exportThresholds(need(ctx), req),
  'sessions.saveFit': (req, ctx) => {
    const s = need(ctx);
    const id = s.saveFit({ kind: req.kind, series: req.series ?? null, spec: req.spec ?? null, result: req.result ?? null });
    ctx.emit('session.changed', { path: s.file, what: 'fits' });
    return { id };
  },
  'sessions.listFits': (req, ctx) => need(ctx).listFits(req.kind),
  'sessions.saveChartSpec': (req, ctx) => {
    const s = need(ctx);
    s.saveChartSpec(req.kind, req.series, req.spec ?? null);
    ctx.emit('session.changed', { path: s.file, what: 'charts' });
    return { kind: req.kind, series: req.series ?? null };
  },
  'sessions.listChartSpecs': (req, ctx) => need(ctx).listChartSpecs(req.kind),
  'sessions.deleteChartSpec': (req, ctx) => {
    const s = need(ctx);
    const deleted = s.deleteChartSpec(req.kind, req.series);
    if (deleted) ctx.emit('session.changed', { path: s.file, what: 'charts' });
    return { deleted };
  },
  'sessions.listDatasets': (_req, ctx) => need(ctx).listDatasets(),
  'sessions.relink': async (req, ctx) => {
    const s = need(ctx);
    const r = await relink(s, req.kind, req.id, req.path);
    ctx.emit('session.changed', { path: s.file, what: 'checkpoints' });
    return r;
  },
  'sessions.relinkFolder': async (req, ctx) => {
    const s = need(ctx);
    const relinked = await relinkFolder(s, req.folder);
    if (relinked.length) ctx.emit('session.changed', { path: s.file, what: 'checkpoints' });
    const stillMissing = s.listCheckpoints().filter((c) => c.missing).length + s.listDatasets().filter((d) => d.missing).length;
    return { relinked, stillMissing };
  },
  'sessions.rerunConfig': (req, ctx) => ({ config: rerunConfig(need(ctx), req.id) }),
  'sessions.resumable': (_req, ctx) => {
    const s = need(ctx);
    return s
      .listRuns({ parentId: null, status: 'interrupted' })
      .map((r) => ({ id: r.id, kind: r.kind, config: configHere(s, r.id), steps: r.steps, updatedAt: r.updatedAt }));
  },
};
