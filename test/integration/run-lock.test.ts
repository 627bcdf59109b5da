// Issue 19: inside one process, two jobs never write the same run. Two engines with the same session open (the session
// lock is shared within a process, main/store/lock.ts) and two resumes arriving together both get one clear BUSY
// "run … is in use by job …" (main/jobs/run-lock.ts) while the first job runs; once it has ended the run is free.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { Engine } from '../../main/engine/engine';
import type { JobFinishedEvent } from '../../main/api/domains/runs';
import type { LoadedCheckpoint } from '../../main/checkpoint/types';
import type { ModelSource } from '../../main/jobs/models';
import { makeToyModel, type ToyModel } from './metrics-toy-model';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-run-lock-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const tokenizer = { encode: (t: string) => Array.from(t, (ch) => ch.charCodeAt(0) % 20), decode: () => '', vocabSize: 20, source: 'chars' };
const model = makeToyModel({ seed: 21, vocab: 20, d: 8, f: 16, layers: 2, gated: true, activation: 'silu' });
const text = path.join(dir, 'eval.txt');
fs.writeFileSync(text, 'the quick brown fox jumps over the lazy dog; '.repeat(8));
const config = { kind: 'measure' as const, checkpoint: '/models/toy', data: text, p: 5, tokens: 96, seqLen: 12, batch: 4 };

/** a toy source; its runner dies after `dieAfter` forward calls, and opens only once `gate` resolves */
function source(m: ToyModel, o: { dieAfter?: number; gate?: Promise<void> } = {}): ModelSource {
  return {
    loadCheckpoint: async (p) => ({ path: p, format: 'hf', spec: m.spec, weights: new Map(), tokenizer, contentHash: 'x', notices: [] }) as LoadedCheckpoint,
    async openTarget(ckpt) {
      await o.gate;
      let calls = 0;
      const forward = async (req: Parameters<ToyModel['forward']>[0]) => {
        if (++calls > (o.dieAfter ?? Infinity)) throw new Error('process killed');
        return m.forward(req);
      };
      return { id: ckpt.path, runner: { ...m, forward }, downWeights: m.down };
    },
  };
}

function engine(src: ModelSource) {
  const e = new Engine({ paths: { userData: path.join(dir, 'ud'), cache: path.join(dir, 'cache') }, log: { info() {}, warn() {}, error() {} } });
  e.ctx.services.set('runs.models', src);
  const finished = new Map<string, JobFinishedEvent>();
  e.onEvent((ev, p) => ev === 'job.finished' && finished.set((p as JobFinishedEvent).id, p as JobFinishedEvent));
  const done = async (id: string) => {
    while (!finished.has(id)) await new Promise((r) => setTimeout(r, 5));
    return finished.get(id)!;
  };
  return { e, done, finished, setSource: (s: ModelSource) => e.ctx.services.set('runs.models', s) };
}

test('two engines on one session, and two resumes at once: the second writer of a run gets "run … is in use by job …"', async () => {
  const file = path.join(dir, 'lab.sparsitylab');
  const a = engine(source(model, { dieAfter: 4 }));
  await a.e.call('sessions.new', { path: file });
  const { id } = (await a.e.call('runs.start', { config })) as { id: string };
  expect((await a.done(id)).status).toBe('failed'); // killed halfway: resumable from its saved steps

  const b = engine(source(model));
  await b.e.call('sessions.open', { path: file }); // same process: the session's lock is shared
  let open!: () => void;
  a.setSource(source(model, { gate: new Promise<void>((r) => (open = r)) }));
  a.finished.delete(id);
  await a.e.call('runs.start', { config, resume: id }); // running, held at its open

  const inUse = new RegExp(`^run ${id} is in use by job ${id} \\(writing it in ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} since .*\\); wait for that job to finish or cancel it, then resume$`);
  await expect(b.e.call('runs.start', { config, resume: id })).rejects.toMatchObject({ code: 'BUSY', message: expect.stringMatching(inUse) });
  await expect(a.e.call('runs.start', { config, resume: id })).rejects.toMatchObject({ code: 'BUSY', message: expect.stringMatching(inUse) });
  open();
  expect((await a.done(id)).status).toBe('completed');
  await expect(b.e.call('runs.start', { config, resume: id })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/has completed already/) });

  a.setSource(source(model, { dieAfter: 2 }));
  const { id: id2 } = (await a.e.call('runs.start', { config: { ...config, tokens: 48 } })) as { id: string };
  expect((await a.done(id2)).status).toBe('failed');
  a.finished.delete(id2);
  a.setSource(source(model));
  b.setSource(source(model));
  // two resumes that arrive together: exactly one runs
  const both = await Promise.allSettled([a.e.call('runs.start', { config: { ...config, tokens: 48 }, resume: id2 }), b.e.call('runs.start', { config: { ...config, tokens: 48 }, resume: id2 })]);
  expect(both.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
  expect((both.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ code: 'BUSY', message: expect.stringMatching(`^run ${id2} is in use by job ${id2} `) });
  expect((await a.done(id2)).status === 'completed' || (await b.done(id2)).status === 'completed').toBe(true);
  await a.e.dispose();
  await b.e.dispose();
});

test('across processes: a run saved in a job-state folder that another live process computes gets "in use by PID …"; a dead owner is taken over', async () => {
  const a = engine(source(model, { dieAfter: 4 }));
  const { id } = (await a.e.call('runs.start', { config })) as { id: string };
  expect((await a.done(id)).status).toBe('failed'); // saved in ud/jobs (no session), resumable
  const lock = path.join(dir, 'ud', 'jobs', `${id}.job.json.lock`);
  expect(fs.existsSync(lock)).toBe(false); // released when the job ended
  // another process computes it: its lock names a live PID of this host
  const other = spawn('sleep', ['30']);
  fs.writeFileSync(lock, JSON.stringify({ pid: other.pid, host: os.hostname(), since: '2026-12-04T10:00:00.000Z' }));
  a.setSource(source(model));
  a.finished.delete(id);
  await expect(a.e.call('runs.start', { config, resume: id })).rejects.toMatchObject({
    code: 'BUSY',
    message: `run ${id} is in use by PID ${other.pid} on ${os.hostname()} (another Sparsity Lab process is computing it, saving to ${path.join(dir, 'ud', 'jobs')}); wait for it to finish or stop it, then resume`,
  });
  expect(JSON.parse(fs.readFileSync(path.join(dir, 'ud', 'jobs', `${id}.job.json`), 'utf8'))).toMatchObject({ status: 'failed' }); // untouched
  other.kill('SIGKILL');
  await new Promise((r) => other.once('exit', r));
  // its owner is dead (kill -9 leaves the lock behind): the resume takes it over and completes
  await a.e.call('runs.start', { config, resume: id });
  expect((await a.done(id)).status).toBe('completed');
  expect(fs.existsSync(lock)).toBe(false);
  await a.e.dispose();
});
