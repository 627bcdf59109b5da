/**
 * The CLI's progress line (stderr, one per progress event of `measure` / `measure-series`): what the app's run monitor
 * shows (renderer RunProgress.vue and eta.ts), in words. The run's figure is said with its basis
 * (main/jobs/progress.ts): "run 84% of its time" once every kind of phase to come has a rate; before that the figure is
 * only the share of forward passes, which on the CPU says 7% where 75% of the time has gone, so the line says
 * "run: estimating…" with that share named as what it is, as the monitor shows a busy bar and "…" then. ETAs not known
 * yet (the first, warm-up steps of a phase) are "estimating…", never left out.
 */
import type { JobProgressEvent } from '../api/domains/runs';

const eta = (s: number | null | undefined) => (typeof s === 'number' && Number.isFinite(s) ? `${Math.max(0, s).toFixed(0)} s` : 'estimating…');

/** why the run's share of time is not known yet (said once, on the first line that says "estimating…") */
export const ESTIMATING_WHY = "the run's share of time is known once each kind of phase to come has a rate (a few steady steps of it)";

/**
 * One line for event `p`. `explain`: add ESTIMATING_WHY when the run's figure is "estimating…" (the caller says it once).
 */
export function progressLine(p: JobProgressEvent, explain = false): string {
  // the phase as the monitor lists it ('search p=5%' in a p% sweep), its steps; an event outside the plan by its name
  const listed = p.phases?.[p.phaseIndex ?? -1];
  const label = listed !== undefined && listed.split(' ')[0] === p.phase ? listed : p.phase;
  const parts = [`[${label}${p.of > 0 ? ` ${p.step}/${p.of}` : ''}]`, `${Math.round(p.tokensPerSec)} tok/s`, `phase ETA ${eta(p.etaSec)}`];
  if (typeof p.overall === 'number') {
    if (p.overallBasis === 'work') {
      parts.push(`run: estimating… (${(100 * p.overall).toFixed(0)}% of its forward passes done${explain ? `; ${ESTIMATING_WHY}` : ''}), ETA ${eta(p.overallEtaSec)}`);
    } else parts.push(`run ${(100 * p.overall).toFixed(0)}% of its time, ETA ${eta(p.overallEtaSec)}`);
  }
  if (p.message) parts.push(p.message);
  return parts.join(' · ');
}
