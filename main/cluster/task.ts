/**
 * What an array task does on its node (`sparsity-lab cluster task <results> <i>`): write status "running" with the
 * task's provenance (job and task id, node, GPU, build), measure manifest task i into its own session through the
 * engine's ordinary `measure` command, then write "done" (with the run ids and the session's sha256) or "failed" /
 * "cancelled" with the reason. Only the last write decides the state; a task killed before it is found by
 * `cluster status` through Slurm and its log.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EXIT_TARGET_NOT_MET, LabError } from '../api/errors';
import { APP_VERSION, gitCommit } from '../base/version';
import { SessionStore } from '../store/session';
import { readManifest, sha256File, STATUS_FILE, taskDir, TASK_SESSION, type TaskStatus } from './manifest';
import { writeFileAtomic } from '../base/atomic-write';
import { settleInferenceWorkers } from '../inference/runner-off-thread';

/** The GPU(s) Slurm gave this task: the device ids it exported and, where nvidia-smi answers, their names and UUIDs. */
export function gpuProvenance(env: NodeJS.ProcessEnv = process.env): string | null {
  const ids = env.CUDA_VISIBLE_DEVICES ?? env.SLURM_STEP_GPUS ?? env.SLURM_JOB_GPUS;
  if (!ids) return null;
  let names = '';
  try {
    names = execFileSync('nvidia-smi', ['--query-gpu=index,name,uuid', '--format=csv,noheader', '-i', ids], { timeout: 5000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().replace(/\n/g, '; ');
  } catch {
    /* no nvidia-smi on this node: the ids alone */
  }
  return names ? `${ids}: ${names}` : ids;
}

/** what measuring gave: the exit code, and the error when the command threw before recording a run */
export type MeasureFn = (argv: string[]) => Promise<{ code: number; error?: string }>;

export async function runTask(resultsArg: string, indexArg: string, measure: MeasureFn, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const results = path.resolve(resultsArg);
  const index = Number(indexArg);
  const manifest = readManifest(results);
  if (!Number.isInteger(index) || index < 0 || index >= manifest.tasks.length) throw new LabError('BAD_REQUEST', `task "${indexArg}" is not one of 0…${manifest.tasks.length - 1} in ${results}`);
  const spec = manifest.tasks[index];
  // a task only ever measures: a manifest that asks for anything else was not written by `cluster submit`
  if (spec.argv[0] !== 'measure') throw new LabError('BAD_DATA', `${results}/manifest.json: task ${index} runs "${spec.argv[0].slice(0, 40)}", not measure`);
  const dir = taskDir(results, index);
  fs.mkdirSync(dir, { recursive: true });
  const statusFile = path.join(dir, STATUS_FILE);
  const session = path.join(dir, TASK_SESSION);
  // a task Slurm runs again (requeue) starts from a fresh session, so collect never sees two attempts mixed
  for (const f of [session, `${session}-wal`, `${session}-shm`]) fs.rmSync(f, { force: true });
  const status: TaskStatus = {
    task: index,
    state: 'running',
    startedAt: new Date().toISOString(),
    runIds: [],
    provenance: {
      jobId: env.SLURM_JOB_ID,
      arrayJobId: env.SLURM_ARRAY_JOB_ID,
      arrayTaskId: env.SLURM_ARRAY_TASK_ID,
      node: env.SLURMD_NODENAME ?? os.hostname(),
      gpu: gpuProvenance(env),
      appVersion: APP_VERSION,
      commit: gitCommit(),
      node_js: process.version,
    },
  };
  const write = () => writeFileAtomic(statusFile, JSON.stringify(status, null, 1) + '\n');
  write();
  // scancel and the time limit send SIGTERM first: say so in the status before Slurm's SIGKILL follows
  const onTerm = () => {
    status.state = 'cancelled';
    status.finishedAt = new Date().toISOString();
    status.reason = 'stopped by SIGTERM (scancel, the time limit, or preemption); see the log';
    status.exitCode = 143;
    write();
    // process.exit() while an inference worker is inside onnxruntime aborts the process: its call ends first (Slurm's
    // SIGKILL comes after its KillWait, 30 s by default)
    void settleInferenceWorkers(20_000).finally(() => process.exit(143));
  };
  process.once('SIGTERM', onTerm);
  try {
    let out: { code: number; error?: string };
    try {
      out = await measure([...spec.argv, '--session', session]);
    } catch (e) {
      out = { code: 1, error: e instanceof Error ? e.message : String(e) };
    }
    const runs: { id: string; status: string; error: string | null }[] = [];
    if (fs.existsSync(session)) {
      const s = SessionStore.open(session, { readOnly: true });
      try {
        for (const r of s.listRuns({ parentId: null })) runs.push({ id: r.id, status: r.status, error: r.error ?? null });
      } finally {
        s.close();
      }
    }
    status.runIds = runs.map((r) => r.id);
    status.finishedAt = new Date().toISOString();
    status.exitCode = out.code;
    // a completed run whose p% target was not met (exit EXIT_TARGET_NOT_MET) is a result like any other: its flag
    // travels with it into the session
    const ok = (out.code === 0 || out.code === EXIT_TARGET_NOT_MET) && runs.length > 0 && runs.every((r) => r.status === 'completed');
    if (ok) {
      status.state = 'done';
      status.sessionSha256 = sha256File(session);
    } else {
      status.state = 'failed';
      const runErr = runs.find((r) => r.error)?.error;
      status.reason = out.error ?? runErr ?? (runs.length === 0 ? `the measurement recorded no run (exit code ${out.code}); see the log` : `run ${runs[0].id} ended ${runs[0].status} (exit code ${out.code})`);
      if (fs.existsSync(session)) status.sessionSha256 = sha256File(session);
    }
    write();
    return ok ? 0 : out.code || 1;
  } finally {
    process.removeListener('SIGTERM', onTerm);
  }
}
