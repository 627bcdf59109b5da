// Issue 19: Ctrl-C (SIGINT) in `fit` and `measure --estimate` (main/cli/ctrl-c.ts) cancels the request in the engine
// (the laws worker terminated, the pilot stopped with what it opened released) and the process ends on its own soon
// after, exit status 130, one clear line, nothing recorded (no job file, no cache staging folder). The real CLI in a
// child process (bin/sparsity-lab through tsx), its home in a temporary folder.
import { afterAll, expect, test } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { convertingLlama } from '../helpers/converting-llama';

const root = path.resolve(__dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-ctrl-c-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** runs the CLI; once stderr says "Ctrl-C cancels", waits `after` ms and sends SIGINT: exit status, output, ms from the signal to the exit */
function interrupt(args: string[], home: string, after: number): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string; exitMs: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'bin/sparsity-lab'), ...args], { cwd: root, env: { ...process.env, SPARSITY_LAB_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = 0;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!sent && stderr.includes('Ctrl-C cancels')) {
        sent = -1;
        void sleep(after).then(() => {
          sent = performance.now();
          child.kill('SIGINT');
        });
      }
    });
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr, exitMs: sent > 0 ? performance.now() - sent : -1 }));
  });
}

/** every file and folder under `dir` (relative) */
function tree(dir: string): string[] {
  return fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true }) as string[]).sort() : [];
}

test('Ctrl-C during a long `fit`: the fit is cancelled in the laws worker, exit 130 with one clear line, soon after the signal', async () => {
  const csv = path.join(tmp, 'points.csv');
  const rows = Array.from({ length: 1000 }, (_, i) => `${1e9 * (1 + Math.floor(i / 2))},${(0.1 + 0.05 * (i % 2) + 2 * (1e9 * (1 + Math.floor(i / 2))) ** -0.3).toFixed(6)},s${i % 2}`);
  fs.writeFileSync(csv, ['tokens,activation_ratio,series', ...rows].join('\n') + '\n');
  const home = path.join(tmp, 'home-fit');
  // 1000 points × 3001 fits in the worker: a minute or more; the signal comes while it runs
  const r = await interrupt(['fit', csv, '--bootstrap', '3000'], home, 800);
  expect(r.signal).toBeNull(); // ended on its own, not killed by the signal
  expect(r.code).toBe(130);
  expect(r.stderr).toContain('fit: cancelled (Ctrl-C): the fit was cancelled; nothing was recorded');
  expect(r.stdout).toBe('');
  expect(r.exitMs).toBeGreaterThan(0);
  expect(r.exitMs).toBeLessThan(5000);
  expect(tree(home)).toEqual([]);
}, 60_000);

test('Ctrl-C during `measure --estimate`: the pilot is cancelled, exit 130 with one clear line, no job file or cache staging folder', async () => {
  // fp16, tied: the pilot converts a 131 MB output projection in the graph worker (a sparse file)
  const { dir, text } = convertingLlama(tmp);
  const home = path.join(tmp, 'home-est');
  const r = await interrupt(['measure', dir, '--data', text, '--tokens', '96', '--seq-len', '12', '--provider', 'cpu', '--estimate'], home, 300);
  expect(r.signal).toBeNull();
  expect(r.code, r.stderr).toBe(130);
  expect(r.stderr).toContain('measure: cancelled (Ctrl-C): the estimate was cancelled; nothing was recorded');
  expect(r.stdout).toBe('');
  expect(r.exitMs).toBeLessThan(5000);
  expect(tree(home).filter((f) => /jobs|\.staging-|\.job\.json/.test(f))).toEqual([]);
}, 90_000);
