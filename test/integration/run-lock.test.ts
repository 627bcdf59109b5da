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
  const since = new Date().toISOString(); // written by its process after it started, as a real owner's is
  fs.writeFileSync(lock, JSON.stringify({ pid: other.pid, host: os.hostname(), since }));
  a.setSource(source(model));
  a.finished.delete(id);
  await expect(a.e.call('runs.start', { config, resume: id })).rejects.toMatchObject({
    code: 'BUSY',
    message: `run ${id} is in use by PID ${other.pid} on ${os.hostname()} (another Sparsity Lab process is computing it, saving to ${path.join(dir, 'ud', 'jobs')}); wait for it to finish or stop it, then resume`,
  });
  expect(JSON.parse(fs.readFileSync(path.join(dir, 'ud', 'jobs', `${id}.job.json`), 'utf8'))).toMatchObject({ status: 'failed' }); // untouched
  other.kill('SIGKILL');
  await new Promise((r) => other.once('exit', r));
  // its owner is dead (kill -9 leaves the lock behind): the resume clears it, says so, and completes
  const resumed = (await a.e.call('runs.start', { config, resume: id })) as { notices?: string[] };
  expect(resumed.notices).toEqual([`${lock}: a stale lock left by PID ${other.pid} on ${os.hostname()} since ${since}, which is no longer running (killed or crashed); cleared. Run ${id} resumes from its last saved step.`]);
  expect((await a.done(id)).status).toBe('completed');
  expect(fs.existsSync(lock)).toBe(false);
  await a.e.dispose();
});

/** the PID of a process of this host that has ended (what kill -9 leaves in a lock) */
async function deadPid(): Promise<number> {
  const p = spawn('sleep', ['30']);
  p.kill('SIGKILL');
  await new Promise((r) => p.once('exit', r));
  return p.pid!;
}

test('a new run in a session is held by the session lock only: no lock in the job-file folder (a kill there left one for a job it never had)', async () => {
  const file = path.join(dir, 'new-run.sparsitylab');
  let open!: () => void;
  const a = engine(source(model, { gate: new Promise<void>((r) => (open = r)) }));
  await a.e.call('sessions.new', { path: file });
  const { id } = (await a.e.call('runs.start', { config })) as { id: string };
  await new Promise((r) => setTimeout(r, 50)); // running, held at its open
  expect(fs.existsSync(path.join(dir, 'ud', 'jobs', `${id}.job.json.lock`))).toBe(false);
  expect(fs.existsSync(`${file}.lock`)).toBe(true);
  open();
  expect((await a.done(id)).status).toBe('completed');
  await a.e.dispose();
});

test('stale locks that killed processes left in a job-state folder are cleared when a run starts there, each named with its dead owner and its run; live and other hosts\' locks are kept', async () => {
  const stateDir = path.join(dir, 'state');
  fs.mkdirSync(stateDir);
  const [dead1, dead2] = [await deadPid(), await deadPid()];
  const live = spawn('sleep', ['30']);
  const since = new Date().toISOString();
  const lock = (name: string, pid: number, host = os.hostname()) => fs.writeFileSync(path.join(stateDir, `${name}.job.json.lock`), JSON.stringify({ pid, host, since }));
  fs.writeFileSync(path.join(stateDir, 'killed.job.json'), JSON.stringify({ id: 'killed', kind: 'measure', config: {}, status: 'running', steps: 3, createdAt: '', updatedAt: '' }));
  lock('killed', dead1);
  lock('orphan', dead2);
  lock('live', live.pid!);
  lock('far', dead1, 'another-host');
  const warned: string[] = [];
  const a = engine(source(model));
  a.e.ctx.log.warn = (m: string) => warned.push(m);
  const { id, notices } = (await a.e.call('runs.start', { config: { ...config, stateDir } })) as { id: string; notices?: string[] };
  const words = (pid: number) => `a stale lock left by PID ${pid} on ${os.hostname()} since ${since}, which is no longer running (killed or crashed); cleared.`;
  expect(notices?.sort()).toEqual(
    [
      `${path.join(stateDir, 'killed.job.json.lock')}: ${words(dead1)} Its run killed stopped after 3 saved steps and can be resumed (run id killed).`,
      `${path.join(stateDir, 'orphan.job.json.lock')}: ${words(dead2)} No job file orphan.job.json beside it: nothing to resume.`,
    ].sort(),
  );
  expect(warned.sort()).toEqual(notices); // the CLI prints the engine's warnings on stderr
  expect(fs.readdirSync(stateDir).filter((n) => n.endsWith('.lock')).sort()).toEqual(['far.job.json.lock', 'live.job.json.lock', `${id}.job.json.lock`].sort());
  expect((await a.done(id)).status).toBe('completed');
  expect(fs.readdirSync(stateDir).filter((n) => n.endsWith('.lock')).sort()).toEqual(['far.job.json.lock', 'live.job.json.lock']);
  live.kill('SIGKILL');
  await a.e.dispose();
});

test('a resume id that is a path (from --resume or a request) is refused before anything is locked or read outside the job folder', async () => {
  const a = engine(source(model));
  const stateDir = path.join(dir, 'state-ids');
  fs.mkdirSync(path.join(dir, 'elsewhere'));
  for (const bad of ['../elsewhere/x', '../../etc/passwd', '/tmp/x', '.hidden'])
    await expect(a.e.call('runs.start', { config: { ...config, stateDir }, resume: bad })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: `job id "${bad}" is not a safe file name` });
  expect(fs.readdirSync(path.join(dir, 'elsewhere'))).toEqual([]);
  await a.e.dispose();
});
