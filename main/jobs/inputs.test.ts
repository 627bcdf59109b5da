// The evaluation text's hash taken when a run starts or resumes (inputs.ts): read in chunks with the event loop turning
// between them, equal to node:crypto's sha256 of the whole file, undefined for a file that cannot be read.
import { afterAll, expect, test } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileHash, fileHashAsync } from '../base/file-hash';
import { requireInputs } from './inputs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-inputs-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('fileHashAsync: sha256 of every byte, across chunk boundaries, while timers still fire', async () => {
  for (const n of [0, 1, (1 << 20) - 1, 1 << 20, 3 * (1 << 20) + 17]) {
    const f = path.join(dir, `t${n}.txt`);
    const bytes = crypto.randomBytes(n);
    fs.writeFileSync(f, bytes);
    const want = `sha256:${crypto.createHash('sha256').update(bytes).digest('hex')}`;
    expect(await fileHashAsync(f)).toBe(want);
    expect(fileHash(f)).toBe(want);
  }
  const big = path.join(dir, 'big.txt');
  fs.writeFileSync(big, Buffer.alloc(32 << 20, 'a'));
  let ticks = 0;
  const t = setInterval(() => ticks++, 0);
  await fileHashAsync(big);
  clearInterval(t);
  expect(ticks).toBeGreaterThan(0); // the loop turned during the read (a synchronous hash would allow none)
  expect(await fileHashAsync(path.join(dir, 'missing.txt'))).toBeUndefined();
});

test('an evaluation text that is a named pipe or a device is refused before the job (its hash would block or never end)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-inputs-fifo-'));
  const fifo = path.join(dir, 'eval.txt');
  execFileSync('mkfifo', [fifo]);
  expect(() => requireInputs({ kind: 'measure', data: fifo }, { checkpoints: false })).toThrow(expect.objectContaining({ code: 'BAD_DATA', message: `${fifo}: is a named pipe (FIFO), not a text file (the evaluation text)` }));
  expect(() => requireInputs({ kind: 'measure', data: '/dev/zero' }, { checkpoints: false })).toThrow(expect.objectContaining({ code: 'BAD_DATA', message: '/dev/zero: is a device, not a text file (the evaluation text)' }));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('runs.estimate checks the files as runs.start does: a named pipe for the text is refused at once, the pilot never started', async () => {
  const { Engine } = await import('../engine/engine');
  const fifo = path.join(dir, 'estimate.fifo');
  execFileSync('mkfifo', [fifo]);
  const e = new Engine({ paths: { userData: path.join(dir, 'ud'), cache: path.join(dir, 'cache') }, log: { info() {}, warn() {}, error() {} } });
  let opened = false;
  e.ctx.services.set('runs.models', {
    loadCheckpoint: async () => {
      opened = true;
      throw new Error('the pilot started');
    },
  });
  const config = { kind: 'measure', checkpoint: '/models/toy', data: fifo, p: 1, tokens: 96, seqLen: 12, batch: 4 };
  await expect(e.call('runs.estimate', { config })).rejects.toMatchObject({ code: 'BAD_DATA', message: `${fifo}: is a named pipe (FIFO), not a text file (the evaluation text)` });
  expect(opened).toBe(false);
  await e.dispose();
});

test('runs.start on a checkpoint its reader refuses (safetensors cut short): the job fails naming the file, and no job is recorded for it', async () => {
  const { Engine } = await import('../engine/engine');
  const { writeTinyCheckpoint } = await import('../checkpoint/testing/tiny');
  const ck = writeTinyCheckpoint(path.join(dir, 'cut'), 'llama', { layers: 1, hidden: 16, intermediate: 32 });
  const st = path.join(ck, 'model.safetensors');
  fs.truncateSync(st, fs.statSync(st).size - 100);
  const text = path.join(dir, 'cut.txt');
  fs.writeFileSync(text, 'the quick brown fox jumps over the lazy dog. '.repeat(20));
  const e = new Engine({ paths: { userData: path.join(dir, 'ud-cut'), cache: path.join(dir, 'cache') }, log: { info() {}, warn() {}, error() {} } });
  const state = path.join(dir, 'cut-jobs');
  const finished = new Promise<{ id: string; status: string; error?: { code: string; message: string } }>((resolve) => e.onEvent((ev, p) => ev === 'job.finished' && resolve(p as never)));
  const { id } = (await e.call('runs.start', { config: { kind: 'measure', checkpoint: ck, data: text, p: 1, tokens: 64, seqLen: 16, batch: 2, stateDir: state } })) as { id: string };
  const f = await finished;
  await e.dispose();
  expect(f).toMatchObject({ id, status: 'failed', error: { code: 'BAD_CHECKPOINT' } });
  expect(f.error?.message).toMatch(new RegExp(`^${st}: .*truncated`));
  expect(fs.existsSync(state) ? fs.readdirSync(state).filter((n) => n.endsWith('.job.json')) : []).toEqual([]);
});
