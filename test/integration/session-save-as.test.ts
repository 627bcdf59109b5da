// Save As through the contract never overwrites by accident: the backup replaced whatever was at the path — another
// session's runs, a session another window or CLI records into, or (browser mode's text field, no confirmation) any
// file named so. An existing file is replaced only with `overwrite` (FILE_EXISTS otherwise), never while a live writer
// holds it, never a folder.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { Engine } from '../../main/engine/engine';
import { SessionStore } from '../../main/store/index';
import { lockFileOf } from '../../main/store/lock';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-save-as-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const f = (n: string) => path.join(tmp, n);
const sha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

test('an existing session is replaced only when asked, never while another process records into it, never a folder', async () => {
  const other = f('other.sparsitylab');
  const o = SessionStore.create(other);
  o.createRun({ id: 'theirs', kind: 'measure', method: 'cett-ppl', p: 1, config: {}, status: 'completed' });
  o.close();
  const before = sha(other);
  fs.mkdirSync(f('folder.sparsitylab'));
  const e = new Engine({ paths: { userData: f('home'), cache: f('cache') }, log: { info() {}, warn() {}, error() {} } });
  try {
    await e.call('sessions.new', { path: f('mine.sparsitylab') });
    await expect(e.call('sessions.saveAs', { path: other })).rejects.toMatchObject({ code: 'BAD_REQUEST', reason: 'FILE_EXISTS', message: `${other} exists already: save under another name, or replace it` });
    expect(sha(other)).toBe(before);
    await expect(e.call('sessions.saveAs', { path: f('folder') })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: `${f('folder.sparsitylab')}: is a folder, not a file a session can be saved as` });
    // a live writer elsewhere (this test's parent process stands for it: alive, on this host)
    fs.writeFileSync(lockFileOf(other), JSON.stringify({ pid: process.ppid, host: os.hostname(), since: '2026-12-05T00:00:00Z' }));
    await expect(e.call('sessions.saveAs', { path: other, overwrite: true })).rejects.toMatchObject({ code: 'BUSY', message: expect.stringContaining(`in use by PID ${process.ppid}`) });
    expect(sha(other)).toBe(before);
    fs.rmSync(lockFileOf(other));
    const info = (await e.call('sessions.saveAs', { path: other, overwrite: true })) as { path: string; runs: number };
    expect(info).toMatchObject({ path: other, runs: 0 });
    const copy = (await e.call('sessions.saveAs', { path: f('new-copy') })) as { path: string };
    expect(copy.path).toBe(f('new-copy.sparsitylab'));
  } finally {
    await e.dispose();
  }
});
