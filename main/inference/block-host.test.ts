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
import { blockHostTesting, RemoteBlockHost, type HostEvent } from './block-host';

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

test('without a cancel the same host answers every run (y = x + 1)', async () => {
  const ac = new AbortController();
  const { host, sess } = await started(ac, 0, 5000);
  const outs = await Promise.all([0, 1].map(() => sess.run(feeds())));
  for (const o of outs) expect(Array.from(o.y.data as Float32Array)).toEqual([2, 3, 4, 5]);
  await sess.release();
  await host.close();
});
