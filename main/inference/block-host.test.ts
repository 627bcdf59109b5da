// The block-host worker (block-host.ts) on a cancel while one of its calls is inside a (here: held) run:
// - it is not terminated while the call may be in flight (terminating a thread inside onnxruntime-node's run() aborts
//   the whole process); it exits by itself once the call has returned;
// - the calls queued behind the cancel (a remote block takes every chunk's run at once) are not run: it exits after
//   the one in progress, not after all of them.
// The run is held by the test seam's busy wait (a native call cannot be made to last here), so the first check is of
// timing: before, the worker was ended at the grace, well before the held run returned.
import { afterEach, expect, test } from 'vitest';
import * as ort from 'onnxruntime-node';
import { DT, GraphBuilder } from '../graph/onnx-builder';
import { blockHostTesting, localBlockSession, RemoteBlockHost, type HostEvent } from './block-host';
import { summarizeStream } from './streamed';

afterEach(() => {
  blockHostTesting.runDelayMs = 0;
  blockHostTesting.graceMs = 5000;
});

/** y = x + 1 */
function addOne(): Uint8Array {
  const g = new GraphBuilder('add-one');
  g.input('x', DT.FLOAT, [4]);
  g.node('Add', ['x', g.f32('one', [1])], {}, ['y']);
  g.output('y', DT.FLOAT, [4]);
  return g.build();
}
const feeds = () => ({ x: new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4), [4]) });

async function started(ac: AbortController, runDelayMs: number, graceMs: number) {
  blockHostTesting.runDelayMs = runDelayMs;
  blockHostTesting.graceMs = graceMs;
  const events: HostEvent[] = [];
  const host = new RemoteBlockHost(ac.signal, events);
  await host.ready;
  const sess = await host.create(addOne(), {}, 'add');
  return { host, sess, events };
}

test('a worker inside a run is not terminated at the grace: it exits once the run has returned', async () => {
  const ac = new AbortController();
  const { host, sess } = await started(ac, 1500, 100);
  const run = sess.run(feeds());
  run.catch(() => undefined);
  await new Promise((r) => setTimeout(r, 200)); // the worker is inside the run
  const t0 = Date.now();
  ac.abort();
  await expect(run).rejects.toMatchObject({ code: 'CANCELLED' });
  await host.close();
  // ended at the grace (100 ms) before; now it waits for the held run's end (~1.3 s after the cancel)
  expect(Date.now() - t0).toBeGreaterThan(900);
});

test('the runs queued behind a cancel are skipped: the worker exits after the one in progress', async () => {
  const ac = new AbortController();
  const { host, sess } = await started(ac, 700, 5000);
  const runs = [0, 1, 2, 3].map(() => sess.run(feeds()));
  for (const r of runs) r.catch(() => undefined);
  await new Promise((r) => setTimeout(r, 150));
  const t0 = Date.now();
  ac.abort();
  await host.close();
  // before: every queued run (4 × 700 ms) ran after the cancel
  expect(Date.now() - t0).toBeLessThan(1500);
});

test('without a cancel the same host answers every run (y = x + 1); its events mark each session\'s first run and count the bytes', async () => {
  const ac = new AbortController();
  const { host, sess, events } = await started(ac, 0, 5000);
  const outs = await Promise.all([0, 1].map(() => sess.run(feeds())));
  for (const o of outs) expect(Array.from(o.y.data as Float32Array)).toEqual([2, 3, 4, 5]);
  const second = await host.create(addOne(), {}, 'add2');
  await second.run(feeds());
  const runs = events.filter((e) => e.what === 'run');
  expect(runs.map((e) => [e.label, e.first])).toEqual([['add', true], ['add', false], ['add2', true]]);
  expect(runs.every((e) => e.ioBytes === 32)).toBe(true); // x in, y out: 4 floats each
  await sess.release();
  await second.release();
  await host.close();
});

test('a local block session marks its first run too, and summarizeStream splits first and later runs by family', async () => {
  const events: HostEvent[] = [];
  const local = localBlockSession(await ort.InferenceSession.create(addOne()), events, 'search 0-2');
  for (let i = 0; i < 3; i++) await local.run(feeds());
  expect(events.map((e) => e.first)).toEqual([true, false, false]);
  const t = (what: 'create' | 'run', label: string, start: number, end: number, first?: boolean): HostEvent => ({ what, host: 'local', label, start, end, first, ioBytes: 10 });
  const timeline = [t('create', 'search 0-2', 0, 500), t('run', 'search 0-2', 500, 1500, true), t('run', 'search 0-2', 1500, 1800, false), t('run', 'search 0-2', 1800, 2200, false), t('create', 'cett 0-2', 2200, 2300), t('run', 'cett 0-2', 2300, 2400, true)];
  const s = summarizeStream({ sessionLoads: 2, calls: 4, overlap: false, timeline });
  expect(s.search.creates).toEqual({ n: 1, ms: 500, meanMs: 500, maxMs: 500 });
  expect(s.search.firstRuns).toEqual({ n: 1, ms: 1000, meanMs: 1000, maxMs: 1000 });
  expect(s.search.laterRuns).toEqual({ n: 2, ms: 700, meanMs: 350, maxMs: 400 });
  expect(s.forward.firstRuns.n).toBe(1);
  expect(s.forward.laterRuns.n).toBe(0);
  expect(s.runMs).toBe(1000 + 300 + 400 + 100);
  expect(s.search.ioGB).toBe(0);
  await local.release();
});
