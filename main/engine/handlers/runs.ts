import path from 'node:path';
import type { HandlerMap } from '../engine';
import type { EngineContext } from '../context';
import { JobRunner } from '../../jobs/runner';
import { JsonFilePersistence, type JobPersistence } from '../../jobs/persistence';
import { openOpts, workFor } from '../../jobs/measure-job';
import { cachedModelSource, type ModelSource } from '../../jobs/models';
import { estimateRun } from '../../jobs/estimate';
import { requireInputs } from '../../jobs/inputs';
import type { JobInfo } from '../../api/domains/runs';
import { cancellable, cancelRequest } from '../cancellable';

/**
 * One JobRunner per engine. Job state goes to the persistence registered under services 'runs.persistence'
 * (the session store, when a session is open) or to JSON files in userData/jobs (or the request's stateDir).
 */
function runnerFor(ctx: EngineContext, stateDir?: string): JobRunner {
  const key = `runs:${stateDir ?? ''}`;
  let jr = ctx.services.get(key) as JobRunner | undefined;
  if (!jr) {
    const store = (!stateDir && (ctx.services.get('runs.persistence') as JobPersistence | undefined)) || new JsonFilePersistence(stateDir ?? path.join(ctx.paths.userData, 'jobs'));
    jr = new JobRunner(store, { progress: (e) => ctx.emit('job.progress', e), finished: (e) => ctx.emit('job.finished', e) });
    ctx.services.set(key, jr);
  }
  return jr;
}

function modelSource(ctx: EngineContext): ModelSource {
  return (ctx.services.get('runs.models') as ModelSource | undefined) ?? cachedModelSource(path.join(ctx.paths.cache, 'graphs'));
}

function allRunners(ctx: EngineContext): JobRunner[] {
  return [...ctx.services.entries()].filter(([k]) => k.startsWith('runs:')).map(([, v]) => v as JobRunner);
}

/** job id → the session file it writes into (null: job files), recorded when it starts */
function sessionsOfJobs(ctx: EngineContext): Map<string, string | null> {
  let m = ctx.services.get('runs.sessionOf') as Map<string, string | null> | undefined;
  if (!m) ctx.services.set('runs.sessionOf', (m = new Map()));
  return m;
}

/** Jobs running now that write into the session file `file` (sessions.open/new/saveAs/close refuse to switch then). */
export function jobsInSession(ctx: EngineContext, file: string): JobInfo[] {
  const of = sessionsOfJobs(ctx);
  return allRunners(ctx)
    .flatMap((r) => r.list())
    .filter((j) => of.get(j.id) === file);
}

export const runsHandlers: HandlerMap = {
  'runs.start': async (req, ctx) => {
    const src = modelSource(ctx);
    requireInputs(req.config, { checkpoints: !ctx.services.has('runs.models') });
    // the session the job writes into: the open (writable) one, unless the request names its own state folder
    const s = ctx.services.get('session') as { file: string; readOnly: boolean } | undefined;
    const sessionFile = !req.config.stateDir && ctx.services.has('runs.persistence') && s && !s.readOnly ? s.file : null;
    const { id, done, notices } = await runnerFor(ctx, req.config.stateDir).start(req.config.kind, req.config, workFor(req.config, src), req.resume);
    const of = sessionsOfJobs(ctx);
    of.set(id, sessionFile);
    void done.finally(() => of.delete(id)).catch(() => undefined);
    for (const n of notices) ctx.log.warn(n);
    return { id, ...(notices.length ? { notices } : {}) };
  },
  // a job, or a pre-run estimate sent with this cancelId (main/engine/cancellable.ts)
  'runs.cancel': (req, ctx) => ({ cancelled: allRunners(ctx).some((r) => r.cancel(req.id)) || cancelRequest(ctx, 'runs', req.id) }),
  'runs.active': (_req, ctx) => {
    const of = sessionsOfJobs(ctx);
    return allRunners(ctx).flatMap((r) => r.list().map((j) => ({ ...j, session: of.get(j.id) ?? null })));
  },
  'runs.estimate': (req, ctx) => {
    // the files the pilot reads, checked as a run's are (a FIFO for the text blocked the pilot for ever)
    requireInputs(req.config, { checkpoints: !ctx.services.has('runs.models') });
    return cancellable(ctx, 'runs', req.cancelId, 'the estimate', (signal) => estimateRun(req.config, modelSource(ctx), signal));
  },
  'runs.plan': async (req, ctx) => {
    const src = modelSource(ctx);
    const cfg = req.config;
    const p = cfg.kind === 'measure' ? cfg.checkpoint : cfg.checkpoints.at(-1)?.path;
    if (!p || !src.plan) return { execution: null };
    return { execution: (await src.plan(await src.loadCheckpoint(p), openOpts(cfg))) ?? null };
  },
};
