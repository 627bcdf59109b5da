import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { writeFileAtomic } from './atomic-write';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('writes a new file and replaces an old one whole; no temporary left', () => {
  const f = path.join(dir, 'a.json');
  writeFileAtomic(f, '{"v":1}\n');
  writeFileAtomic(f, Buffer.from('{"v":2}\n'));
  expect(fs.readFileSync(f, 'utf8')).toBe('{"v":2}\n');
  expect(fs.readdirSync(dir)).toEqual(['a.json']);
});

test('a write that fails leaves what was there and no temporary; the error names the file, with its code', () => {
  // the target is a folder with a file in it: the rename fails after the data was written
  const target = path.join(dir, 'busy');
  fs.mkdirSync(target);
  fs.writeFileSync(path.join(target, 'keep.txt'), 'keep');
  let err: NodeJS.ErrnoException | undefined;
  try {
    writeFileAtomic(target, 'new');
  } catch (e) {
    err = e as NodeJS.ErrnoException;
  }
  expect(err?.code).toMatch(/^(EISDIR|ENOTEMPTY|EEXIST|EPERM)$/);
  expect(err?.message).toContain(target);
  expect(err?.message).not.toContain('.tmp');
  expect(fs.readFileSync(path.join(target, 'keep.txt'), 'utf8')).toBe('keep');
  expect(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  // a missing folder: ENOENT, naming the file
  const missing = path.join(dir, 'no-such-folder', 'x.csv');
  expect(() => writeFileAtomic(missing, 'x')).toThrow(expect.objectContaining({ code: 'ENOENT', message: expect.stringContaining(missing) }));
});
