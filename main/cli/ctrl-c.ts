/**
 * Ctrl-C during an engine request the CLI waits on (`measure --estimate`, `fit`; issue 19): the request carries a
 * cancelId and the first SIGINT sends the engine's cancel for it (runs.cancel / laws.cancel, main/engine/cancellable.ts),
 * so the pilot or the laws worker stops and what it opened is released before the process exits; a second Ctrl-C
 * ends the process at once (Node's default). A job's Ctrl-C is measure.ts's (runs.cancel with the job id).
 */
import { randomUUID } from 'node:crypto';
import { LabError } from '../api/errors';
import type { Engine } from '../engine/engine';

/** the exit status of a command ended by Ctrl-C (128 + SIGINT, as a cancelled `measure` job's) */
export const EXIT_CANCELLED = 130;

/**
 * Runs `work` with a cancelId for its requests; Ctrl-C cancels the one running and `check` (to call between requests)
 * throws CANCELLED ("`what` was cancelled") once Ctrl-C was pressed.
 */
export async function cancelOnCtrlC<T>(engine: Engine, cancel: 'runs.cancel' | 'laws.cancel', what: string, work: (cancelId: string, check: () => void) => Promise<T>): Promise<T> {
  const cancelId = `cli-${process.pid}-${randomUUID().slice(0, 8)}`;
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    void engine.call(cancel, { id: cancelId }).catch(() => undefined);
  };
  process.once('SIGINT', onSigint);
  try {
    return await work(cancelId, () => {
      if (interrupted) throw new LabError('CANCELLED', `${what} was cancelled`);
    });
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

/** A CANCELLED error said in one line (and as JSON with --json): the exit status; undefined for any other error. */
export function reportCancelled(err: unknown, command: string, json: boolean): number | undefined {
  if (!(err instanceof LabError) || err.code !== 'CANCELLED') return undefined;
  if (json) console.log(JSON.stringify({ error: { code: err.code, message: err.message }, status: 'cancelled' }));
  console.error(`${command}: cancelled (Ctrl-C): ${err.message}; nothing was recorded`);
  return EXIT_CANCELLED;
}
