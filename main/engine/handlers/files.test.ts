import { afterAll, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../engine';

const data = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-files-'));
const engine = new Engine({ paths: { userData: data, cache: path.join(data, 'cache') }, log: { info() {}, warn() {}, error() {} } });
afterAll(() => fs.rmSync(data, { recursive: true, force: true }));

fs.mkdirSync(path.join(data, 'series', 'step-1000'), { recursive: true });
fs.writeFileSync(path.join(data, 'series', 'step-1000', 'config.json'), '{}');
fs.mkdirSync(path.join(data, 'series', 'notes'));
fs.writeFileSync(path.join(data, 'series', 'model.onnx'), 'x');
fs.writeFileSync(path.join(data, 'series', '.hidden'), 'x');

test('lists a folder under an allowed root, folders first, with cheap hints', async () => {
  const r = await engine.invoke('files.list', { path: path.join(data, 'series') });
  expect(r.entries.map((e) => e.name)).toEqual(['notes', 'step-1000', 'model.onnx']);
  expect(r.entries.find((e) => e.name === 'step-1000')?.hint).toBe('hf-checkpoint');
  expect(r.entries.find((e) => e.name === 'notes')?.hint).toBeUndefined();
  expect(r.entries.find((e) => e.name === 'model.onnx')).toMatchObject({ kind: 'file', size: 1, hint: 'onnx' });
  expect(r.parent).toBe(fs.realpathSync(data));
  const root = await engine.invoke('files.list', { path: data });
  expect(root.parent).toBeNull();
  const hidden = await engine.invoke('files.list', { path: path.join(data, 'series'), showHidden: true });
  expect(hidden.entries.map((e) => e.name)).toContain('.hidden');
});

test('refuses folders outside the roots, also through a symlink', async () => {
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-outside-'));
  try {
    if (!fs.realpathSync(outside).startsWith(fs.realpathSync(os.homedir()) + path.sep)) {
      await expect(engine.call('files.list', { path: outside })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
      fs.symlinkSync(outside, path.join(data, 'link-out'));
      await expect(engine.call('files.list', { path: path.join(data, 'link-out') })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    }
    await expect(engine.call('files.list', { path: '/' })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  } finally {
    fs.rmSync(outside, { recursive: true, force: true });
  }
});

test('missing folder, a file, and bad payloads give typed errors', async () => {
  await expect(engine.call('files.list', { path: path.join(data, 'nope') })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  await expect(engine.call('files.list', { path: path.join(data, 'series', 'model.onnx') })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  await expect(engine.call('files.list', { path: 42 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  await expect(engine.call('files.list', { path: data, extra: 1 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
});
