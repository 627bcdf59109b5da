// The one door for files from outside (main/base/regular-file.ts): a folder, FIFO or device is named before it is
// opened (a FIFO's open would wait for a writer), an oversized JSON file before a byte is read, bad JSON with the
// parser's words; every refusal is the caller's error (its code) naming the file.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { checkRegularFile, readJsonFile } from './regular-file';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-regular-file-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
class Refused extends Error {}
const refuse = (m: string) => new Refused(m);
const kind = { limit: 64, what: 'a small JSON object', invalid: 'not readable JSON', file: 'a spec file' };

test('folders, named pipes and devices are refused by name with the caller\'s error; a regular file gives its facts', () => {
  const fifo = path.join(dir, 'pipe');
  execFileSync('mkfifo', [fifo]);
  expect(() => checkRegularFile(fifo, 'a text file', refuse)).toThrow(new Refused(`${fifo}: is a named pipe (FIFO), not a text file`));
  expect(() => readJsonFile(fifo, kind, refuse)).toThrow(new Refused(`${fifo}: is a named pipe (FIFO), not a spec file`));
  expect(() => checkRegularFile(dir, 'a text file', refuse)).toThrow(`${dir}: is a folder, not a text file`);
  expect(() => checkRegularFile('/dev/zero', 'a text file', refuse)).toThrow('/dev/zero: is a device, not a text file');
  expect(() => checkRegularFile(path.join(dir, 'none'), 'a text file', refuse)).toThrow(new Refused(`${path.join(dir, 'none')}: cannot be read (ENOENT)`));
  const f = path.join(dir, 'ok.json');
  fs.writeFileSync(f, '{"a": [1, 2]}');
  expect(checkRegularFile(f, 'a text file', refuse).size).toBe(13);
  expect(readJsonFile(f, kind, refuse)).toEqual({ a: [1, 2] });
});

test('a JSON file over its limit is refused before it is read; text that is not JSON with the parser\'s words', () => {
  const big = path.join(dir, 'big.json');
  fs.writeFileSync(big, `[${'1,'.repeat(40)}1]`);
  expect(() => readJsonFile(big, kind, refuse)).toThrow(new Refused(`${big}: 83 bytes, far larger than such a file is (limit 64): not a small JSON object`));
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, '{"a": ');
  expect(() => readJsonFile(bad, kind, refuse)).toThrow(new RegExp(`^${bad}: not readable JSON \\(.+\\)$`));
});
