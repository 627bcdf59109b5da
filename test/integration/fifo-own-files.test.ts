// The app's own files with a named pipe (FIFO) in their place — the hash memo (cache/hashes.json), a job file in a
// job-state folder, a session's or a job's lock file, the recent sessions list — are never waited on: reading one
// blocked the process for ever (readFileSync on a FIFO waits for a writer; `measure` hung with no word). Each is taken
// as missing or unreadable, or refused naming it. Run in a child process: before the fix it hung, and a hang in a
// synchronous read cannot be ended from inside.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, expect, test } from 'vitest';

const repo = path.resolve(__dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-fifo-own-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const fifo = (f: string) => {
  fs.mkdirSync(path.dirname(f), { recursive: true });
  execFileSync('mkfifo', [f]);
  return f;
};

test('a FIFO in place of the hash memo, a job file, a lock file or the recent list is never waited on', () => {
  const memo = fifo(path.join(tmp, 'cache', 'hashes.json'));
  const jobs = path.join(tmp, 'jobs');
  fifo(path.join(jobs, 'measure-x.job.json'));
  fifo(path.join(jobs, 'measure-y.job.json.lock'));
  const session = path.join(tmp, 'lab.sparsitylab');
  const userData = path.join(tmp, 'ud');
  fifo(path.join(userData, 'recent-sessions.json'));
  const url = (p: string) => JSON.stringify(pathToFileURL(path.join(repo, p)).href);
  const script = path.join(tmp, 'run.mjs');
  fs.writeFileSync(
    script,
    `import { register } from ${url('node_modules/tsx/dist/esm/api/index.mjs')};
register();
const out = {};
const { useHashMemo, hashFiles } = await import(${url('main/checkpoint/hash.ts')});
const { writeTinyCheckpoint } = await import(${url('main/checkpoint/testing/tiny.ts')});
const { JsonFilePersistence } = await import(${url('main/jobs/persistence.ts')});
const { SessionStore } = await import(${url('main/store/index.ts')});
const { readRecent } = await import(${url('main/engine/recent.ts')});
useHashMemo(${JSON.stringify(memo)});
const ck = writeTinyCheckpoint(${JSON.stringify(path.join(tmp, 'ck'))}, 'llama', { layers: 1 });
out.hash = (await hashFiles([ck + '/model.safetensors'])).length;
const p = new JsonFilePersistence(${JSON.stringify(jobs)});
await p.create('measure-z', 'measure', {});
out.unfinished = (await p.listUnfinished()).map((j) => j.id);
out.load = await p.load('measure-x').then(() => 'loaded', (e) => e.code + ': ' + e.message);
const s = SessionStore.create(${JSON.stringify(session)});
s.close();
${'' /* a FIFO where the session's lock goes: the writer's open must not wait on it */}
(await import('node:child_process')).execFileSync('mkfifo', [${JSON.stringify(session + '.lock')}]);
try { SessionStore.open(${JSON.stringify(session)}).close(); out.lock = 'opened'; } catch (e) { out.lock = e.code + ': ' + e.message; }
out.recent = readRecent(${JSON.stringify(userData)});
process.stdout.write(JSON.stringify(out));
process.exit(0);
`,
  );
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000 });
  expect(r.signal, 'the child hung on a FIFO').toBeNull();
  expect(r.status, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  expect(out.hash).toBe(64);
  expect(out.unfinished).toEqual(['measure-z']);
  expect(out.load).toBe(`BAD_DATA: job file ${path.join(jobs, 'measure-x.job.json')}: is a named pipe (FIFO), not a job file`);
  expect(out.lock).toBe(`SESSION_ERROR: ${session}: ${session}.lock is a named pipe (FIFO), not a lock file: move it away, then open the session again`);
  expect(out.recent).toEqual([]);
  // the memo was written in place of the FIFO (a regular file now), the FIFO job file left alone
  expect(fs.statSync(memo).isFile()).toBe(true);
  expect(fs.statSync(path.join(jobs, 'measure-x.job.json')).isFIFO()).toBe(true);
}, 90_000);
