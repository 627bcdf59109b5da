/**
 * The Slurm commands the lab uses: sbatch (submit), squeue (live tasks), sacct (finished tasks, where the cluster
 * keeps accounting), scancel. Run with execFile (no shell); their output is parsed in the fixed formats asked for.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';

function run(cmd: string, args: string[], opts: { timeoutMs?: number; cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: opts.timeoutMs ?? 30_000, cwd: opts.cwd, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
      if (e && e.code === 'ENOENT') resolve({ code: 127, stdout: '', stderr: `${cmd}: not found on PATH` });
      else resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) || (e ? e.message : '') });
    });
  });
}

/** where a Slurm client is on PATH (null: none) */
export function findOnPath(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const f = path.join(dir, cmd);
    try {
      fs.accessSync(f, fs.constants.X_OK);
      return f;
    } catch {
      /* next */
    }
  }
  return null;
}

/** sbatch the script; returns the job id (`--parsable` prints "id" or "id;cluster"). */
export async function sbatch(script: string, cwd: string): Promise<string> {
  const r = await run('sbatch', ['--parsable', script], { cwd });
  if (r.code !== 0) throw new LabError('CLUSTER_ERROR', `sbatch refused ${script}: ${r.stderr.trim() || `exit ${r.code}`}`);
  const id = r.stdout.trim().split(';')[0];
  if (!/^\d+$/.test(id)) throw new LabError('CLUSTER_ERROR', `sbatch printed no job id (got "${r.stdout.trim()}")`);
  return id;
}

export type SlurmState = 'PENDING' | 'RUNNING' | 'COMPLETING' | 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'TIMEOUT' | 'NODE_FAIL' | 'OUT_OF_MEMORY' | 'PREEMPTED' | 'SUSPENDED' | string;

export interface SlurmTask {
  task: number;
  state: SlurmState;
  reason?: string;
  node?: string;
  exitCode?: string;
}

/**
 * Expands squeue's array notation: "12_3" → [3]; "12_[0-4,7%2]" (pending tasks) → [0..4, 7].
 */
export function arrayTaskIds(jobField: string): number[] {
  const m = /^\d+_(.+)$/.exec(jobField.trim());
  if (!m) return [];
  const body = m[1].replace(/^\[|\]$/g, '').replace(/%\d+$/, '');
  const out: number[] = [];
  for (const part of body.split(',')) {
    const r = /^(\d+)(?:-(\d+))?(?::(\d+))?$/.exec(part.trim());
    if (!r) continue;
    const a = Number(r[1]);
    const b = r[2] !== undefined ? Number(r[2]) : a;
    const step = r[3] !== undefined ? Math.max(1, Number(r[3])) : 1;
    for (let i = a; i <= b && out.length < 1_000_000; i += step) out.push(i);
  }
  return out;
}

/** The array's tasks squeue still knows (pending and running; finished ones for MinJobAge). null: squeue failed. */
export async function squeue(jobId: string): Promise<{ tasks: Map<number, SlurmTask>; error?: string }> {
  const r = await run('squeue', ['-h', '-r', '-j', jobId, '-t', 'all', '-o', '%i|%T|%r|%N']);
  const tasks = new Map<number, SlurmTask>();
  if (r.code !== 0) {
    // a job squeue has forgotten is "Invalid job id": not an error, it simply lists nothing
    if (/Invalid job id/i.test(r.stderr)) return { tasks };
    return { tasks, error: r.stderr.trim() || `squeue exit ${r.code}` };
  }
  for (const line of r.stdout.split('\n')) {
    const [id, state, reason, node] = line.split('|');
    if (!id) continue;
    for (const t of arrayTaskIds(id)) tasks.set(t, { task: t, state, reason: reason && reason !== 'None' ? reason : undefined, node: node || undefined });
  }
  return { tasks };
}

/** sacct's view of the array (finished tasks with exit codes); undefined when the cluster keeps no accounting. */
export async function sacct(jobId: string): Promise<Map<number, SlurmTask> | undefined> {
  const r = await run('sacct', ['-n', '-P', '-X', '-j', jobId, '-o', 'JobID,State,ExitCode,NodeList']);
  if (r.code !== 0) return undefined;
  const tasks = new Map<number, SlurmTask>();
  for (const line of r.stdout.split('\n')) {
    const [id, state, exitCode, node] = line.split('|');
    if (!id) continue;
    for (const t of arrayTaskIds(id)) tasks.set(t, { task: t, state: state.split(' ')[0], exitCode, node: node || undefined });
  }
  return tasks;
}

/** scancel the whole array, or some of its tasks. */
export async function scancel(jobId: string, tasks?: number[]): Promise<void> {
  const targets = tasks?.length ? tasks.map((t) => `${jobId}_${t}`) : [jobId];
  const r = await run('scancel', targets);
  if (r.code !== 0) throw new LabError('CLUSTER_ERROR', `scancel ${targets.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
}
