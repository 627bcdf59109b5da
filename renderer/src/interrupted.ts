/**
 * Jobs the window still shows as running although the engine no longer has them: the engine process ended under them
 * (killed, out of memory, the app's engine restarted; browser mode's server restarted) and so never sent their
 * `job.finished`. Asked from `runs.active` after a reconnect and, while something runs, every few seconds (the app's
 * engine restarts without the window's connection ever closing). A job the window learned of after the question
 * was sent (started meanwhile) is not judged by that answer.
 */
export interface WindowJob {
  id: string;
  status: string;
  /** ISO time the window (or the engine) says the job started */
  startedAt: string;
  /** a resumed job: when this start was (the one the engine's answer is judged against) */
  resumedAt?: string;
}

/** The ids of `jobs` running in the window but absent from the engine's active list asked at `askedAt` (ms). */
export function interruptedJobs(jobs: readonly WindowJob[], activeIds: Iterable<string>, askedAt: number): string[] {
  const active = new Set(activeIds);
  return jobs.filter((j) => j.status === 'running' && !active.has(j.id) && !(Date.parse(j.resumedAt ?? j.startedAt) > askedAt)).map((j) => j.id);
}

export const INTERRUPTED_MESSAGE =
  'The engine stopped before this run finished (its process ended: killed, out of memory or restarted). What it had saved is kept in the session, and a resume goes on from its last saved step.';
