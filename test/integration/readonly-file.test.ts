// A session file that is read-only on disk, in a folder this user CAN write: reading it (CLI `runs`, `measure
// --session` which is refused as read-only, the API's sessions.open) leaves the folder as it was. SQLite's read-only
// connection to a WAL file made an empty -wal and a -shm beside it and, not allowed to write, never removed them
// (main/store/db.ts tidyAfterReader). Root writes through permissions, so as root the CLI runs as the user nobody.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, expect, test } from 'vitest';

const repo = path.resolve(__dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-ro-file-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

test('a read-only session file in a writable folder is read and nothing is left beside it', () => {
  fs.chmodSync(tmp, 0o755);
  const folder = path.join(tmp, 'lab');
  fs.mkdirSync(folder);
  fs.chmodSync(folder, 0o777);
  const session = path.join(folder, 'lab.sparsitylab');
  fs.copyFileSync(path.join(repo, 'resources/demo-lab/demo.sparsitylab'), session);
  fs.chmodSync(session, 0o444);
  const before = sha(session);
  const text = path.join(tmp, 'eval.txt');
  fs.writeFileSync(text, 'some words of text. '.repeat(100));
  fs.chmodSync(text, 0o644);
  const script = path.join(tmp, 'read.mjs');
  fs.writeFileSync(
    script,
    `import fs from 'node:fs';
import { register } from ${JSON.stringify(pathToFileURL(path.join(repo, 'node_modules/tsx/dist/esm/api/index.mjs')).href)};
register();
const { main } = await import(${JSON.stringify(pathToFileURL(path.join(repo, 'main/cli/index.ts')).href)});
const out = [];
console.log = () => undefined; console.error = (...a) => out.push(a.join(' ')); process.stderr.write = () => true;
const after = (what) => out.push(what + ': ' + fs.readdirSync(${JSON.stringify(folder)}).sort().join(' '));
out.push('runs rc ' + await main(['runs', ${JSON.stringify(session)}, '--json']));
after('runs');
out.push('measure rc ' + await main(['measure', ${JSON.stringify(path.join(repo, 'resources/demo-lab/models/relu'))}, '--data', ${JSON.stringify(text)}, '--tokens', '256', '--seq-len', '64', '--session', ${JSON.stringify(session)}]));
after('measure');
process.stdout.write(JSON.stringify(out));
process.exit(0);
`,
  );
  fs.chmodSync(script, 0o644);
  const asRoot = process.getuid?.() === 0;
  const home = path.join(tmp, 'home');
  fs.mkdirSync(home, { mode: 0o777 });
  fs.chmodSync(home, 0o777);
  const r = spawnSync(process.execPath, [script], { cwd: tmp, env: { ...process.env, HOME: home }, encoding: 'utf8', timeout: 120_000, ...(asRoot ? { uid: 65534, gid: 65534 } : {}) });
  expect(r.status, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout) as string[];
  expect(out[0]).toBe('runs rc 0');
  expect(out[1]).toBe('runs: lab.sparsitylab');
  expect(out[2]).toMatch(/^sparsity-lab measure: READ_ONLY: .*lab\.sparsitylab: cannot record into this session: This session file \(or its folder\) is read-only on disk/);
  expect(out.slice(3)).toEqual(['measure rc 1', 'measure: lab.sparsitylab']);
  expect(sha(session)).toBe(before);
});
