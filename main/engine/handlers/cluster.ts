/**
 * The cluster domain (issue 20): Slurm job arrays of measurements, recorded in and collected into the open session.
 * All the work is main/cluster's; this maps the contract onto it.
 */
import path from 'node:path';
import type { HandlerMap } from '../engine';
import type { EngineContext } from '../context';
import { LabError } from '../../api/errors';
import type { MeasureFlags } from '../../cluster/tasks';
import * as cluster from '../../cluster/index';
import { currentSession } from './sessions';

function need(ctx: EngineContext) {
  const s = currentSession(ctx);
  if (!s) throw new LabError('BAD_REQUEST', 'no session is open: cluster arrays are recorded in a session (create or open one first)');
  return s;
}

/** the contract's camelCase measure options as the CLI flags every task runs with */
function flags(m: Record<string, unknown>): MeasureFlags {
  const names: Record<string, string> = { seqLen: 'seq-len', thresholdMode: 'threshold-mode' };
  const out: MeasureFlags = {};
  for (const [k, v] of Object.entries(m)) if (v !== undefined) out[names[k] ?? k] = typeof v === 'boolean' ? v : String(v);
  return out;
}

export const clusterHandlers: HandlerMap = {
  'cluster.detect': async () => {
    const sbatch = cluster.findOnPath('sbatch');
    return { sbatch, available: sbatch !== null };
  },
  'cluster.submit': async (req, ctx) => {
    const f = flags(req.measure);
    let tasks = req.sweep ? cluster.sweepTasks(req.checkpoints, f, req.sweep) : cluster.seriesTasks(req.checkpoints, f);
    if (req.bundle) tasks = cluster.mapPaths(tasks, req.bundle.pathMap);
    const m = cluster.makeManifest(tasks, { ...req.profile, engineCommand: req.profile.engineCommand ?? (req.bundle ? 'sparsity-lab' : undefined) });
    if (req.dryRun && req.results) return { id: m.id, slurmJobId: null, resultsDir: path.resolve(req.results), script: cluster.jobScript(m, req.bundle ? null : path.resolve(req.results)), tasks: tasks.length, dryRun: true };
    const s = need(ctx);
    const results = req.results ? path.resolve(req.results) : cluster.defaultResultsDir(s, m);
    if (req.dryRun) return { id: m.id, slurmJobId: null, resultsDir: results, script: cluster.jobScript(m, req.bundle ? null : results), tasks: tasks.length, dryRun: true };
    if (req.bundle) {
      const { text } = cluster.writeResultsFolder(m, results, { bundle: true });
      cluster.recordArrayOf(s, m, results, null);
      return { id: m.id, slurmJobId: null, resultsDir: results, script: text, tasks: tasks.length, dryRun: false };
    }
    const r = await cluster.submit(s, m, results);
    ctx.emit('session.changed', { path: s.file, what: 'runs' });
    return { id: m.id, slurmJobId: r.slurmJobId, resultsDir: results, script: r.text, tasks: tasks.length, dryRun: false };
  },
  'cluster.list': async (_req, ctx) => cluster.listArrays(need(ctx)),
  'cluster.status': async (req, ctx) => cluster.status(need(ctx), req.id),
  'cluster.collect': async (req, ctx) => {
    const s = need(ctx);
    const r = await cluster.collect(s, req.id, req.offline ? { accounting: false, note: 'offline' } : undefined);
    if (r.collected) ctx.emit('session.changed', { path: s.file, what: 'runs' });
    return r;
  },
  'cluster.cancel': async (req, ctx) => {
    const s = need(ctx);
    const { array } = cluster.resolveArray(s, req.id);
    if (!array.slurmJobId) throw new LabError('BAD_REQUEST', `array ${array.id} was never submitted from here (a bundle): cancel it with scancel on its cluster`);
    await cluster.scancel(array.slurmJobId, req.tasks);
    if (!req.tasks?.length) cluster.markCancelled(s, array.id);
    return { cancelled: req.tasks?.length ? req.tasks.map((t) => `${array.slurmJobId}_${t}`).join(' ') : array.slurmJobId };
  },
  'cluster.log': async (req, ctx) => {
    const { array, manifest } = cluster.resolveArray(need(ctx), req.id);
    if (req.task >= manifest.tasks.length) throw new LabError('NOT_FOUND', `array ${array.id} has no task ${req.task} (it has ${manifest.tasks.length})`);
    return { task: req.task, path: path.join(cluster.taskDir(array.resultsDir, req.task), 'slurm.log'), text: cluster.logTail(array.resultsDir, req.task, 64_000) };
  },
};
