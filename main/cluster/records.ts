/** The session's record of its cluster arrays (schema v5 tables cluster_arrays, cluster_tasks; main/store/schema.ts). */
import type { SessionStore } from '../store/session';
import { parseStored } from '../store/session';
import type { ClusterArray, ClusterTaskState } from '../api/domains/cluster';
import type { Manifest } from './manifest';

export interface TaskRecord {
  task: number;
  state: ClusterTaskState | 'collected';
  reason: string | null;
  logTail: string | null;
  runIds: string[];
  sessionSha256: string | null;
}

export function recordArray(s: SessionStore, m: Manifest, resultsDir: string, slurmJobId: string | null): void {
  s.db
    .prepare('INSERT INTO cluster_arrays (id, slurm_job_id, results_dir, tasks, manifest, submitted_at) VALUES (?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET slurm_job_id=COALESCE(excluded.slurm_job_id, slurm_job_id), results_dir=excluded.results_dir')
    .run(m.id, slurmJobId, resultsDir, m.tasks.length, JSON.stringify(m), m.createdAt);
}

export function markCancelled(s: SessionStore, id: string): void {
  s.db.prepare('UPDATE cluster_arrays SET cancelled_at=? WHERE id=?').run(new Date().toISOString(), id);
}

function arrayRow(r: Record<string, unknown>): ClusterArray {
  return { id: r.id as string, slurmJobId: (r.slurm_job_id as string) ?? null, resultsDir: r.results_dir as string, tasks: r.tasks as number, submittedAt: r.submitted_at as string, cancelledAt: (r.cancelled_at as string) ?? null };
}

export function listArrays(s: SessionStore): ClusterArray[] {
  return (s.db.prepare('SELECT * FROM cluster_arrays ORDER BY submitted_at DESC').all() as Record<string, unknown>[]).map(arrayRow);
}

/** an array by its id, its Slurm job id, or its results folder */
export function findArray(s: SessionStore, key: string): ClusterArray | undefined {
  const r = s.db.prepare('SELECT * FROM cluster_arrays WHERE id=? OR slurm_job_id=? OR results_dir=? ORDER BY submitted_at DESC LIMIT 1').get(key, key, key) as Record<string, unknown> | undefined;
  return r ? arrayRow(r) : undefined;
}

export function taskRecords(s: SessionStore, arrayId: string): Map<number, TaskRecord> {
  const rows = s.db.prepare('SELECT * FROM cluster_tasks WHERE array_id=?').all(arrayId) as Record<string, unknown>[];
  return new Map(
    rows.map((r) => [
      r.task as number,
      { task: r.task as number, state: r.state as TaskRecord['state'], reason: (r.reason as string) ?? null, logTail: (r.log_tail as string) ?? null, runIds: parseStored<string[]>(r.run_ids, `cluster task ${r.task} run ids`), sessionSha256: (r.session_sha256 as string) ?? null },
    ]),
  );
}

export function saveTask(s: SessionStore, arrayId: string, t: TaskRecord, provenance?: unknown): void {
  s.db
    .prepare(
      `INSERT INTO cluster_tasks (array_id, task, state, reason, log_tail, run_ids, session_sha256, provenance, updated_at) VALUES (?,?,?,?,?,?,?,?,?)
       ON CONFLICT(array_id, task) DO UPDATE SET state=excluded.state, reason=excluded.reason, log_tail=excluded.log_tail, run_ids=excluded.run_ids,
       session_sha256=excluded.session_sha256, provenance=COALESCE(excluded.provenance, provenance), updated_at=excluded.updated_at`,
    )
    .run(arrayId, t.task, t.state, t.reason, t.logTail, JSON.stringify(t.runIds), t.sessionSha256, provenance === undefined ? null : JSON.stringify(provenance), new Date().toISOString());
}
