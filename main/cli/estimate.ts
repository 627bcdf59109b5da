/** `measure … --estimate` / `measure-series … --estimate`: the run's time from a short timed pilot (main/jobs/estimate.ts), nothing recorded. */
import type { RunEstimate } from '../api/domains/runs';
import type { Engine } from '../engine/engine';
import { cancelOnCtrlC, reportCancelled } from './ctrl-c';

export const ESTIMATE_USAGE = `  --estimate               time a short pilot (one or two batches) on this machine and provider and print how long
                           the run would take; measures nothing else, records nothing (Ctrl-C cancels it: exit 130)`;

const secs = (s: number) => (s >= 90 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s.toFixed(s < 10 ? 1 : 0)} s`);

/** The estimate of `config`, printed; Ctrl-C cancels the pilot (exit status 130, nothing recorded). */
export async function printEstimate(engine: Engine, config: Record<string, unknown>, json: boolean, command = 'measure'): Promise<number> {
  let e: RunEstimate;
  try {
    e = await cancelOnCtrlC(engine, 'runs.cancel', 'the estimate', (cancelId) => {
      if (!json) process.stderr.write('timing a short pilot on a slice of the text (Ctrl-C cancels)…\n');
      return engine.call('runs.estimate', { config, cancelId }) as Promise<RunEstimate>;
    });
  } catch (err) {
    const exit = reportCancelled(err, command, json);
    if (exit === undefined) throw err;
    return exit;
  }
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
