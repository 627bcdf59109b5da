/**
 * `cluster submit`: the results folder (manifest, script, one folder per task), then sbatch, then the array's row in
 * the session. A dry run writes nothing and returns the script; a bundle is the same folder with a script that runs
 * where it is submitted from, for clusters the workstation cannot reach (README "Working without reachability").
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';
import { appRoot } from '../base/resources';
import { APP_VERSION } from '../base/version';
import type { SessionStore } from '../store/session';
import { MANIFEST_FILE, SCRIPT_FILE, taskDir, type Manifest, type TaskSpec } from './manifest';
import { recordArray } from './records';
import { jobScript } from './script';
import { sbatch } from './slurm';
import { writeFileAtomic } from '../base/atomic-write';

export interface SlurmProfile {
  partition?: string;
  account?: string;
  time?: string;
  gpusPerTask: number;
  cpusPerTask: number;
  mem?: string;
  maxParallel?: number;
  engineCommand?: string;
  jobName?: string;
}

/** this installation's CLI, by absolute paths: works on nodes that see the same file system */
export function defaultEngineCommand(): string {
  return `"${process.execPath}" "${path.join(appRoot(), 'bin', 'sparsity-lab')}"`;
}

export function makeManifest(tasks: TaskSpec[], p: SlurmProfile): Manifest {
  if (p.engineCommand !== undefined && (/[\n\r]/.test(p.engineCommand) || !p.engineCommand.trim())) throw new LabError('BAD_REQUEST', '--engine-command must be one non-empty shell line');
  return {
    format: 'sparsity-lab-cluster/1',
    id: crypto.randomUUID(),
    createdAt: new Date().toISOString(),
    appVersion: APP_VERSION,
    engineCommand: p.engineCommand?.trim() || defaultEngineCommand(),
    tasks,
    slurm: { partition: p.partition, account: p.account, time: p.time, gpusPerTask: p.gpusPerTask, cpusPerTask: p.cpusPerTask, mem: p.mem, maxParallel: p.maxParallel, jobName: p.jobName ?? 'sparsity-lab' },
  };
}

/** A bundle's tasks with the workstation's paths rewritten to where the cluster sees the same files (longest prefix first). */
export function mapPaths(tasks: TaskSpec[], pathMap: { from: string; to: string }[]): TaskSpec[] {
  const maps = [...pathMap].sort((a, b) => b.from.length - a.from.length);
  const map = (p: string) => {
    for (const m of maps) if (p === m.from || p.startsWith(m.from.endsWith('/') ? m.from : `${m.from}/`)) return m.to + p.slice(m.from.length);
    return p;
  };
  return tasks.map((t) => ({ ...t, checkpoint: map(t.checkpoint), argv: t.argv.map((a) => (path.isAbsolute(a) ? map(a) : a)) }));
}

/** Writes manifest.json, job.sh and tasks/<i>/ (Slurm writes each task's log there, and creates no folders). */
export function writeResultsFolder(m: Manifest, results: string, opts: { bundle?: boolean } = {}): { script: string; text: string } {
  const abs = path.resolve(results);
  if (fs.existsSync(path.join(abs, MANIFEST_FILE))) throw new LabError('BAD_REQUEST', `${abs} already holds a submission (manifest.json): give a new results folder`);
  const text = jobScript(m, opts.bundle ? null : abs);
  try {
    fs.mkdirSync(abs, { recursive: true });
    for (const t of m.tasks) fs.mkdirSync(taskDir(abs, t.index), { recursive: true });
    writeFileAtomic(path.join(abs, MANIFEST_FILE), JSON.stringify(m, null, 1) + '\n');
    const script = path.join(abs, SCRIPT_FILE);
    writeFileAtomic(script, text);
    fs.chmodSync(script, 0o755);
    return { script, text };
  } catch (e) {
    if (e instanceof LabError) throw e;
    throw new LabError('BAD_REQUEST', `cannot write the results folder ${abs}: ${(e as Error).message}`);
  }
}

/** default results folder: beside the session, <session name>-cluster/<date>-<id prefix> */
export function defaultResultsDir(session: SessionStore, m: Manifest): string {
  return path.join(path.dirname(session.file), `${session.name}-cluster`, `${m.createdAt.slice(0, 19).replace(/[:T]/g, '-')}-${m.id.slice(0, 8)}`);
}

export async function submit(session: SessionStore, m: Manifest, results: string): Promise<{ slurmJobId: string; script: string; text: string }> {
  if (session.readOnly) throw new LabError('READ_ONLY', `${session.file} is open read-only: the array could not be recorded`);
  const { script, text } = writeResultsFolder(m, results);
  const slurmJobId = await sbatch(script, path.resolve(results));
  recordArray(session, m, path.resolve(results), slurmJobId);
  return { slurmJobId, script, text };
}
