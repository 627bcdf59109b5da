/**
 * `cluster status` and `cluster collect`. Collect brings each finished task's runs into the session with the same
 * code that imports any session (main/store/transfer.ts importRuns), after checking that the task's session has the
 * sha256 the task wrote when it closed it. It is idempotent: a task already collected is skipped, and a run already
 * in the session is never added twice. A failed task is recorded with its reason and its log's tail; its files stay.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';
import type { ClusterArray, ClusterCollectResult, ClusterStatus, ClusterTaskState, ClusterTaskView } from '../api/domains/cluster';
import type { SessionStore } from '../store/session';
import { importRuns } from '../store/transfer';
import { logTail, readManifest, sha256File, taskDir, TASK_SESSION, type Manifest } from './manifest';
import { findArray, recordArray, saveTask, taskRecords } from './records';
import { sacct, squeue, type SlurmTask } from './slurm';
import { taskView } from './view';

/** The array recorded in the session under `key` (id, Slurm job id or results folder), or a results folder not yet recorded (a bundle). */
export function resolveArray(s: SessionStore, key: string): { array: ClusterArray; manifest: Manifest } {
  const known = findArray(s, key) ?? findArray(s, path.resolve(key));
  if (known) return { array: known, manifest: readManifest(known.resultsDir) };
  if (fs.existsSync(path.resolve(key)) && fs.statSync(path.resolve(key)).isDirectory()) {
    const results = path.resolve(key);
    const manifest = readManifest(results);
    if (!s.readOnly) recordArray(s, manifest, results, null);
    return { array: findArray(s, manifest.id) ?? { id: manifest.id, slurmJobId: null, resultsDir: results, tasks: manifest.tasks.length, submittedAt: manifest.createdAt, cancelledAt: null }, manifest };
  }
  throw new LabError('NOT_FOUND', `${s.file} records no cluster array "${key}" (give its id, its Slurm job id, or its results folder)`);
}

/** What Slurm knows of the array: sacct where the cluster keeps accounting, squeue on top (it is current). */
export async function slurmTasks(array: ClusterArray): Promise<{ tasks?: Map<number, SlurmTask>; note?: string; accounting: boolean }> {
  if (!array.slurmJobId) return { note: 'no Slurm job id recorded (a bundle): states come from the task files', accounting: false };
  const acct = await sacct(array.slurmJobId);
  const q = await squeue(array.slurmJobId);
  if (q.error && !acct) return { note: `squeue failed: ${q.error}`, accounting: false };
  const tasks = new Map<number, SlurmTask>(acct ?? []);
  for (const [k, v] of q.tasks) tasks.set(k, v);
  return { tasks, accounting: !!acct };
}

function counts(views: ClusterTaskView[]): Record<ClusterTaskState, number> {
  const c: Record<ClusterTaskState, number> = { pending: 0, running: 0, done: 0, failed: 0, cancelled: 0 };
  for (const v of views) c[v.state]++;
  return c;
}

export async function status(s: SessionStore, key: string, slurm?: Awaited<ReturnType<typeof slurmTasks>>): Promise<ClusterStatus> {
  const { array, manifest } = resolveArray(s, key);
  const sl = slurm ?? (await slurmTasks(array));
  const recs = taskRecords(s, array.id);
  const tasks = manifest.tasks.map((t) => {
    const { status: _st, ...v } = taskView(array.resultsDir, manifest, t.index, sl.tasks, { cancelled: !!array.cancelledAt });
    return { ...v, collected: recs.get(t.index)?.state === 'collected' };
  });
  return { array, tasks, counts: counts(tasks), slurmNote: sl.note, accounting: sl.accounting };
}

/**
 * `slurm`: Slurm's view, asked once by the caller (or skipped: pass `{ accounting: false }` for a bundle imported
 * from a cluster out of reach, where the task files are all there is).
 */
export async function collect(s: SessionStore, key: string, slurm?: Awaited<ReturnType<typeof slurmTasks>>): Promise<ClusterCollectResult> {
  if (s.readOnly) throw new LabError('READ_ONLY', `${s.file} is open read-only: nothing can be collected into it`);
  const { array, manifest } = resolveArray(s, key);
  const sl = slurm ?? (await slurmTasks(array));
  const recs = taskRecords(s, array.id);
  const out: ClusterCollectResult = { array, collected: 0, already: 0, failed: [], waiting: 0, runsImported: 0 };
  // tasks are committed in groups (importRuns' own transactions nest as savepoints): a thousand one-run sessions
  // cost a thousand commits otherwise; a group is short, so the engine's own writes are never held up for long
  const GROUP = 50;
  const ownTx = !s.db.inTransaction;
  let n = 0;
  try {
    if (ownTx) s.db.exec('BEGIN');
    for (const t of manifest.tasks) {
      collectOne(t);
      if (ownTx && ++n % GROUP === 0) s.db.exec('COMMIT; BEGIN');
    }
    if (ownTx) s.db.exec('COMMIT');
  } catch (e) {
    if (ownTx && s.db.inTransaction) s.db.exec('ROLLBACK');
    throw e;
  }
  return out;

  function collectOne(t: Manifest['tasks'][number]): void {
    const rec = recs.get(t.index);
    if (rec?.state === 'collected') {
      out.already++;
      return;
    }
    const v = taskView(array.resultsDir, manifest, t.index, sl.tasks, { cancelled: !!array.cancelledAt });
    if (v.state === 'pending' || v.state === 'running') {
      out.waiting++;
      if (rec?.state !== v.state) saveTask(s, array.id, { task: t.index, state: v.state, reason: v.reason ?? null, logTail: null, runIds: [], sessionSha256: null });
      return;
    }
    const fail = (reason: string) => {
      out.failed.push({ task: t.index, label: t.label, reason, log: v.log });
      saveTask(s, array.id, { task: t.index, state: v.state === 'cancelled' ? 'cancelled' : 'failed', reason, logTail: logTail(array.resultsDir, t.index), runIds: v.runIds, sessionSha256: v.status?.sessionSha256 ?? null }, v.status?.provenance);
    };
    if (v.state !== 'done' || !v.status) {
      fail(v.reason ?? `task ${v.state}`);
      return;
    }
    const file = path.join(taskDir(array.resultsDir, t.index), TASK_SESSION);
    let sha: string;
    try {
      sha = sha256File(file);
    } catch (e) {
      fail(`${file}: cannot read the task's session (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      return;
    }
    if (sha !== v.status.sessionSha256) {
      fail(`${file}: sha256 ${sha} is not the ${v.status.sessionSha256} the task recorded when it finished: the file changed or was damaged in transit`);
      return;
    }
    let imported: number;
    try {
      imported = importRuns(s, file).imported;
    } catch (e) {
      fail(`${file}: ${(e as Error).message}`);
      return;
    }
    const p = v.status.provenance;
    s.db.transaction(() => {
      for (const id of v.status!.runIds) {
        if (!s.hasRun(id)) return;
        s.addProvenance(id, { cluster: { arrayId: array.id, slurmJobId: p.arrayJobId ?? array.slurmJobId ?? null, jobId: p.jobId ?? null, arrayTaskId: p.arrayTaskId ?? String(t.index), node: p.node, gpu: p.gpu, appVersion: p.appVersion, commit: p.commit, resultsDir: array.resultsDir, sessionSha256: sha } });
        const run = s.getRun(id);
        if (run?.checkpointId != null && (t.series !== undefined || t.tokensSeen !== undefined)) {
          const ck = s.getCheckpoint(run.checkpointId);
          s.updateCheckpoint(run.checkpointId, { series: ck?.series ?? t.series, tokensTrained: ck?.tokensTrained ?? t.tokensSeen });
        }
      }
      saveTask(s, array.id, { task: t.index, state: 'collected', reason: null, logTail: null, runIds: v.status!.runIds, sessionSha256: sha }, p);
    })();
    out.collected++;
    out.runsImported += imported;
  }
}
