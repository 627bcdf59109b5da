// Issue 19 leftover: a copy of the demo lab lists its 51 training checkpoints as missing (they are not shipped). The
// engine says where it looked (expectedPath: the relative path from the copy's folder) and re-points whatever a
// folder holds by content (sessions.relinkFolder); a folder that is not there is named in the error.
import { afterAll, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../main/engine/engine';
import { prepareDemoSession } from '../../main/engine/demo';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';
import { inspectCheckpoint } from '../../main/checkpoint/index';
import { SessionStore } from '../../main/store/index';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-missing-'));
const engine = new Engine({ paths: { userData: path.join(work, 'engine'), cache: path.join(work, 'cache') }, log: { info() {}, warn() {}, error() {} } });
afterAll(async () => {
  await engine.dispose();
  fs.rmSync(work, { recursive: true, force: true });
});

test('a demo copy: the shipped models and text found, the unshipped training checkpoints missing with where it looked', async () => {
  const demo = prepareDemoSession(path.join(work, 'home'));
  await engine.invoke('sessions.open', { path: demo.path!, readOnly: true });
  const cks = await engine.invoke('sessions.listCheckpoints', {});
  const found = cks.filter((c) => !c.missing);
  expect(found.map((c) => c.path).sort()).toEqual(expect.arrayContaining([path.join(work, 'home', 'demo-lab', 'models', 'relu'), path.join(work, 'home', 'demo-lab', 'models', 'silu')]));
  const missing = cks.filter((c) => c.missing);
  expect(missing.length).toBeGreaterThan(0);
  for (const c of missing) {
    // looked first where the relative path points from the copy's folder, independently resolved here
    expect(c.expectedPath).toBe(path.resolve(path.join(work, 'home', 'demo-lab'), c.relPath!));
    expect(fs.existsSync(c.expectedPath!)).toBe(false);
  }
  const ds = await engine.invoke('sessions.listDatasets', {});
  expect(ds.every((d) => !d.missing && d.expectedPath === path.join(work, 'home', 'demo-lab', 'eval.txt'))).toBe(true);
  await engine.invoke('sessions.close', {});
});

test('sessions.relinkFolder re-points a moved checkpoint by content; a folder that is not there is named', async () => {
  const file = path.join(work, 'lab', 'lab.sparsitylab');
  const ck = writeTinyCheckpoint(path.join(work, 'lab', 'models', 'x'), 'llama', { activation: 'relu', hidden: 32, layers: 2, seed: 3 });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const s = SessionStore.create(file);
  s.upsertCheckpoint(await inspectCheckpoint(ck));
  s.close();
  const to = path.join(work, 'archive', 'a', 'b', 'x');
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.renameSync(ck, to);
  await engine.invoke('sessions.open', { path: file });
  const [c] = await engine.invoke('sessions.listCheckpoints', {});
  expect(c).toMatchObject({ missing: true, expectedPath: path.join(work, 'lab', 'models', 'x') });
  await expect(engine.invoke('sessions.relinkFolder', { folder: path.join(work, 'nowhere') })).rejects.toThrow(`${path.join(work, 'nowhere')}: no such folder`);
  expect(await engine.invoke('sessions.relinkFolder', { folder: path.join(work, 'archive') })).toEqual({ relinked: [{ kind: 'checkpoint', id: c.id, path: to }], stillMissing: 0 });
  expect((await engine.invoke('sessions.listCheckpoints', {}))[0]).toMatchObject({ missing: false, path: to });
  await engine.invoke('sessions.close', {});
});
