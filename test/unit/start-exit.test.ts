// `npm start` (scripts/start.mjs) when the process it launched was killed: a line saying so and a failing status, not
// a silent return to the prompt with status 0 (found by kill -9 on browser mode's server in a QA pass).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { expect, test } from 'vitest';

type Ended = (what: 'browser' | 'electron', code: number | null, signal: NodeJS.Signals | null) => { status: number; message?: string };
const load = async () => (await import(path.resolve(__dirname, '../../scripts/child-exit.mjs'))) as { childEnded: Ended };

test('a child killed with SIGKILL: status 137 and a line naming the signal, the new URL and Resume', async () => {
  const { childEnded } = await load();
  // a real process killed with SIGKILL, as the kernel reports it to a parent
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
  const ended = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('exit', (c, s) => r([c, s])));
  child.kill('SIGKILL');
  const [code, signal] = await ended;
  const end = childEnded('browser', code, signal);
  expect(end.status).toBe(137);
  expect(end.message).toMatch(/browser mode .* was killed \(SIGKILL\)/);
  expect(end.message).toMatch(/new URL/);
  expect(end.message).toMatch(/interrupted, with Resume/);
  expect(childEnded('electron', null, 'SIGKILL').message).toMatch(/^The Sparsity Lab app was killed \(SIGKILL\)/);
});

test('an exit code passes through; a stop asked for (SIGINT/SIGTERM) is not reported', async () => {
  const { childEnded } = await load();
  expect(childEnded('browser', 0, null)).toEqual({ status: 0 });
  expect(childEnded('browser', 3, null)).toEqual({ status: 3 });
  expect(childEnded('electron', null, 'SIGTERM')).toEqual({ status: 143 });
  expect(childEnded('browser', null, 'SIGINT')).toEqual({ status: 130 });
});
