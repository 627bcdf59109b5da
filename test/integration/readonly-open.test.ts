// Issue 19: an older-schema session opened for reading (CLI `runs`, `export`, chart export, a read-only open in the
// UI) is read as it is, never upgraded or written: its bytes stay the same (sha256 before and after), no backup or
// journal appears beside it, and it answers exactly what the same file upgraded answers. Opening it for writing
// upgrades it and says so. The file is the shipped demo lab (schema v4), copied.
import { afterAll, expect, test, vi } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../main/engine/engine';
import { CHART_KINDS } from '../../main/api/domains/charts';
import { runsCommand } from '../../main/cli/runs';
import { exportCommand } from '../../main/cli/export';
import { SCHEMA_VERSION } from '../../main/store/schema';

const root = path.resolve(__dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-ro-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
/** PRAGMA user_version, read from the file's header (offset 60, big-endian): opening it with SQLite could leave files beside it */
const version = (f: string) => fs.readFileSync(f).readUInt32BE(60);
const quiet = { info() {}, warn() {}, error() {} };

/** what a reader sees of a session: every run, checkpoint, dataset and fit, and every chart's data */
async function readAll(e: Engine, file: string) {
  const charts: Record<string, unknown> = {};
  for (const kind of CHART_KINDS) charts[kind] = await e.call('charts.config', { sessionPath: file, kind }).then((c) => (c as { plot: unknown }).plot, (err: Error) => `error: ${err.message.replace(file, '<file>')}`);
  const csv = path.join(tmp, `${path.basename(file)}.csv`);
  const quietLog = vi.spyOn(console, 'log').mockImplementation(() => {});
  expect(await exportCommand.run([file, '--chart', 'activation-vs-tokens', '--format', 'csv', '--out', csv], e)).toBe(0); // the CLI's `export`
  quietLog.mockRestore();
  const exported = fs.readFileSync(csv, 'utf8');
  fs.rmSync(csv);
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  await runsCommand.run([file, '--json'], e);
  const cli = JSON.parse(log.mock.calls.map((c) => c.join(' ')).join('\n'));
  log.mockRestore();
  return { charts, exported, cli };
}

test('a v4 session read for charts, export and `runs` keeps its bytes and reads as its upgraded copy does', async () => {
  const demo = path.join(root, 'resources/demo-lab/demo.sparsitylab');
  expect(version(demo)).toBeLessThan(SCHEMA_VERSION);
  const oldDir = path.join(tmp, 'old');
  const newDir = path.join(tmp, 'new');
  fs.mkdirSync(oldDir);
  fs.mkdirSync(newDir);
  const old = path.join(oldDir, 'lab.sparsitylab');
  const upgraded = path.join(newDir, 'lab.sparsitylab');
  fs.copyFileSync(demo, old);
  fs.copyFileSync(demo, upgraded);
  const before = sha(old);

  const e = new Engine({ paths: { userData: path.join(tmp, 'ud'), cache: path.join(tmp, 'cache') }, log: quiet });
  // opened for writing: upgraded, and the answer says so
  const w = (await e.call('sessions.open', { path: upgraded })) as { readOnly: boolean; notice?: string };
  expect(w.readOnly).toBe(false);
  expect(w.notice).toMatch(new RegExp(`upgraded from schema v${version(demo)} to v${SCHEMA_VERSION}`));
  const wRuns = await e.call('sessions.listRuns', {});
  const wCks = await e.call('sessions.listCheckpoints', {});
  const wFits = await e.call('sessions.listFits', {});
  await e.call('sessions.close', {});
  expect(version(upgraded)).toBe(SCHEMA_VERSION);

  // opened read-only in the UI: the same answers from the old file
  const r = (await e.call('sessions.open', { path: old, readOnly: true })) as { readOnly: boolean };
  expect(r.readOnly).toBe(true);
  const strip = (x: unknown) => JSON.parse(JSON.stringify(x).replaceAll(oldDir, '<dir>').replaceAll(newDir, '<dir>'));
  expect(strip(await e.call('sessions.listRuns', {}))).toEqual(strip(wRuns));
  expect(strip(await e.call('sessions.listCheckpoints', {}))).toEqual(strip(wCks));
  expect(strip(await e.call('sessions.listFits', {}))).toEqual(strip(wFits));
  await e.call('sessions.close', {});

  // charts, export and the CLI's `runs` on a file that is not open
  const a = await readAll(e, old);
  const b = await readAll(e, upgraded);
  expect(strip(a)).toEqual(strip(b));
  expect(Object.values(a.charts).filter((c) => typeof c !== 'string').length).toBeGreaterThan(0);
  expect(a.cli.length).toBeGreaterThan(0);

  await e.dispose();
  expect(sha(old)).toBe(before);
  expect(version(old)).toBe(version(demo));
  expect(fs.readdirSync(oldDir)).toEqual(['lab.sparsitylab']); // no .bak, no -wal / -shm left behind
});
