// WorkerLifetime (worker-thread.ts): the backstop that ends a stopped worker only when none of its calls may be inside a
// native call, and the register settleWorkerThreads() stops before process.exit(). The workers here are small eval'd
// scripts: 'hold' busy-waits as a native call would block its thread; 'stop' is ignored (a worker whose release hangs)
// or obeyed, as the case says. A terminated thread exits with code 1, one that ends by itself with 0.
import { Worker } from 'node:worker_threads';
import { afterEach, expect, test } from 'vitest';
import { countNestedCalls, settleWorkerThreads, WorkerLifetime } from './worker-thread';

const started: Worker[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((w) => w.terminate()));
});

/** a worker that answers 'hold' after busy-waiting `ms`, and on 'stop' exits (obey) or does nothing (ignore) */
function spawn(onStop: 'obey' | 'ignore'): { worker: Worker; code: Promise<number>; replies: string[] } {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     parentPort.on('message', (m) => {
       if (m.op === 'hold') { const until = Date.now() + m.ms; while (Date.now() < until) {} parentPort.postMessage('held'); }
       else if (m.op === 'stop' && ${onStop === 'obey'}) setImmediate(() => process.exit(0));
     });
     parentPort.postMessage('ready');`,
    { eval: true },
  );
  started.push(worker);
  const replies: string[] = [];
  worker.on('message', (m: string) => replies.push(m));
  const code = new Promise<number>((r) => worker.once('exit', r));
  return { worker, code, replies };
}
const ready = (w: Worker) => new Promise<void>((r) => w.once('message', () => r()));

test('a stopped worker with no call in flight that does not exit is terminated after the grace; told once', async () => {
  const { worker, code } = spawn('ignore');
  await ready(worker);
  let told = 0;
  const life = new WorkerLifetime(worker, { graceMs: () => 100, tell: () => (told++, worker.postMessage({ op: 'stop' })) });
  const t0 = Date.now();
  const a = life.stop();
  const b = life.stop();
  expect(life.stopping).toBe(true);
  await Promise.all([a, b]);
  expect(await code).toBe(1); // terminated
  expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
  expect(told).toBe(1);
});

test('a worker with a call in flight at the grace is not terminated: it exits by itself after the call', async () => {
  const { worker, code, replies } = spawn('obey');
  await ready(worker);
  const life = new WorkerLifetime(worker, { graceMs: () => 50, tell: () => worker.postMessage({ op: 'stop' }) });
  worker.on('message', (m: string) => m === 'held' && life.answered());
  life.posted();
  worker.postMessage({ op: 'hold', ms: 600 });
  expect(life.inFlight).toBe(1);
  const t0 = Date.now();
  await life.stop();
  // the grace (50 ms) passed while the call held the thread; it was let finish and then obeyed the stop
  expect(await code).toBe(0);
  expect(replies).toContain('held');
  expect(Date.now() - t0).toBeGreaterThan(300);
  expect(life.inFlight).toBe(0);
});

test('once its calls are answered, a worker that does not exit is terminated at the grace as before', async () => {
  const { worker, code } = spawn('ignore');
  await ready(worker);
  const life = new WorkerLifetime(worker, { calls: 1, graceMs: () => 100, tell: () => worker.postMessage({ op: 'stop' }) });
  life.answered();
  life.answered(); // never below zero
  expect(life.inFlight).toBe(0);
  await life.stop();
  expect(await code).toBe(1);
});

test('settleWorkerThreads stops every registered worker and waits for its exit; false when one outlasts the limit', async () => {
  const a = spawn('obey');
  const b = spawn('obey');
  await Promise.all([ready(a.worker), ready(b.worker)]);
  for (const s of [a, b]) new WorkerLifetime(s.worker, { graceMs: () => 5000, tell: () => s.worker.postMessage({ op: 'stop' }) });
  expect(await settleWorkerThreads(5000)).toBe(true);
  expect(await Promise.all([a.code, b.code])).toEqual([0, 0]);
  expect(await settleWorkerThreads(10)).toBe(true); // the register is empty once they have exited

  // one held in a call past the limit (never terminated: its call is in flight) makes settle answer false
  const c = spawn('obey');
  await ready(c.worker);
  const life = new WorkerLifetime(c.worker, { graceMs: () => 10, tell: () => c.worker.postMessage({ op: 'stop' }) });
  c.worker.on('message', (m: string) => m === 'held' && life.answered());
  life.posted();
  c.worker.postMessage({ op: 'hold', ms: 800 });
  expect(await settleWorkerThreads(100)).toBe(false);
  expect(await c.code).toBe(0); // then exits by itself once the call returned
});

test("a stopped worker is not ended while its nested workers have a call in flight: the backstop starts over, then ends it", async () => {
  const { worker, code } = spawn('ignore');
  await ready(worker);
  const nested = new Int32Array(new SharedArrayBuffer(4));
  Atomics.store(nested, 0, 1); // the worker's own block host is inside a session's creation
  const life = new WorkerLifetime(worker, { nested, graceMs: () => 50, tell: () => worker.postMessage({ op: 'stop' }) });
  void life.stop();
  await new Promise((r) => setTimeout(r, 400)); // eight graces
  let exitCode: number | undefined;
  void code.then((c) => (exitCode = c));
  expect(exitCode).toBeUndefined();
  const t0 = Date.now();
  Atomics.store(nested, 0, 0); // the nested call returned (the nested worker exited)
  expect(await code).toBe(1); // ended at the next grace, as any worker that does not exit after a stop
  expect(Date.now() - t0).toBeLessThan(2000);
});

test('countNestedCalls: the lifetimes made on a thread add their calls in flight to its counter, until answered or exited', async () => {
  const counter = new Int32Array(new SharedArrayBuffer(4));
  countNestedCalls(counter);
  try {
    const a = spawn('obey');
    const b = spawn('obey');
    await Promise.all([ready(a.worker), ready(b.worker)]);
    const la = new WorkerLifetime(a.worker, { calls: 1, graceMs: () => 5000, tell: () => a.worker.postMessage({ op: 'stop' }) });
    const lb = new WorkerLifetime(b.worker, { graceMs: () => 5000, tell: () => b.worker.postMessage({ op: 'stop' }) });
    lb.posted();
    lb.posted();
    expect(Atomics.load(counter, 0)).toBe(3);
    la.answered();
    la.answered(); // nothing more in flight: the count does not go below what was posted
    expect(Atomics.load(counter, 0)).toBe(2);
    await lb.stop(); // exits with two calls unanswered: they no longer count
    expect(Atomics.load(counter, 0)).toBe(0);
    await la.stop();
    expect(Atomics.load(counter, 0)).toBe(0);
  } finally {
    countNestedCalls(undefined);
  }
});
