// The Electron engine process (electron/engine-host.ts) on SIGTERM, which quitting the app sends (electron/main.ts):
// it closes in order (the engine disposed: the open session closed; every inference worker stopped and its native
// call let end) and exits 0, not killed by the signal mid-write or aborted inside onnxruntime. The entry is plain
// Node: here it runs in a child process with Electron's parentPort played by the child_process IPC channel, a
// measurement running in the inference worker (17 M parameters × 4 × 256 tokens per call) when the signal comes.
// The session then reopens writable with the run interrupted and resumable.
import { afterAll, expect, test } from 'vitest';
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../main/engine/engine';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';

const root = path.resolve(__dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-engine-host-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('SIGTERM during a measurement in the inference worker: the engine process closes in order and exits 0; the session reopens with the run interrupted', async () => {
  const ckpt = writeTinyCheckpoint(path.join(tmp, 'ck'), 'llama', { activation: 'relu', hidden: 256, layers: 2, intermediate: 512, heads: 4, vocab: 32000, maxPositions: 256, seed: 5 });
  const data = path.join(tmp, 'eval.txt');
  fs.writeFileSync(data, Array.from({ length: 600 }, (_, i) => `Entry ${i}: the ferry left at ${(i * 37) % 97} past the hour with ${(i * 13) % 41} crates.\n`).join(''));
  const session = path.join(tmp, 'quit.sparsitylab');
  const home = path.join(tmp, 'home');
  const harness = path.join(tmp, 'harness.mts');
  fs.writeFileSync(
    harness,
    `const port = { on: (_e: string, l: (m: { data: unknown }) => void) => process.on('message', (data) => l({ data })), postMessage: (m: unknown) => process.send!(m) };
(process as unknown as { parentPort: typeof port }).parentPort = port;
await import(${JSON.stringify(path.join(root, 'electron/engine-host.ts'))});
process.send!({ hostReady: true });
`,
  );
  const child = fork(path.join(root, 'bin/run-ts'), [harness], { cwd: root, env: { ...process.env, SPARSITY_LAB_HOME: home }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const answers = new Map<number, (m: { ok: boolean; result?: unknown; error?: { message: string } }) => void>();
  let progress = 0;
  let hostReady!: () => void;
  const ready = new Promise<void>((r) => (hostReady = r));
  child.on('message', (m: { id?: number; event?: string; hostReady?: boolean; ok: boolean }) => {
    if (m.hostReady) hostReady();
    else if (m.event === 'job.progress') progress++;
    else if (typeof m.id === 'number') answers.get(m.id)?.(m);
  });
  let next = 1;
  const call = (cmd: string, payload: unknown) =>
    new Promise<unknown>((resolve, reject) => {
      const id = next++;
      answers.set(id, (m) => (m.ok ? resolve(m.result) : reject(new Error(m.error?.message))));
      child.send({ id, cmd, payload });
    });
  await ready;
  await call('sessions.new', { path: session });
  const { id } = (await call('runs.start', { config: { kind: 'measure', checkpoint: ckpt, data, tokens: 4096, seqLen: 256, batch: 4, tol: 1e-5, provider: 'cpu' } })) as { id: string };
  // the measurement is running (its forward calls in the inference worker) when the signal comes
  const t0 = Date.now();
  while (progress < 2) {
    if (Date.now() - t0 > 60_000) throw new Error(`no progress: ${stderr}`);
    if (child.exitCode !== null) throw new Error(`the engine process ended early: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGTERM');
  const { code, signal } = await exited;
  expect(stderr).not.toMatch(/Napi::Error|Aborted|core dumped/);
  expect(signal, stderr).toBeNull(); // it ended by itself, not by the signal
  expect(code, stderr).toBe(0);

  // as the app's next start would: the session opens writable (its lock released) with the run interrupted, resumable
  const engine = new Engine({ paths: { userData: home, cache: path.join(home, 'cache') }, log: { info() {}, warn() {}, error() {} } });
  try {
    const info = (await engine.call('sessions.open', { path: session })) as { readOnly: boolean; interrupted: number; runs: number };
    expect(info).toMatchObject({ readOnly: false, runs: 1, interrupted: 1 });
    const resumable = (await engine.call('sessions.resumable', {})) as { id: string }[];
    expect(resumable.map((r) => r.id)).toEqual([id]);
  } finally {
    await engine.dispose();
  }
}, 120_000);
