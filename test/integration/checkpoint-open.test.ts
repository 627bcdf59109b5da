// Issue 19 (main/checkpoint/open.ts): a large checkpoint opens in a worker thread, so the engine answers other requests meanwhile and a cancel
// abandons the open cleanly (the worker stops, every file it opened is closed). The checkpoints are sparse files made
// here (checkpoint/testing/sparse.ts) and deleted after; what is checked is ordering and bytes, not speed.
import { afterAll, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../main/engine/engine';
import { openCheckpoint, summarize } from '../../main/checkpoint/index';
import { useHashMemo } from '../../main/checkpoint/hash';
import { OFF_THREAD_TOKENIZER_BYTES, workerScript } from '../../main/checkpoint/open';
import { writeSparseLlama } from '../../main/checkpoint/testing/sparse';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';
import { defaultModelSource, type ModelSource } from '../../main/jobs/models';
import { alongside, stallMeter } from '../helpers/event-loop';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-open-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// ~1.1 GB of holes: the open scans it for NaN/Inf and hashes it, reading it twice
const big = path.join(tmp, 'big');
const bigBytes = writeSparseLlama(big, { hidden: 2048, intermediate: 5632, layers: 4, vocab: 32000 });

/** bytes this process has read so far (Linux /proc/self/io: every thread's reads) */
const bytesRead = () => Number(/rchar:\s+(\d+)/.exec(fs.readFileSync('/proc/self/io', 'utf8'))![1]);
const openFds = () => fs.readdirSync('/proc/self/fd').length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('the worker script resolves to the sources here and next to the bundle in a bundle (asar: unpacked)', () => {
  expect(fs.existsSync(workerScript())).toBe(true);
  expect(workerScript('file:///opt/app/dist-bench/bench.cjs')).toBe('/opt/app/dist-bench/checkpoint-worker.cjs');
  expect(workerScript('file:///opt/Lab/resources/app.asar/dist-electron/engine-host.cjs')).toBe('/opt/Lab/resources/app.asar.unpacked/dist-electron/checkpoint-worker.cjs');
});

test('opened in a worker, a checkpoint gives the same card, content hash and NaN/Inf notices as opened here', async () => {
  const dir = writeTinyCheckpoint(path.join(tmp, 'tiny'), 'llama', { seed: 3, layers: 2 });
  const f = path.join(dir, 'model.safetensors');
  const buf = fs.readFileSync(f);
  buf.writeFloatLE(NaN, buf.length - 4); // the last tensor's last value
  fs.writeFileSync(f, buf);
  useHashMemo(undefined); // both hash every byte themselves
  const here = await openCheckpoint(dir, { offThread: 'never' });
  const there = await openCheckpoint(dir, { offThread: 'always' });
  expect(there.contentHash).toMatch(/^[0-9a-f]{64}$/);
  expect(summarize(there)).toEqual(summarize(here));
  expect(there.notices.some((n) => /holds 1 NaN\/Inf/.test(n))).toBe(true);
  // errors come back with their code and message
  fs.writeFileSync(path.join(dir, 'config.json'), '{"model_type": "llama", "hidden_size": -3}');
  const a = await openCheckpoint(dir, { offThread: 'never' }).catch((e: Error) => e);
  const b = await openCheckpoint(dir, { offThread: 'always' }).catch((e: Error) => e);
  expect(b).toMatchObject({ code: 'BAD_CHECKPOINT', message: (a as Error).message });
});

test('while a large checkpoint opens, the engine answers another request and its event loop keeps turning', async () => {
  const e = new Engine({ paths: { userData: path.join(tmp, 'ud'), cache: path.join(tmp, 'cache') }, log: { info() {}, warn() {}, error() {} } });
  const { result: card, doneMs, otherMs, stall } = await alongside(() => e.call('checkpoints.inspect', { path: big }), () => e.call('sessions.recent', {}));
  expect(card).toMatchObject({ layers: 4, hiddenSize: 2048, intermediateSize: 5632 });
  expect((card as { contentHash: string }).contentHash).toMatch(/^[0-9a-f]{64}$/);
  expect(otherMs).toBeGreaterThan(0);
  expect(otherMs).toBeLessThan(doneMs); // answered while the open was still running
  // on this thread nothing ran long: the longest gap between timer ticks is a small part of the open
  expect(stall).toBeLessThan(doneMs / 4);
  await e.dispose();
});

test('cancel during an open: it rejects CANCELLED before the weights are read through, and leaves no file open or worker reading', async () => {
  useHashMemo(undefined);
  fs.utimesSync(path.join(big, 'config.json'), new Date(), new Date()); // changed files: the earlier open's findings do not count
  const fds = openFds();
  const read0 = bytesRead();
  const ac = new AbortController();
  const open = openCheckpoint(big, { offThread: 'always', signal: ac.signal }).then(
    () => 'opened',
    (e: { code?: string }) => e.code,
  );
  while (bytesRead() - read0 < 64 * 2 ** 20) await sleep(5); // the worker is reading the weights
  ac.abort();
  expect(await open).toBe('CANCELLED');
  const readAtCancel = bytesRead() - read0;
  expect(readAtCancel).toBeLessThan(bigBytes); // a full open reads it twice (NaN/Inf scan, hash)
  expect(openFds()).toBe(fds);
  const r1 = bytesRead();
  await sleep(200);
  expect(bytesRead() - r1).toBeLessThan(1 << 20); // nothing goes on reading in the background
  // and the same checkpoint opens afterwards
  await expect(openCheckpoint(big, { offThread: 'always', signal: new AbortController().signal })).resolves.toMatchObject({ spec: { numLayers: 4 } });
});

test('runs.cancel while the job opens its checkpoint: the job ends cancelled, nothing left reading', async () => {
  const e = new Engine({ paths: { userData: path.join(tmp, 'ud2'), cache: path.join(tmp, 'cache2') }, log: { info() {}, warn() {}, error() {} } });
  // the job's own open is a cold one: its source opens the big folder for the config's (unreadable) path
  e.ctx.services.set('runs.models', { ...defaultModelSource, loadCheckpoint: (_p: string, signal?: AbortSignal) => openCheckpoint(big, { signal, offThread: 'always' }) } satisfies ModelSource);
  const finished = new Promise<{ id: string; status: string; error?: { code: string } }>((r) => e.onEvent((ev, p) => ev === 'job.finished' && r(p as never)));
  const text = path.join(tmp, 'eval.txt');
  fs.writeFileSync(text, 'the quick brown fox jumps over the lazy dog. '.repeat(50));
  fs.utimesSync(path.join(big, 'config.json'), new Date(), new Date()); // new files as far as open.ts knows
  const fds = openFds();
  const read0 = bytesRead();
  const { id } = await e.invoke('runs.start', { config: { kind: 'measure', checkpoint: path.join(tmp, 'elsewhere'), data: text, p: 5, tokens: 96, seqLen: 12, batch: 4 } } as never);
  while (bytesRead() - read0 < 64 * 2 ** 20) await sleep(5); // the job's open is reading the weights
  expect(await e.invoke('runs.cancel', { id })).toEqual({ cancelled: true });
  expect(await finished).toMatchObject({ id, status: 'cancelled', error: { code: 'CANCELLED' } });
  expect(bytesRead() - read0).toBeLessThan(bigBytes);
  const r1 = bytesRead();
  await sleep(200);
  expect(bytesRead() - r1).toBeLessThan(1 << 20);
  await e.dispose();
  expect(openFds()).toBe(fds);
});

test('runs.start answers before the inputs are hashed; a cancel while hashing them ends the job and records nothing', async () => {
  const ud = path.join(tmp, 'ud3');
  const e = new Engine({ paths: { userData: ud, cache: path.join(tmp, 'cache3') }, log: { info() {}, warn() {}, error() {} } });
  const finished = new Promise<{ id: string; status: string; error?: { code: string } }>((r) => e.onEvent((ev, p) => ev === 'job.finished' && r(p as never)));
  const text = path.join(tmp, 'eval3.txt');
  fs.writeFileSync(text, 'the quick brown fox jumps over the lazy dog. '.repeat(50));
  fs.utimesSync(path.join(big, 'config.json'), new Date(), new Date()); // a cold open: the findings of earlier ones do not count
  useHashMemo(undefined);
  const fds = openFds();
  const read0 = bytesRead();
  const { id } = await e.invoke('runs.start', { config: { kind: 'measure', checkpoint: big, data: text, p: 5, tokens: 96, seqLen: 12, batch: 4 } } as never);
  expect(bytesRead() - read0).toBeLessThan(bigBytes); // answered with the checkpoint not yet read through
  expect((await e.invoke('runs.active', {})).map((j) => j.id)).toEqual([id]);
  while (bytesRead() - read0 < 64 * 2 ** 20) await sleep(5); // its inputs are being hashed
  expect(await e.invoke('runs.cancel', { id })).toEqual({ cancelled: true });
  expect(await finished).toMatchObject({ id, status: 'cancelled', error: { code: 'CANCELLED' } });
  expect(bytesRead() - read0).toBeLessThan(bigBytes);
  expect(fs.existsSync(path.join(ud, 'jobs', `${id}.job.json`))).toBe(false); // never recorded: nothing to resume
  await e.dispose();
  expect(openFds()).toBe(fds);
});

test('a checkpoint with a large tokenizer.json opens in the worker; this thread loads the tokenizer only when it encodes', async () => {
  const dir = writeTinyCheckpoint(path.join(tmp, 'bigtok'), 'llama', { seed: 4, layers: 2 });
  const tj = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
  const base = Math.max(...Object.values(tj.model.vocab)) + 1;
  for (let i = 0; i < 130_000; i++) tj.model.vocab[`\u4e00${i.toString(36)}\u4e01`] = base + i;
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tj));
  expect(fs.statSync(path.join(dir, 'tokenizer.json')).size).toBeGreaterThan(OFF_THREAD_TOKENIZER_BYTES);
  const here = await openCheckpoint(dir, { offThread: 'never' });
  const meter = stallMeter();
  const t0 = performance.now();
  const there = await openCheckpoint(dir); // 'auto': the tokenizer's size sends it to the worker
  const took = performance.now() - t0;
  const stall = meter.stop();
  expect(stall).toBeLessThan(took / 4);
  expect(summarize(there)).toEqual(summarize(here));
  expect(there.notices).toEqual(here.notices); // 'the tokenizer has … tokens but the model's vocabulary is …', from the worker
  expect({ ...there.tokenizer, encode: 0, decode: 0 }).toEqual({ ...here.tokenizer, encode: 0, decode: 0 });
  expect(there.tokenizer!.encode('the quick brown fox')).toEqual(here.tokenizer!.encode('the quick brown fox')); // loaded now
});
