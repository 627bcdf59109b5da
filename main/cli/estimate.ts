/** `measure … --estimate` / `measure-series … --estimate`: the run's time from a short timed pilot (main/jobs/estimate.ts), nothing recorded. */
import type { RunEstimate } from '../api/domains/runs';
import type { Engine } from '../engine/engine';

export const ESTIMATE_USAGE = `  --estimate               time a short pilot (one or two batches) on this machine and provider and print how long
                           the run would take; measures nothing else, records nothing`;

const secs = (s: number) => (s >= 90 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s.toFixed(s < 10 ? 1 : 0)} s`);

export async function printEstimate(engine: Engine, config: Record<string, unknown>, json: boolean): Promise<number> {
  const e = (await engine.call('runs.estimate', { config })) as RunEstimate;
  if (json) {
    console.log(JSON.stringify(e, null, 2));
    return 0;
  }
  const b = e.breakdown;
  console.log(
    `estimate: about ${secs(e.totalSeconds)} on ${e.provider} (${e.dtype}), ${e.forwardPasses} forward passes` +
      (b ? ` — reading and opening ${secs(b.setupSeconds)}, dense pass ${secs(b.denseSeconds)}, search ${secs(b.searchSeconds)}, final ${secs(b.finalSeconds)}` : '') +
      (e.pilotSeconds !== undefined ? ` (from a ${secs(e.pilotSeconds)} pilot on a slice of the text)` : ''),
  );
  return 0;
}
