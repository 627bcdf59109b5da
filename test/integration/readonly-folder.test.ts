// A session in a folder this user cannot write (a read-only mount, a colleague's folder), through the CLI as a user
// meets it: `runs` and `export` read it (from a temporary copy: SQLite's WAL mode cannot make its -shm index there, which
// said "is damaged or not a session (attempt to write a readonly database)"), recording into it is refused as read-only,
// a new session or a job-state folder there is one clear error naming the folder (they were INTERNAL "unable to open
// database file" and "EACCES: permission denied, mkdir …"). The folder is left as it was. Root writes through
// permissions, so as root the CLI runs as the unprivileged user nobody (65534).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, expect, test } from 'vitest';

const repo = path.resolve(__dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-ro-folder-'));
const ro = path.join(tmp, 'ro');
afterAll(() => {
  fs.chmodSync(ro, 0o755);
  fs.rmSync(tmp, { recursive: true, force: true });
});
const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

test('a session in a read-only folder is read, not recorded into; a new session or job state there is refused naming the folder', () => {
  fs.chmodSync(tmp, 0o755);
  fs.mkdirSync(ro);
  const session = path.join(ro, 'lab.sparsitylab');
  fs.copyFileSync(path.join(repo, 'resources/demo-lab/demo.sparsitylab'), session);
  const home = path.join(tmp, 'home');
  fs.mkdirSync(home, { mode: 0o777 });
  fs.chmodSync(home, 0o777);
  const text = path.join(tmp, 'eval.txt');
  fs.writeFileSync(text, fs.readFileSync(path.join(repo, 'resources/demo-lab/eval.txt'), 'utf8').slice(0, 4000));
  fs.chmodSync(text, 0o644);
  const before = sha(session);
  const writable = path.join(home, 'copy.sparsitylab'); // the same file where this user may write: what `runs` says of it
  fs.copyFileSync(session, writable);
  fs.chmodSync(writable, 0o666);
  fs.chmodSync(ro, 0o555);
  // one process runs the CLI's commands in turn (its start costs seconds through tsx), each one's exit code and output
  const script = path.join(tmp, 'cli.mjs');
  fs.writeFileSync(
    script,
    `import { register } from ${JSON.stringify(pathToFileURL(path.join(repo, 'node_modules/tsx/dist/esm/api/index.mjs')).href)};
register();
const { main } = await import(${JSON.stringify(pathToFileURL(path.join(repo, 'main/cli/index.ts')).href)});
const out = [];
let buf = '';
const cap = (...a) => { buf += a.join(' ') + '\\n'; };
console.log = cap; console.error = cap; process.stderr.write = (m) => { buf += m; return true; };
for (const argv of JSON.parse(process.argv[2])) { buf = ''; const rc = await main(argv); out.push({ rc, out: buf }); }
process.stdout.write(JSON.stringify(out));
process.exit(0);
`,
  );
  fs.chmodSync(script, 0o644);
  const model = path.join(repo, 'resources/demo-lab/models/relu');
  const measure = ['measure', model, '--data', text, '--tokens', '512', '--seq-len', '64'];
  const cmds = [
    ['runs', writable, '--json'],
    ['runs', session, '--json'],
    ['export', session, '--chart', 'activation-vs-tokens', '--format', 'csv', '--out', path.join(home, 'fig.csv')],
    [...measure, '--session', session],
    [...measure, '--session', path.join(ro, 'new.sparsitylab')],
    [...measure, '--state-dir', path.join(ro, 'state')],
  ];
  const asRoot = process.getuid?.() === 0;
  const r = spawnSync(process.execPath, [script, JSON.stringify(cmds)], { cwd: tmp, env: { ...process.env, HOME: home }, encoding: 'utf8', timeout: 120_000, ...(asRoot ? { uid: 65534, gid: 65534 } : {}) });
  expect(r.status, r.stderr).toBe(0);
  const [same, runs, exported, record, create, state] = JSON.parse(r.stdout) as { rc: number; out: string }[];
  expect(runs.rc, runs.out).toBe(0);
  expect(same.rc, same.out).toBe(0);
  expect((JSON.parse(runs.out) as unknown[]).length).toBeGreaterThan(0);
  expect(runs.out.split(session).join('<file>')).toBe(same.out.split(writable).join('<file>'));
  expect(exported.rc, exported.out).toBe(0);
  const csv = fs.readFileSync(path.join(home, 'fig.csv'), 'utf8');
  expect(csv).toContain(`# session: lab (${session})`);
  expect(csv.split('\n').filter((l) => l.includes(',measured,')).length).toBeGreaterThan(10); // its data rows
  expect(record).toEqual({ rc: 1, out: `sparsity-lab measure: READ_ONLY: ${session}: cannot record into this session: This session's folder (${ro}) is read-only for this app: the session is shown from a temporary copy and nothing can be recorded into it. Copy it somewhere writable to record into it.\n` });
  expect(create).toEqual({ rc: 1, out: `sparsity-lab measure: SESSION_ERROR: ${path.join(ro, 'new.sparsitylab')}: cannot be created: the folder ${ro} does not take new files (read-only, or no permission to write there). Choose a writable folder.\n` });
  expect(state.rc).toBe(1);
  expect(state.out).toBe(`sparsity-lab measure: SESSION_ERROR: cannot save the job state to ${path.join(ro, 'state')}: permission denied. Whatever was saved before is kept; choose a writable --state-dir (or --session) or free some space, then resume.\n`);
  // the folder as it was: the session's bytes, nothing beside it
  expect(fs.readdirSync(ro)).toEqual(['lab.sparsitylab']);
  expect(sha(session)).toBe(before);
  // the temporary copies are gone
  expect(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('sparsity-lab-readonly-') && fs.statSync(path.join(os.tmpdir(), n)).uid === (asRoot ? 65534 : process.getuid?.()))).toEqual([]);
});
