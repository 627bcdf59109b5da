import { afterAll, expect, test, vi } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../engine';
import { MAX_ENTRIES } from './files';

const data = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'slab-files-')));
const engine = new Engine({ paths: { userData: path.join(data, 'app'), cache: path.join(data, 'cache') }, log: { info() {}, warn() {}, error() {} } });
afterAll(() => fs.rmSync(data, { recursive: true, force: true }));

fs.mkdirSync(path.join(data, 'app'));
fs.mkdirSync(path.join(data, 'series', 'step-1000'), { recursive: true });
fs.writeFileSync(path.join(data, 'series', 'step-1000', 'config.json'), '{}');
fs.mkdirSync(path.join(data, 'series', 'notes'));
fs.writeFileSync(path.join(data, 'series', 'model.onnx'), 'x');
fs.writeFileSync(path.join(data, 'series', '.hidden'), 'x');

test('lists a folder, folders first, with cheap hints; parent up to the file system root', async () => {
  const r = await engine.invoke('files.list', { path: path.join(data, 'series') });
  expect(r.entries.map((e) => e.name)).toEqual(['notes', 'step-1000', 'model.onnx']);
  expect(r.entries.find((e) => e.name === 'step-1000')?.hint).toBe('hf-checkpoint');
  expect(r.entries.find((e) => e.name === 'notes')?.hint).toBeUndefined();
  expect(r.entries.find((e) => e.name === 'model.onnx')).toMatchObject({ kind: 'file', size: 1, hint: 'onnx' });
  expect(r.parent).toBe(data);
  const hidden = await engine.invoke('files.list', { path: path.join(data, 'series'), showHidden: true });
  expect(hidden.entries.map((e) => e.name)).toContain('.hidden');
  const top = await engine.invoke('files.list', { path: '/' });
  expect(top.parent).toBeNull();
  expect(top.entries.some((e) => e.kind === 'dir' && e.name === 'tmp')).toBe(true);
  expect(top.roots.map((x) => x.label)).toEqual(expect.arrayContaining(['Home', 'App data', 'File system']));
  const home = await engine.invoke('files.list', {});
  expect(home.path).toBe(fs.realpathSync(os.homedir()));
  expect((await engine.invoke('files.list', { path: '~' })).path).toBe(home.path);
});

test('folders outside home list too (the whole file system); a file path lists its folder with the file selected', async () => {
  const outside = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'slab-outside-')));
  try {
    fs.writeFileSync(path.join(outside, 'eval.txt'), 'secret first line that must never be echoed\n');
    const r = await engine.invoke('files.list', { path: outside });
    expect(r.entries).toEqual([expect.objectContaining({ name: 'eval.txt', kind: 'file', hint: 'text' })]);
    const f = await engine.invoke('files.list', { path: path.join(outside, 'eval.txt') });
    expect(f).toMatchObject({ path: outside, selected: 'eval.txt' });
    expect(JSON.stringify(f)).not.toMatch(/secret/); // names, sizes, dates: never contents
    fs.symlinkSync(outside, path.join(data, 'link-out'));
    expect((await engine.invoke('files.list', { path: path.join(data, 'link-out') })).path).toBe(outside);
  } finally {
    fs.rmSync(outside, { recursive: true, force: true });
  }
});

test('hostile paths: relative, NUL, traversal, too long, missing, through a file give typed errors that echo no contents', async () => {
  await expect(engine.call('files.list', { path: 'series' })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/not an absolute path/) });
  await expect(engine.call('files.list', { path: '../../etc' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  await expect(engine.call('files.list', { path: `${data}/\0/etc` })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/NUL/) });
  await expect(engine.call('files.list', { path: '/' + 'a'.repeat(5000) })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  await expect(engine.call('files.list', { path: '/' + 'a'.repeat(300) })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/too long|does not exist/) });
  await expect(engine.call('files.list', { path: path.join(data, 'nope') })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/does not exist/) });
  await expect(engine.call('files.list', { path: path.join(data, 'series', 'model.onnx', 'x') })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/not a folder/) });
  // traversal segments resolve to the folder they name, like a shell would
  expect((await engine.invoke('files.list', { path: `${data}/series/notes/../../series` })).path).toBe(path.join(data, 'series'));
  await expect(engine.call('files.list', { path: 42 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  await expect(engine.call('files.list', { path: data, extra: 1 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
});

test('symlink loops: the loop itself is a clear error; a folder holding loops and a self-link still lists', async () => {
  const dir = path.join(data, 'loops');
  fs.mkdirSync(dir);
  fs.symlinkSync(path.join(dir, 'b'), path.join(dir, 'a'));
  fs.symlinkSync(path.join(dir, 'a'), path.join(dir, 'b'));
  fs.symlinkSync(dir, path.join(dir, 'self'));
  fs.symlinkSync(path.join(dir, 'gone'), path.join(dir, 'dangling'));
  fs.writeFileSync(path.join(dir, 'ok.txt'), 'x');
  const r = await engine.invoke('files.list', { path: dir });
  expect(r.entries.map((e) => `${e.kind}:${e.name}`)).toEqual(['dir:self', 'file:ok.txt']);
  expect((await engine.invoke('files.list', { path: path.join(dir, 'self', 'self', 'self') })).path).toBe(dir);
  await expect(engine.call('files.list', { path: path.join(dir, 'a') })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/loop of symbolic links/) });
});

test('an unreadable folder gives "permission denied", not a crash', async () => {
  const locked = path.join(data, 'locked');
  fs.mkdirSync(locked);
  fs.chmodSync(locked, 0o000);
  try {
    if (process.getuid?.() !== 0) {
      await expect(engine.call('files.list', { path: locked })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/permission denied/) });
    }
    // root reads anything: the same path through an injected EACCES, as a non-root user meets it
    const spy = vi.spyOn(fs.promises, 'readdir').mockRejectedValueOnce(Object.assign(new Error("EACCES: permission denied, scandir 'x'"), { code: 'EACCES' }));
    await expect(engine.call('files.list', { path: locked })).rejects.toMatchObject({ code: 'NOT_FOUND', message: `The folder '${locked}' cannot be read (permission denied).` });
    spy.mockRestore();
    // the engine still answers afterwards
    expect((await engine.invoke('files.list', { path: data })).path).toBe(data);
  } finally {
    fs.chmodSync(locked, 0o755);
  }
});

test('recent folders: remembered (a file remembers its folder), newest first, deduplicated, gone ones hidden, damaged file ignored', async () => {
  const a = path.join(data, 'series');
  const b = path.join(data, 'series', 'notes');
  await engine.invoke('files.remember', { path: path.join(a, 'model.onnx') });
  await engine.invoke('files.remember', { path: b });
  expect((await engine.invoke('files.remember', { path: a })).recent).toEqual([a, b]);
  expect((await engine.invoke('files.list', { path: data })).recent).toEqual([a, b]);
  // a save target that does not exist yet remembers its folder
  expect((await engine.invoke('files.remember', { path: path.join(b, 'new.json') })).recent).toEqual([b, a]);
  fs.rmSync(b, { recursive: true });
  expect((await engine.invoke('files.list', { path: data })).recent).toEqual([a]);
  await expect(engine.call('files.remember', { path: path.join(data, 'no', 'such', 'x.txt') })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  fs.writeFileSync(path.join(data, 'app', 'recent-folders.json'), '{not json');
  expect((await engine.invoke('files.list', { path: data })).recent).toEqual([]);
  expect((await engine.invoke('files.remember', { path: a })).recent).toEqual([a]);
});

test('a huge folder lists the first entries (folders first, by name), says it is truncated, and keeps a selected file', async () => {
  const big = path.join(data, 'big');
  fs.mkdirSync(big);
  for (let i = 0; i < MAX_ENTRIES + 5; i++) fs.writeFileSync(path.join(big, `f${String(i).padStart(5, '0')}.txt`), '');
  fs.mkdirSync(path.join(big, 'zz-folder'));
  const r = await engine.invoke('files.list', { path: big });
  expect(r.truncated).toBe(true);
  expect(r.entries).toHaveLength(MAX_ENTRIES);
  expect(r.entries[0]).toMatchObject({ name: 'zz-folder', kind: 'dir' });
  expect(r.entries[1].name).toBe('f00000.txt');
  const last = `f${String(MAX_ENTRIES + 4).padStart(5, '0')}.txt`;
  const sel = await engine.invoke('files.list', { path: path.join(big, last) });
  expect(sel.selected).toBe(last);
  expect(sel.entries.some((e) => e.name === last)).toBe(true);
  fs.rmSync(big, { recursive: true });
});
