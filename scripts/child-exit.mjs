// How `npm start` ends when the process it launched (the Electron app, or browser mode's server) ended.
import os from 'node:os';

/**
 * Its exit code; killed by a signal (kill -9, the kernel's out-of-memory killer) 128 + the signal's number and a line
 * saying what happened and what to do — `npm start` used to return to the prompt silently with status 0, and the
 * page it had printed kept "reconnecting…". SIGINT/SIGTERM (Ctrl-C, a stop asked for) are not news.
 * @param {'browser' | 'electron'} what
 * @param {number | null} code
 * @param {NodeJS.Signals | null} signal
 * @returns {{ status: number, message?: string }}
 */
export function childEnded(what, code, signal) {
  if (!signal) return { status: code ?? 0 };
  const status = 128 + (os.constants.signals[signal] ?? 0);
  if (signal === 'SIGINT' || signal === 'SIGTERM') return { status };
  const which = what === 'browser' ? "Sparsity Lab's browser mode (the engine and its page server)" : 'The Sparsity Lab app';
  return {
    status,
    message:
      `${which} was killed (${signal}). A run in progress stopped at its last saved step: start the lab again` +
      (what === 'browser' ? ' (npm start) and open the new URL it prints (each launch has its own token);' : ' (npm start);') +
      ' the session shows the run as interrupted, with Resume.',
  };
}
