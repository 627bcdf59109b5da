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

test("settleInferenceWorkers also waits for a streamed runner's block-host worker on the same thread: process.exit after it, never inside the block's run", async () => {
  // a block of chained 1024² MatMuls (≈ 1 s on one core here) runs in a block-host worker of this (the engine's) thread
  const file = path.join(tmp, 'block-host.mts');
  fs.writeFileSync(
    file,
    `import { DT, GraphBuilder } from ${mod('main/graph/onnx-builder.ts')};
import { fromWire, RemoteBlockHost } from ${mod('main/inference/block-host.ts')};
import { settleInferenceWorkers } from ${mod('main/inference/runner-off-thread.ts')};
const N = 1024;
const g = new GraphBuilder('chain');
g.input('x', DT.FLOAT, [N, N]);
let y = 'x';
for (let i = 0; i < 12; i++) { g.node('MatMul', [y, 'x'], {}, ['m' + i]); y = 'm' + i; }
g.node('Identity', [y], {}, ['y']);
g.output('y', DT.FLOAT, [N, N]);
const host = new RemoteBlockHost(undefined, []);
await host.ready;
const sess = await host.create(g.build(), { intraOpNumThreads: 1 }, 'chain');
const x = fromWire({ type: 'float32', data: new Float32Array(N * N).fill(1e-3), dims: [N, N] });
let ended = false;
void sess.run({ x }).catch(() => undefined).finally(() => (ended = true));
await new Promise((r) => setTimeout(r, 200));
console.log(ended ? 'the run had ended' : 'inside the run');
console.log('settled', await settleInferenceWorkers());
process.exit(0);
`,
  );
  const r = run(file);
  expect(r.stderr).not.toMatch(/Napi::Error|Aborted/);
  expect(r.stdout).toBe('inside the run\nsettled true\n');
  expect(r.status).toBe(0);
}, 60_000);

test("a cancel while the inference worker's streamed runner creates a block's session in its own block-host worker: the worker is not ended until that call has returned", async () => {
  // 4 paged blocks of 4.2 M parameters (a session's creation ≈ 0.1 s each here), created in turn on the runner's thread
  // and its block-host worker. After a cancel the inference worker answers at once (no call of its own in flight) while
  // its block host may still be inside a creation: a backstop that ended it then (here its grace is 30-480 ms) aborted
  // the process. Ten cancels at different moments of a forward pass.
  const dir = writeTinyCheckpoint(path.join(tmp, 'blocks'), 'llama', { layers: 4, hidden: 512, intermediate: 2048, heads: 4, activation: 'silu', std: 0.02 });
  const file = path.join(tmp, 'nested.mts');
  fs.writeFileSync(
    file,
    `import os from 'node:os';
import { loadCheckpoint } from ${mod('main/checkpoint/load.ts')};
import { openRunnerOffThread, STOP_GRACE } from ${mod('main/inference/runner-off-thread.ts')};
import { planExecution, weightBytesByLayer } from ${mod('main/inference/plan.ts')};
const ckpt = await loadCheckpoint(${JSON.stringify(dir)}, { hash: false, scanFinite: false });
const S = 16, B = 4;
// the smallest cap at which blocks of one layer are paged with overlap (streamed-overlap.test.ts)
const input = (cap: number) => ({ spec: ckpt.spec, provider: 'cpu', dtype: 'float32', fused: false, seqLen: S, batchSeqs: B, searchTokens: B * S, execution: 'streamed', blockLayers: 1, ...weightBytesByLayer(ckpt, { dtype: 'float32', halfWeights: true }), mem: { free: os.freemem(), total: os.totalmem(), source: 'test' }, capBytes: cap, overlap: true, pagedWeights: 'sessions' }) as never;
// a session per paged block (the form whose creations run in the block host; blocks fed as inputs create none)
let cap = 16_000;
while (!planExecution(input(cap)).overlap) {
  cap = Math.ceil(cap * 1.05);
  if (cap > 2 ** 34) throw new Error('no cap pages these blocks with overlap');
}
const ids = Int32Array.from({ length: B * S }, (_, i) => (i * 31) % 250);
for (let i = 0; i < 10; i++) {
  // the grace ends after the worker's answer to the cancel and within the block's creation at one of these (a machine
  // under load answers later)
  STOP_GRACE.ms = [30, 60, 120, 240, 480][i % 5];
  const ac = new AbortController();
  const runner = await openRunnerOffThread(ckpt, { provider: 'cpu', maxSeq: S, batchSeqs: B, execution: 'streamed', blockLayers: 1, deviceMemoryBytes: cap, blockOverlap: true, pagedWeights: 'sessions', signal: ac.signal });
  if (i === 0) console.log(runner.plan?.mode, runner.fallbackReasons.length);
  void runner.forward({ ids, batch: B, seqLen: S, mode: { kind: 'dense' } }).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 20 + ((i * 37) % 200)));
  ac.abort();
  await runner.dispose();
}
console.log('cancelled 10 times');
`,
  );
  const r = run(file);
  expect(r.stderr).not.toMatch(/Napi::Error|Aborted/);
  expect(r.stdout).toBe('streamed 0\ncancelled 10 times\n'); // streamed, its block host started (no fallback reason)
  expect(r.status).toBe(0);
}, 90_000);
