/**
 * Jobs the engine is running or has finished in this window: started through `runs.start`, followed
 * through the `job.progress` / `job.finished` events (issue 4's job queue, engineer C).
 */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { JobFinishedEvent, JobProgressEvent, RequestOf } from '../../../main/api/contract';
import { api } from '../api/client';
import { describeConfig as labelOf } from '../../../common/run-label';
import { INTERRUPTED_MESSAGE, interruptedJobs } from '../interrupted';
import { useSessionStore } from './session';

export type RunConfigInput = RequestOf<'runs.start'>['config'];

/** A job as the monitor shows it: the engine's last progress event plus what the window knows. */
export interface JobView extends JobProgressEvent {
  label: string;
  /** the session file the job writes into (null: JSON job files, no session) */
  session?: string | null;
  config?: RunConfigInput;
  /** the run's first start (a resumed run keeps it) */
  startedAt: string;
  /** when the run was last resumed (absent: never) */
  resumedAt?: string;
  /** interrupted: the engine no longer has it and never said it finished (its process ended; renderer/src/interrupted.ts) */
  status: 'running' | 'completed' | 'failed' | 'cancelled' | 'interrupted';
  result?: unknown;
  error?: JobFinishedEvent['error'];
  finishedAt?: string;
  /** the wizard's pilot estimate of the whole run (runs.estimate's totalSeconds), when it timed this very config */
  pilotSeconds?: number;
  /** when the last progress event came (ms since the epoch): the ETAs count down from it */
  progressAt?: number;
  /** what runs.start said on the way (a stale lock a killed process left, cleared: its file and whether its run can resume) */
  notices?: string[];
}

/** One label function for engine and window (common/run-label.ts). */
export function describeConfig(c: RunConfigInput): string {
  return labelOf(c);
}

export const useRunsStore = defineStore('runs', () => {
  const jobs = ref<JobView[]>([]);
  const find = (id: string) => jobs.value.find((j) => j.id === id);

  function upsert(id: string, patch: Partial<JobView>): JobView {
    let j = find(id);
    if (!j) {
      j = { id, label: id, startedAt: new Date().toISOString(), status: 'running', phase: 'queued', step: 0, of: 0, tokensPerSec: 0, etaSec: null };
      jobs.value = [j, ...jobs.value];
      j = find(id)!;
    }
    Object.assign(j, patch);
    return j;
  }

  api.on('job.progress', (e) => {
    const j = upsert(e.id, { phase: e.phase, step: e.step, of: e.of, tokensPerSec: e.tokensPerSec, etaSec: e.etaSec, message: e.message, progressAt: Date.now(), ...(e.overall !== undefined ? { overall: e.overall, overallBasis: e.overallBasis, phases: e.phases, phaseIndex: e.phaseIndex, overallEtaSec: e.overallEtaSec, phasesDone: e.phasesDone } : {}) });
    if (j.status !== 'running' && j.status !== 'completed') j.status = 'running';
  });
  api.on('job.finished', (e) => {
    upsert(e.id, { status: e.status, result: e.result, error: e.error, finishedAt: new Date().toISOString(), etaSec: null });
  });

  // after a reconnect (server restarted, network back) the running jobs come back with their labels and sessions
  api.onState((st) => {
    if (st === 'open') void loadActive().catch(() => undefined);
  });
  // the app restarts its engine process without the window's connection closing: while something runs, ask now and then
  const POLL_MS = 10_000;
  setInterval(() => {
    if (jobs.value.some((j) => j.status === 'running')) void loadActive().catch(() => undefined);
  }, POLL_MS);
  async function loadActive(): Promise<void> {
    const askedAt = Date.now();
    const list = await api.call('runs.active', {});
    const lost = interruptedJobs(jobs.value, list.map((a) => a.id), askedAt);
    for (const id of lost) upsert(id, { status: 'interrupted', error: { code: 'INTERRUPTED', message: INTERRUPTED_MESSAGE }, finishedAt: new Date().toISOString(), etaSec: null });
    // an engine that lost its jobs was restarted, with no session open: open the window's again there
    if (lost.length) void useSessionStore().reattach();
    for (const a of list) upsert(a.id, { phase: a.phase, step: a.step, of: a.of, tokensPerSec: a.tokensPerSec, etaSec: a.etaSec, startedAt: a.startedAt, ...(a.resumedAt ? { resumedAt: a.resumedAt } : {}), label: a.label ?? find(a.id)?.label ?? a.kind, session: a.session ?? undefined, ...(a.overall !== undefined ? { overall: a.overall, overallBasis: a.overallBasis, phases: a.phases, phaseIndex: a.phaseIndex, overallEtaSec: a.overallEtaSec, phasesDone: a.phasesDone } : {}) });
  }
  /** `firstStart`: a resumed run's first start when the window did not follow it (the session's record of it) */
  async function start(config: RunConfigInput, resume?: string, pilotSeconds?: number, firstStart?: string): Promise<string> {
    const { id, notices } = await api.call('runs.start', resume ? { config, resume } : { config });
    const at = new Date().toISOString();
    // a resumed run keeps its first start; the phases of the stopped process are the new one's to report
    const again = resume ? find(id) : undefined;
    if (again) Object.assign(again, { phasesDone: undefined, overallBasis: undefined, phases: undefined, phaseIndex: undefined, overall: undefined, overallEtaSec: undefined, error: undefined, result: undefined, finishedAt: undefined });
    upsert(id, { config, label: describeConfig(config), status: 'running', phase: 'starting', notices: notices?.length ? notices : undefined, ...(resume ? { startedAt: again?.startedAt ?? firstStart ?? at, resumedAt: at } : { startedAt: at }), ...(pilotSeconds !== undefined ? { pilotSeconds } : {}) });
    return id;
  }
  async function cancel(id: string): Promise<boolean> {
    const r = await api.call('runs.cancel', { id });
    return r.cancelled;
  }
  const running = computed(() => jobs.value.filter((j) => j.status === 'running'));
  return { jobs, running, find, loadActive, start, cancel };
});
