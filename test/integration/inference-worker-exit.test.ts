// Issue 19: terminating a worker thread, or process.exit(), while it is inside onnxruntime-node's run() aborts the whole
// process ("terminate called after throwing an instance of 'Napi::Error'", exit status 134). The inference worker is
// never terminated while a call may be in flight (a cancel lets the call end; the runner's 5 s grace applied to idle
// workers only), and settleInferenceWorkers() lets the calls end before process.exit(). Each case runs in a process of
// its own (an abort would end the test runner's).
import { afterAll, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-worker-exit-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const root = path.resolve(__dirname, '../..');
const mod = (p: string) => JSON.stringify(path.join(root, p));

/** a script that opens the runner of `dir` in the inference worker and queues dense calls of seconds in all, then `then` */
function script(name: string, dir: string, then: string): string {
  const file = path.join(tmp, `${name}.mts`);
  fs.writeFileSync(
    file,
    `import { loadCheckpoint } from ${mod('main/checkpoint/load.ts')};
import { openRunnerOffThread, settleInferenceWorkers, STOP_GRACE } from ${mod('main/inference/runner-off-thread.ts')};
void settleInferenceWorkers; void STOP_GRACE;
const ckpt = await loadCheckpoint(${JSON.stringify(dir)}, { hash: false, scanFinite: false });
const ac = new AbortController();
const runner = await openRunnerOffThread(ckpt, { provider: 'cpu', maxSeq: 1024, batchSeqs: 4, signal: ac.signal });
const ids = Int32Array.from({ length: 4 * 1024 }, (_, i) => (i * 7919) % 32000);
let settled = false;
const calls = Array.from({ length: 4 }, () => runner.forward({ ids, batch: 4, seqLen: 1024, mode: { kind: 'dense' } }));
for (const c of calls) void c.catch(() => undefined);
void calls[0].catch(() => undefined).finally(() => (settled = true));
await new Promise((r) => setTimeout(r, 200));
console.log(settled ? 'the call had ended' : 'inside the call');
${then}
`,
  );
  return file;
}

const run = (file: string) => spawnSync(process.execPath, [path.join(root, 'bin/run-ts'), file], { cwd: root, encoding: 'utf8', timeout: 90_000 });

test('a cancel during a native call, past the grace: the worker is let finish (terminating it aborted the process); process.exit after settleInferenceWorkers', async () => {
  // a 32k vocabulary: a dense call of 4 × 1024 tokens takes ≈ 0.6 s on the idle 2-core dev machine, the 4 queued ≈ 2.5 s
  const dir = writeTinyCheckpoint(path.join(tmp, 'long'), 'llama', { hidden: 256, layers: 2, intermediate: 512, heads: 4, vocab: 32000, maxPositions: 1024 });
  const cancel = run(
    script(
      'cancel',
      dir,
      `STOP_GRACE.ms = 20; // the grace passes while the calls run
ac.abort();
await new Promise((r) => setTimeout(r, 1000));
await runner.dispose(); // settles when the worker has exited, after its call
console.log('still here after the grace, worker exited');`,
    ),
  );
  expect(cancel.stderr).not.toMatch(/Napi::Error|Aborted/);
  expect(cancel.stdout).toBe('inside the call\nstill here after the grace, worker exited\n');
  expect(cancel.status).toBe(0);

  const exit = run(script('exit', dir, `console.log('settled', await settleInferenceWorkers());\nprocess.exit(0);`));
  expect(exit.stderr).not.toMatch(/Napi::Error|Aborted/);
  expect(exit.stdout).toBe('inside the call\nsettled true\n');
  expect(exit.status).toBe(0);
}, 120_000);
