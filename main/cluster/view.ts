/**
 * One task's state as the lab shows it, from what the task wrote (status.json, its exit file, its log) and what Slurm
 * still says about it (squeue, sacct). The task's own files win: Slurm forgets finished jobs, the files stay.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ClusterTaskState, ClusterTaskView } from '../api/domains/cluster';
import { LOG_FILE, logTail, readTaskStatus, taskDir, type Manifest, type TaskStatus } from './manifest';
import type { SlurmTask } from './slurm';

const SLURM_LIVE = new Set(['RUNNING', 'COMPLETING', 'CONFIGURING', 'SUSPENDED', 'STAGE_OUT', 'SIGNALING', 'RESIZING']);
const SLURM_WAITING = new Set(['PENDING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESV_DEL_HOLD']);

/** Slurm's own words for why a task ended, from the log (slurmstepd writes "*** JOB … CANCELLED AT … DUE TO TIME LIMIT ***"). */
export function reasonFromLog(tail: string): string | undefined {
  const lines = tail.split('\n').map((l) => l.trim()).filter(Boolean);
  const stepd = lines.filter((l) => /slurmstepd|\*\*\* (JOB|STEP)/.test(l)).at(-1);
  if (stepd) return stepd;
  const err = lines.filter((l) => /error|Error|ERROR|not found|No such file/.test(l)).at(-1);
  return err ?? lines.at(-1);
}

function readExit(results: string, index: number): number | undefined {
  try {
    const n = Number(fs.readFileSync(path.join(taskDir(results, index), 'exit'), 'utf8').trim());
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `slurm`: what squeue/sacct know of the array's tasks, or undefined when Slurm cannot be asked (a bundle, a cluster
 * out of reach): then a task with no final status is reported as still running, never guessed dead. `cancelled`: the
 * whole array was cancelled from the session.
 */
export function taskView(results: string, manifest: Manifest, index: number, slurm?: Map<number, SlurmTask>, opts: { cancelled?: boolean } = {}): ClusterTaskView & { status?: TaskStatus } {
  const { cancelled } = opts;
  const spec = manifest.tasks[index];
  const log = path.join(taskDir(results, index), LOG_FILE);
  const base = { task: index, label: spec.label, checkpoint: spec.checkpoint, log, runIds: [] as string[] };
  const st = slurm?.get(index);
  const slurmState = st?.state;
  const { status, damaged } = readTaskStatus(results, index);
  const v = (state: ClusterTaskState, more: Partial<ClusterTaskView> = {}) => ({ ...base, state, slurmState, node: st?.node, ...more });
  if (damaged) return v('failed', { reason: damaged });
  if (status) {
    const more = { runIds: status.runIds, node: status.provenance.node, gpu: status.provenance.gpu, startedAt: status.startedAt, finishedAt: status.finishedAt, status };
    if (status.state === 'done') return v('done', more);
    if (status.state === 'failed' || status.state === 'cancelled') return v(status.state, { ...more, reason: status.reason });
    // "running" as the task last said: still so while Slurm runs it
    if (!slurm || (slurmState && SLURM_LIVE.has(slurmState))) return v('running', more);
    const exit = readExit(results, index);
    const why = reasonFromLog(logTail(results, index));
    const reason = `the task ended without writing its result${slurmState ? ` (Slurm: ${slurmState})` : ''}${exit !== undefined ? ` (exit code ${exit})` : ''}${why ? `: ${why}` : ''}`;
    return v(slurmState === 'CANCELLED' ? 'cancelled' : 'failed', { ...more, reason });
  }
  const exit = readExit(results, index);
  if (exit !== undefined) return v('failed', { reason: `the engine did not start (exit code ${exit}): ${reasonFromLog(logTail(results, index)) ?? 'empty log'}; check --engine-command` });
  if (slurmState && SLURM_LIVE.has(slurmState)) return v('running');
  if (slurmState && !SLURM_WAITING.has(slurmState)) {
    const why = reasonFromLog(logTail(results, index));
    return v(slurmState === 'CANCELLED' ? 'cancelled' : 'failed', { reason: `Slurm: ${slurmState}${st?.reason ? ` (${st.reason})` : ''} before the task started${why ? `: ${why}` : ''}` });
  }
  if (slurm && !st) {
    // Slurm answered and no longer lists a task that never started: cancelled while pending, or gone with its job
    return cancelled ? v('cancelled', { reason: 'cancelled before it started' }) : v('failed', { reason: 'Slurm no longer lists this task and it never started (cancelled or refused before it ran; sacct on the cluster may say more)' });
  }
  return v('pending', { reason: st?.reason });
}
