// Issue 19 "cancel works during every phase": a cancel that comes while onnxruntime creates a session (a step that
// cannot be interrupted) ends the job at once, cancelled, with its saved state kept; the session that arrives later is
// released and nothing more is written for the job; a resume gives the uninterrupted answer. A real tiny checkpoint on
// the CPU; the session creation is held back through graph-store.ts's test seam (sessionFactory), not timed.
import { afterAll, afterEach, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { Engine } from '../../main/engine/engine';
import type { JobFinishedEvent } from '../../main/api/domains/runs';
import { sessionFactory } from '../../main/inference/graph-store';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-cancel-sess-'));
const realCreate = sessionFactory.create;
afterEach(() => (sessionFactory.create = realCreate));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// a training series of two checkpoints: the second one's sessions are created after the first one's steps were saved
const ckpts = [5, 6].map((seed) => writeTinyCheckpoint(path.join(tmp, `tiny-${seed}`), 'llama', { seed, layers: 2 }));
const text = path.join(tmp, 'eval.txt');
fs.writeFileSync(text, 'the quick brown fox jumps over the lazy dog; a stitch in time saves nine. '.repeat(40));
const config = { kind: 'measure-series', checkpoints: ckpts.map((p, i) => ({ path: p, tokensSeen: (i + 1) * 1e6 })), data: text, p: 5, tokens: 256, seqLen: 32, batch: 4, provider: 'cpu' };

function engine(name: string) {
  const ud = path.join(tmp, name);
  const e = new Engine({ paths: { userData: ud, cache: path.join(tmp, `${name}-cache`) }, log: { info() {}, warn() {}, error() {} } });
  const finished = new Map<string, JobFinishedEvent>();
  e.onEvent((ev, p) => ev === 'job.finished' && finished.set((p as JobFinishedEvent).id, p as JobFinishedEvent));
  const until = async (id: string) => {
    while (!finished.has(id)) await new Promise((r) => setTimeout(r, 5));
    return finished.get(id)!;
  };
  return { e, ud, finished, until };
}

/** the result's numbers (each checkpoint's execution plan left out: it reads the memory free at the time) */
const numbers = (ev: JobFinishedEvent) => {
  const r = ev.result as Record<string, unknown>;
  const checkpoints = (r.checkpoints as Record<string, unknown>[]).map(({ execution: _plan, ...c }) => c); // the plan reads free memory
  return { cett: r.cett, searchHistory: r.searchHistory, checkpoints, pplRatio: r.pplRatio };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a cancel during session creation ends the job at once, its saved steps kept; the late session is released, nothing is written after; the resume equals an uninterrupted run', async () => {
  const ref = engine('ref');
  const { id: refId } = await ref.e.invoke('runs.start', { config } as never);
  const whole = await ref.until(refId);
  expect(whole).toMatchObject({ status: 'completed' });
  await ref.e.dispose();

  const { e, ud, finished, until } = engine('cut');
  // 1. a run cancelled after its first saved step (forward calls slowed so the test sees the step before the end)
  sessionFactory.create = async (bytes, so) => {
    const s = await realCreate(bytes, so);
    const run = s.run.bind(s) as (...a: unknown[]) => Promise<unknown>;
    (s as { run: unknown }).run = async (...a: unknown[]) => (await sleep(20), run(...a));
    return s;
  };
  const { id } = await e.invoke('runs.start', { config } as never);
  const jobFile = path.join(ud, 'jobs', `${id}.job.json`);
  const steps = () => (fs.existsSync(jobFile) ? (JSON.parse(fs.readFileSync(jobFile, 'utf8')) as { steps: number }).steps : 0);
  while (steps() < 1) await sleep(2);
  await e.invoke('runs.cancel', { id });
  expect(await until(id)).toMatchObject({ status: 'cancelled' });
  const before = JSON.parse(fs.readFileSync(jobFile, 'utf8')) as { steps: number; state: unknown };
  expect(before.steps).toBeGreaterThan(0);
  expect(before.state).toBeTruthy();

  // 2. resumed, and cancelled while its first session is being created (held back here until the test lets it go)
  let entered!: () => void;
  const creating = new Promise<void>((r) => (entered = r));
  let letGo!: () => void;
  const gate = new Promise<void>((r) => (letGo = r));
  const late: { session?: ort.InferenceSession; released: number } = { released: 0 };
  sessionFactory.create = async (bytes, so) => {
    const s = await realCreate(bytes, so);
    if (late.session) return s;
    const release = s.release.bind(s);
    s.release = () => (late.released++, release());
    late.session = s;
    entered();
    await gate;
    return s;
  };
  finished.delete(id);
  expect(await e.invoke('runs.start', { config, resume: id } as never)).toEqual({ id });
  await creating;
  expect(await e.invoke('runs.cancel', { id })).toEqual({ cancelled: true });
  // ended while the creation is still held: cancelled, no longer active, the saved steps as they were
  expect(await until(id)).toMatchObject({ id, status: 'cancelled', error: { code: 'CANCELLED' } });
  expect(await e.invoke('runs.active', {})).toEqual([]);
  expect(late.released).toBe(0);
  const saved = fs.readFileSync(jobFile, 'utf8');
  expect(JSON.parse(saved)).toMatchObject({ id, status: 'cancelled', steps: before.steps, state: before.state });
  const mtime = fs.statSync(jobFile).mtimeMs;

  letGo(); // the creation finishes after the cancel: the session is released, the job's record stays as it was
  while (late.released === 0) await sleep(5);
  await sleep(100);
  expect(late.released).toBe(1);
  expect(fs.readFileSync(jobFile, 'utf8')).toBe(saved);
  expect(fs.statSync(jobFile).mtimeMs).toBe(mtime);
  expect(finished.get(id)).toMatchObject({ status: 'cancelled' }); // no second finished event

  // 3. resumable as before: the answer of the run that was never cancelled
  sessionFactory.create = realCreate;
  finished.delete(id);
  await e.invoke('runs.start', { config, resume: id } as never);
  const done = await until(id);
  expect(done.status).toBe('completed');
  expect(numbers(done)).toEqual(numbers(whole));
  await e.dispose();
}, 120_000);
