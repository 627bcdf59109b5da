// The CLI end to end: `measure-series --session` and `measure --session` record real measurements of tiny
// checkpoints into a session file; `runs <file> --json` reads them back.
import { afterAll, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import Database from 'better-sqlite3';
import os from 'node:os';
import path from 'node:path';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-store-cli-'));
const root = path.resolve(__dirname, '../..');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [path.join(root, 'bin/sparsity-lab'), ...args], { cwd: root, encoding: 'utf8', timeout: 120_000, env: { ...process.env, HOME: tmp } });
}

test('measure-series and measure with --session, then runs --json', () => {
  const series = path.join(tmp, 'relu-tiny');
  writeTinyCheckpoint(path.join(series, 'step-100-1M'), 'llama', { activation: 'relu', hidden: 32, layers: 2, seed: 3 });
  writeTinyCheckpoint(path.join(series, 'step-200-2M'), 'llama', { activation: 'relu', hidden: 32, layers: 2, seed: 4 });
  const data = path.join(tmp, 'eval.txt');
  fs.writeFileSync(data, Array.from({ length: 200 }, (_, i) => `Line ${i}: the ferry left at ${(i * 13) % 60} past the hour.\n`).join(''));
  const session = path.join(tmp, 'lab.sparsitylab');
  const common = ['--data', data, '--tokens', '1024', '--seq-len', '64', '--batch', '4', '--tol', '1e-3', '--provider', 'cpu', '--session', session, '--json'];

  const a = cli(['measure-series', series, '--last-k', '2', ...common]);
  expect(a.status, a.stderr).toBe(0);
  const seriesResult = JSON.parse(a.stdout) as { cett: number };
  const b = cli(['measure', path.join(series, 'step-200-2M'), '--method', 'relu', ...common]);
  expect(b.status, b.stderr).toBe(0);

  // the dataset is recorded with its content hash, sequence length and token budget
  const db = new Database(session, { readonly: true });
  const ds = db.prepare('SELECT path, hash, tokens, seq_len FROM datasets').all();
  db.close();
  expect(ds).toEqual([{ path: data, hash: `sha256:${crypto.createHash('sha256').update(fs.readFileSync(data)).digest('hex')}`, tokens: 1024, seq_len: 64 }]);

  const r = cli(['runs', session, '--json']);
  expect(r.status, r.stderr).toBe(0);
  const runs = JSON.parse(r.stdout) as { id: string; parentId: string | null; checkpoint: string; activation: string; tokensTrained: number; method: string; p: number | null; status: string; cett: number; activationRatio: number; pplRatio: number }[];
  for (const x of runs) for (const k of ['id', 'checkpoint', 'activation', 'tokensTrained', 'method', 'p', 'status', 'cett', 'activationRatio', 'pplRatio']) expect(x).toHaveProperty(k);
  const points = runs.filter((x) => x.parentId !== null).sort((x, y) => x.tokensTrained - y.tokensTrained);
  // one CETT from the last k checkpoints applied to every checkpoint (paper Sec. 5.1, App. E)
  // (a folder named by its step and tokens alone keeps its series' folder in front: common/naming.ts distinctNames)
  expect(points.map((x) => [x.checkpoint, x.tokensTrained, x.activation, x.status])).toEqual([
    ['relu-tiny/step-100-1M', 1e6, 'relu', 'completed'],
    ['relu-tiny/step-200-2M', 2e6, 'relu', 'completed'],
  ]);
  for (const x of points) {
    expect(x.cett).toBe(seriesResult.cett);
    expect(x.activationRatio).toBeGreaterThan(0);
    expect(x.activationRatio).toBeLessThan(1);
  }
  // ReLU baseline: masking the exact zeros changes nothing, so PPL is unchanged (paper Sec. 4.1)
  const relu = runs.find((x) => x.method === 'relu')!;
  expect(relu).toMatchObject({ checkpoint: 'relu-tiny/step-200-2M', activation: 'relu', status: 'completed', p: null });
  expect(relu.pplRatio).toBeCloseTo(1, 5);
}, 240_000);
