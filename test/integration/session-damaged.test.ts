// A session file damaged on disk (bytes overwritten, cut short, emptied), opened as a user would: read-only (CLI `runs`,
// the window's read-only open) and for writing (`measure --session`, sessions.open). One line naming the file and the
// problem; the file's bytes unchanged; nothing left beside it. quick_check's rows hold lines of their own: the message
// was some 50 lines ("Page 420: never used" …), and each failed open left an empty -wal and a -shm beside the file.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { SessionStore } from '../../main/store/session';
import { integrityWords } from '../../main/store/db';

const repo = path.resolve(__dirname, '../..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-damaged-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

function damaged(name: string, edit: (b: Buffer) => Buffer): string {
  const f = path.join(dir, name, 'lab.sparsitylab');
  fs.mkdirSync(path.dirname(f));
  fs.writeFileSync(f, edit(fs.readFileSync(path.join(repo, 'resources/demo-lab/demo.sparsitylab'))));
  return f;
}

test('damaged, cut short or emptied: one line naming the file and the problem; the file as it was, nothing beside it', () => {
  let seed = 3;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const files = {
    scribbled: damaged('scribbled', (b) => {
      for (let i = 0; i < 2000; i++) b[4096 + rand(b.length - 4096)] = rand(256);
      return b;
    }),
    half: damaged('half', (b) => b.subarray(0, b.length >> 1)),
    header: damaged('header', (b) => b.subarray(0, 100)),
    empty: damaged('empty', () => Buffer.alloc(0)),
  };
  const want: Record<keyof typeof files, RegExp> = {
    scribbled: /: is damaged \(integrity check: [^;]+; [^;]+; [^;]+; and \d+ more\)$/,
    half: /: is damaged or not a session \(database disk image is malformed\)$/,
    header: /: is damaged or not a session \(database disk image is malformed\)$/,
    empty: /: is not a Sparsity Lab session \(not an SQLite database\)$/,
  };
  for (const [name, f] of Object.entries(files) as [keyof typeof files, string][]) {
    const before = sha(f);
    for (const readOnly of [true, false]) {
      let err: { code?: string; message: string } | undefined;
      try {
        SessionStore.open(f, { readOnly }).close();
      } catch (e) {
        err = e as { code?: string; message: string };
      }
      expect(err?.code, `${name} readOnly=${readOnly}`).toBe('SESSION_ERROR');
      expect(err!.message.startsWith(`${f}: `)).toBe(true);
      expect(err!.message).toMatch(want[name]);
      expect(err!.message).not.toContain('\n');
      expect(err!.message.length).toBeLessThan(400);
      expect(fs.readdirSync(path.dirname(f)), `${name} readOnly=${readOnly}`).toEqual(['lab.sparsitylab']);
      expect(sha(f)).toBe(before);
    }
  }
});

test("integrityWords: quick_check's rows and lines in one line, the header line left out, the rest counted", () => {
  expect(integrityWords(['*** in database main ***\nPage 4: never used\nPage 5: never used', 'wrong # of entries in index x'])).toBe('Page 4: never used; Page 5: never used; wrong # of entries in index x');
  expect(integrityWords(['*** in database main ***\na\nb\nc\nd\ne'])).toBe('a; b; c; and 2 more');
});

test("a folder in place of the session's -wal or -shm is named as such (it read 'damaged or not a session (unable to open database file)')", () => {
  for (const [suffix, what] of [
    ['-wal', 'its write-ahead log'],
    ['-shm', 'its shared-memory index'],
  ]) {
    const f = damaged(`side${suffix}`, (b) => b);
    fs.mkdirSync(`${f}${suffix}`);
    for (const readOnly of [true, false])
      expect(() => SessionStore.open(f, { readOnly }).close()).toThrow(`${f}: ${f}${suffix} is a folder, not ${what} (SQLite keeps it beside the session): move it away, then open the session again`);
    fs.rmdirSync(`${f}${suffix}`);
    SessionStore.open(f, { readOnly: true }).close(); // the session itself is whole
  }
});
