// The lab's start (issue 18): the first start opens the demo lab (a private copy made then), later starts the session
// open last that still exists, none when none does.
import { afterAll, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addRecent, readRecent, startSession } from './recent';
import { demoResource } from './demo';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-recent-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('first start: the demo lab; later: the last session that exists; then none', () => {
  const home = path.join(tmp, 'home');
  const first = startSession(home);
  expect(first).toMatchObject({ firstStart: true, path: path.join(home, 'demo-lab', 'demo.sparsitylab') });
  expect(fs.readFileSync(first.path!).equals(fs.readFileSync(demoResource()))).toBe(true); // the private copy, as shipped
  expect(readRecent(home)).toEqual([]); // deciding is not opening: the window's open adds it to the list

  addRecent(home, first.path!);
  expect(startSession(home)).toMatchObject({ firstStart: false, path: first.path });
  const mine = path.join(tmp, 'mine.sparsitylab');
  fs.writeFileSync(mine, '');
  addRecent(home, mine);
  expect(startSession(home)).toMatchObject({ firstStart: false, path: mine });
  fs.rmSync(mine);
  expect(startSession(home)).toMatchObject({ firstStart: false, path: first.path }); // the last one that still exists
  fs.rmSync(path.join(home, 'demo-lab'), { recursive: true });
  const none = startSession(home);
  expect(none).toMatchObject({ firstStart: false, path: null });
  expect(none.message).toMatch(/None of the 2 recent/);
  expect(fs.existsSync(path.join(home, 'demo-lab'))).toBe(false); // the demo is not brought back once the user has had sessions
});
