// Issue 19, "one engine request never blocks the others" (main/inference/runner-off-thread.ts): a measurement on a model
// just above RUNNER_OFF_THREAD_WORK runs in the inference worker, and the engine answers runs.active throughout (its
// loop's longest gap under half a pass of the same run: ≈ 0.1 s on the idle machine); the same job with its runner forced onto the engine's thread holds the loop for its onnxruntime calls
// (the test could fail); both give the same numbers. An .onnx export of the model likewise.
import { afterAll, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCheckpoint } from '../../main/checkpoint/load';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';
import { buildLlamaGraph } from '../../main/graph/llama-graph';
import { cachedModelSource, type ModelSource } from '../../main/jobs/models';
import { parameterCount, RUNNER_OFF_THREAD_WORK, runnerOffThread } from '../../main/inference/runner-off-thread';
import { stallMeter } from '../helpers/event-loop';
import { ferryText, testEngine } from './engine-fixture';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-inference-job-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** the measurement `config` as a job of an engine at `home`, its runner where `offThread` says; measured from the job's first progress */
async function measureJob(config: Record<string, unknown>, home: string, offThread: 'auto' | 'never') {
  const { e, finished } = testEngine(home);
  const base = cachedModelSource(path.join(home, 'cache', 'graphs'));
  e.ctx.services.set('runs.models', { ...base, openTarget: (c, o, t) => base.openTarget(c, { ...o, offThread }, t) } satisfies ModelSource);
  await e.call('runs.active', {}); // the engine's first answer (lazy imports) before anything is timed
  // measured from the job's first progress (its runner opened, its passes to come): the checkpoint's open, its hash
  // and the text's tokenization before it are not the runner's (and have their own off-thread paths)
  let computing = false;
  e.onEvent((ev) => ev === 'job.progress' && (computing = true));
  const { id } = (await e.call('runs.start', { config })) as { id: string };
  while (!computing) await new Promise((r) => setTimeout(r, 2));
  const started = performance.now();
  let done = false;
  const end = finished(id).then((f) => ((done = true), f));
  let worst = 0;
  let asked = 0;
  // a request that arrives (from a window, the CLI) while the loop stands still waits that long: the longest gap is
  // how late runs.active could be answered; the ones asked here are answered within `worst`
  const meter = stallMeter();
  while (!done) {
    const t0 = performance.now();
    await e.call('runs.active', {});
    worst = Math.max(worst, performance.now() - t0);
    asked++;
    await new Promise((r) => setTimeout(r, 10));
  }
  const stall = meter.stop();
  const f = await end;
  // the mean time of one forward pass in this run (the passes are all of one size: one batch of 4 × 256 tokens), under
  // whatever else the machine runs meanwhile: a pass held on the engine's thread stops its loop for most of it
  const passes = (f.result as { forwardPasses?: number } | undefined)?.forwardPasses ?? NaN;
  const passMs = (performance.now() - started) / passes;
  await e.dispose();
  return { f, worst, asked, stall, passMs };
}

/**
 * the worker keeps the engine's thread turning: its longest gap (the engine's own work on a result, tens of ms; and
 * what the scheduler takes on a loaded machine: 456 ms once beside the suite at load 5) is well under half a pass of the
 * same run: both are measured beside the same other load, so the bound follows it (an absolute 300 ms failed under
 * load); a runner back on the engine's thread holds the loop for a whole pass (≈ 0.4 s on the idle 2-core dev machine,
 * seconds under load) and fails it, as the same job with its runner forced there shows.
 */
function expectAnswering(off: Awaited<ReturnType<typeof measureJob>>, on: Awaited<ReturnType<typeof measureJob>>) {
  expect(off.passMs).toBeGreaterThan(0);
  expect(on.stall).toBeGreaterThan(Math.max(250, on.passMs / 2)); // on the thread: a pass holds it (the test could fail)
  expect(off.stall).toBeLessThan(off.passMs / 2);
  // a runs.active asked meanwhile waits at most for such a gap (within 100 ms on the idle machine)
  expect(off.worst).toBeLessThan(off.passMs / 2);
}

/** the job in the inference worker and forced onto the engine's thread: both complete with the same numbers, and only
 * the worker's keeps the engine answering (expectAnswering) */
async function inWorkerAndOnThread(config: Record<string, unknown>, prefix: string, what: string): Promise<void> {
  const off = await measureJob(config, path.join(tmp, `${prefix}auto`), 'auto');
  const on = await measureJob(config, path.join(tmp, `${prefix}never`), 'never');
  console.log(`${what}: runs.active answered within ${off.worst.toFixed(0)} ms (${off.asked} asked), longest event-loop gap ${off.stall.toFixed(0)} ms, a pass ${off.passMs.toFixed(0)} ms; on the engine's thread: the longest gap ${on.stall.toFixed(0)} ms, a pass ${on.passMs.toFixed(0)} ms`);
  expect(off.f.status).toBe('completed');
  expect(on.f.status).toBe('completed');
  const numbers = (r: unknown) => {
    const x = r as { cett: number; activationRatio: number; ppl: { dense: number; sparse: number } };
    return [x.cett, x.activationRatio, x.ppl];
  };
  expect(numbers(off.f.result)).toEqual(numbers(on.f.result));
  expectAnswering(off, on);
}

test('a job on a model above the threshold computes in the inference worker: runs.active is answered throughout, within half a pass (on the thread: not)', async () => {
  // one narrow layer and a 32k vocabulary: the head dominates onnxruntime's work (33.7 M parameters × 4 × 256 tokens per
  // call = 3.5·10^10, a call ≈ 0.4 s on the idle 2-core dev machine, seconds beside other work), the engine's own work on a call's results is small (one layer of 256 neurons)
  const ck = writeTinyCheckpoint(path.join(tmp, 'model'), 'llama', { hidden: 512, layers: 1, intermediate: 256, heads: 8, vocab: 32000, maxPositions: 256, std: 0.3 });
  const data = path.join(tmp, 'eval.txt');
  fs.writeFileSync(data, ferryText(200));
  const config = { kind: 'measure', checkpoint: ck, data, tokens: 1024, seqLen: 256, batch: 4, tol: 1e-2, provider: 'cpu', method: 'cett-ppl', p: 1 };
  const ckpt = await loadCheckpoint(ck, { hash: false, scanFinite: false });
  const work = parameterCount(ckpt) * 4 * 256;
  expect(work).toBeGreaterThan(RUNNER_OFF_THREAD_WORK);
  expect(work).toBeLessThan(50 * RUNNER_OFF_THREAD_WORK);
  expect(runnerOffThread(ckpt, { batchSeqs: 4, maxSeq: 256 })).toBe(true);

  await inWorkerAndOnThread(config, '', 'in the worker');
}, 120_000);

test('an .onnx export of such a model computes in the inference worker too: the same numbers, the engine answering throughout', async () => {
  const hfDir = writeTinyCheckpoint(path.join(tmp, 'onnx-hf'), 'llama', { hidden: 512, layers: 1, intermediate: 256, heads: 8, vocab: 32000, maxPositions: 256, std: 0.3 });
  const dir = path.join(tmp, 'onnx');
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(hfDir)) if (f.endsWith('.json')) fs.copyFileSync(path.join(hfDir, f), path.join(dir, f));
  const file = path.join(dir, 'model.onnx');
  fs.writeFileSync(file, buildLlamaGraph(await loadCheckpoint(hfDir), { dtype: 'float32', mode: 'dense', capture: false, maxSeq: 256, plain: true }));
  const data = path.join(tmp, 'eval-onnx.txt');
  fs.writeFileSync(data, ferryText(200));
  const config = { kind: 'measure', checkpoint: file, data, tokens: 1024, seqLen: 256, batch: 4, tol: 1e-2, provider: 'cpu', method: 'cett-ppl', p: 1 };
  const ckpt = await loadCheckpoint(file, { hash: false });
  expect(ckpt.format).toBe('onnx');
  expect(runnerOffThread(ckpt, { batchSeqs: 4, maxSeq: 256 })).toBe(true);
  await inWorkerAndOnThread(config, 'onnx-', '.onnx in the worker');
}, 120_000);
