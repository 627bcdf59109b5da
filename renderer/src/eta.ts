/**
 * The run monitor's ETA line (issue 18: an honest ETA). The engine's whole-run figure (overallEtaSec,
 * main/jobs/progress.ts) leaves out each phase's first, warm-up step and is null until a few steady steps are done; it is
 * counted down from the event that brought it. Meanwhile the wizard's pilot estimate for the same config, less the time
 * so far, marked as such; else "estimating…". An engine without the figure: the time so far scaled by the overall
 * fraction (the phase's ETA without one).
 */
import { fmtDuration } from './format';

/** What of a job (stores/runs.ts JobView) the line reads. */
export interface EtaJob {
  status: string;
  startedAt: string;
  /** a resumed job: when it was resumed (its time so far counts from there: the pilot never timed the part before) */
  resumedAt?: string;
  overall?: number;
  overallEtaSec?: number | null;
  etaSec: number | null;
  pilotSeconds?: number;
  progressAt?: number;
}

export function etaLine(j: EtaJob, now: number): { text: string; title: string } {
  const elapsed = now - new Date(j.resumedAt ?? j.startedAt).getTime();
  const running = j.status === 'running';
  if (running && typeof j.overallEtaSec === 'number') {
    const since = j.progressAt !== undefined ? Math.max(0, now - j.progressAt) : 0;
    return { text: fmtDuration(Math.max(0, j.overallEtaSec * 1000 - since)), title: 'From the rate of the steps done so far, each phase’s first (warm-up) step left out' };
  }
  // an engine without overallEtaSec
  const old = j.overallEtaSec !== undefined ? null : typeof j.overall !== 'number' ? (j.etaSec === null ? null : j.etaSec * 1000) : j.overall > 0.02 && elapsed > 0 ? (elapsed * (1 - j.overall)) / j.overall : null;
  if (old !== null) return { text: fmtDuration(old), title: '' };
  if (!running) return { text: '—', title: '' };
  // running, no figure yet (before its first events, or too few steady steps)
  const left = j.pilotSeconds !== undefined ? j.pilotSeconds * 1000 - elapsed : -1;
  if (left > 0) return { text: `≈ ${fmtDuration(left)} (pilot)`, title: 'The wizard’s timed pilot less the time so far, until the run’s own steps give a rate' };
  return { text: 'estimating…', title: 'The first steps carry one-off costs (session creation, warm-up): the ETA comes after a few steady steps' };
}
