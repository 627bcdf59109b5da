/**
 * The results folder of one cluster submission (issue 20) and the files in it. It lives on the file system the nodes
 * share with the workstation (or travels as a job bundle when they share none):
 *
 *   manifest.json            what to run: one entry per array task (the `sparsity-lab` arguments), the engine command
 *   job.sh                   the sbatch script (main/cluster/script.ts)
 *   tasks/<i>/status.json    written by the task itself: running → done | failed | cancelled, with provenance
 *   tasks/<i>/task.sparsitylab  the task's own session (the run, recorded by the same code as a local run)
 *   tasks/<i>/slurm.log      the task's stdout and stderr (sbatch --output)
 *
 * Everything read back from here came over a shared file system and may be damaged or hostile: it is parsed with the
 * schemas below, and a file that does not parse is a task with a reason, never a crash.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { LabError } from '../api/errors';

export const MANIFEST_FILE = 'manifest.json';
export const SCRIPT_FILE = 'job.sh';
export const TASK_SESSION = 'task.sparsitylab';
export const STATUS_FILE = 'status.json';
export const LOG_FILE = 'slurm.log';

export const taskSpecSchema = z.object({
  index: z.number().int().nonnegative(),
  /** a short name for tables: the checkpoint folder, plus the sweep point */
  label: z.string().max(500),
  /** the arguments after `sparsity-lab` (a `measure …` command line, without --session) */
  argv: z.array(z.string().max(8192)).min(1).max(200),
  /** the checkpoint this task measures (for the session's series and tokens-trained fields) */
  checkpoint: z.string().max(4096),
  tokensSeen: z.number().nonnegative().optional(),
  series: z.string().max(500).optional(),
});
export type TaskSpec = z.infer<typeof taskSpecSchema>;

export const manifestSchema = z.object({
  format: z.literal('sparsity-lab-cluster/1'),
  /** identifies the submission in the session (the Slurm job id is only known after sbatch, and not at all for a bundle) */
  id: z.string().min(8).max(64),
  createdAt: z.string(),
  appVersion: z.string(),
  /** the shell line that makes `sparsity-lab` callable on a node: a module load, a container, an installed CLI */
  engineCommand: z.string().max(4000),
  tasks: z.array(taskSpecSchema).min(1).max(100000),
  slurm: z.object({
    partition: z.string().max(200).optional(),
    account: z.string().max(200).optional(),
    time: z.string().max(50).optional(),
    gpusPerTask: z.number().int().min(0).max(64),
    cpusPerTask: z.number().int().min(1).max(1024),
    mem: z.string().max(50).optional(),
    /** at most this many tasks run at once (sbatch --array=…%N) */
    maxParallel: z.number().int().positive().optional(),
    jobName: z.string().max(100),
  }),
});
export type Manifest = z.infer<typeof manifestSchema>;

export const taskStatusSchema = z.object({
  task: z.number().int().nonnegative(),
  state: z.enum(['running', 'done', 'failed', 'cancelled']),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  reason: z.string().max(20000).optional(),
  exitCode: z.number().int().optional(),
  /** run ids recorded in the task's session */
  runIds: z.array(z.string().max(128)).max(1000).default([]),
  /** sha256 of task.sparsitylab once the task closed it; collect refuses a session with other bytes */
  sessionSha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  provenance: z.object({
    jobId: z.string().max(64).optional(),
    arrayJobId: z.string().max(64).optional(),
    arrayTaskId: z.string().max(64).optional(),
    node: z.string().max(500),
    gpu: z.string().max(2000).nullable(),
    appVersion: z.string().max(100),
    commit: z.string().max(100),
    node_js: z.string().max(50),
  }),
});
export type TaskStatus = z.infer<typeof taskStatusSchema>;

export function taskDir(results: string, index: number): string {
  return path.join(results, 'tasks', String(index));
}

export function readManifest(results: string): Manifest {
  const file = path.join(path.resolve(results), MANIFEST_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new LabError('NOT_FOUND', `${file}: cannot read the cluster manifest (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): is this a results folder of 'cluster submit'?`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new LabError('BAD_DATA', `${file}: not JSON`);
  }
  const r = manifestSchema.safeParse(json);
  if (!r.success) throw new LabError('BAD_DATA', `${file}: not a cluster manifest (${r.error.issues[0].path.join('.')}: ${r.error.issues[0].message})`);
  r.data.tasks.forEach((t, i) => {
    if (t.index !== i) throw new LabError('BAD_DATA', `${file}: task ${i} says it is task ${t.index}`);
  });
  return r.data;
}

/** The task's status file: undefined when the task has not started; a reason when the file is damaged. */
export function readTaskStatus(results: string, index: number): { status?: TaskStatus; damaged?: string } {
  const file = path.join(taskDir(results, index), STATUS_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    return { damaged: `${file}: cannot read (${(e as Error).message})` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { damaged: `${file}: not JSON` };
  }
  const r = taskStatusSchema.safeParse(json);
  if (!r.success) return { damaged: `${file}: not a task status (${r.error.issues[0].path.join('.')}: ${r.error.issues[0].message})` };
  if (r.data.task !== index) return { damaged: `${file}: says it is task ${r.data.task}, it sits in task ${index}'s folder` };
  return { status: r.data };
}

export function sha256File(file: string): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let n: number;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** The last lines of a task's log (for a failed task's reason when it left none, and for the UI). */
export function logTail(results: string, index: number, maxBytes = 4000): string {
  const file = path.join(taskDir(results, index), LOG_FILE);
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const n = Math.min(size, maxBytes);
      const buf = Buffer.alloc(n);
      fs.readSync(fd, buf, 0, n, size - n);
      return buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}
