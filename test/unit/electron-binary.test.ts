// `npm start` without the Electron binary: our one line (the binary is missing, downloaded from GitHub at install
// time, browser mode starts), never Electron's advice to delete node_modules/electron unless --verbose asks for its text.
// The electron package here is a copy of the installed package's own index.js, so its real behaviour is what is tested.
import { afterEach, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
type Found = { path?: string; missing?: 'package' | 'binary'; detail?: string };
const load = async () =>
  (await import(path.join(root, 'scripts/electron-binary.mjs'))) as {
    findElectron: (dir: string) => Found;
    electronMissingLines: (f: Found, verbose: boolean) => string[];
  };

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
/** a project folder whose node_modules/electron is the real package's index.js, with or without its path.txt / binary */
function project(o: { pkg: boolean; pathTxt?: string; binary?: boolean }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-electron-'));
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"p","private":true}');
  if (!o.pkg) return dir;
  const pkg = path.join(dir, 'node_modules/electron');
  fs.mkdirSync(path.join(pkg, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(root, 'node_modules/electron/index.js'), path.join(pkg, 'index.js'));
  fs.writeFileSync(path.join(pkg, 'package.json'), '{"name":"electron","main":"index.js"}');
  if (o.pathTxt) fs.writeFileSync(path.join(pkg, 'path.txt'), o.pathTxt);
  if (o.binary) fs.writeFileSync(path.join(pkg, 'dist', o.pathTxt!), '');
  return dir;
}

test('binary not downloaded: one line of our own, Electron\'s "delete node_modules/electron" only with --verbose', async () => {
  const { findElectron, electronMissingLines } = await load();
  const saved = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  delete process.env.ELECTRON_OVERRIDE_DIST_PATH;
  try {
    const found = findElectron(project({ pkg: true }));
    expect(found).toMatchObject({ missing: 'binary' });
    expect(found.detail).toMatch(/Electron failed to install correctly/); // what the package itself throws
    const quiet = electronMissingLines(found, false);
    expect(quiet).toEqual(['The Electron binary is missing (npm install downloads it from GitHub; this machine did not get it): starting browser mode instead.']);
    expect(quiet.join('\n')).not.toMatch(/delete|node_modules\/electron|try installing/i);
    const loud = electronMissingLines(found, true);
    expect(loud[0]).toBe(quiet[0]);
    expect(loud).toHaveLength(2);
    expect(loud[1]).toMatch(/^ {2}electron said: Electron failed to install correctly/);

    // path.txt names a binary that is not there
    const gone = findElectron(project({ pkg: true, pathTxt: 'electron' }));
    expect(gone).toMatchObject({ missing: 'binary' });
    expect(gone.detail).toMatch(/points to .*dist.electron, which does not exist/);
    expect(electronMissingLines(gone, false)).toEqual(quiet);

    // the binary is there: its path
    const dir = project({ pkg: true, pathTxt: 'electron', binary: true });
    expect(findElectron(dir)).toEqual({ path: path.join(fs.realpathSync(dir), 'node_modules/electron/dist/electron') });
  } finally {
    if (saved !== undefined) process.env.ELECTRON_OVERRIDE_DIST_PATH = saved;
  }
});

test('no electron package at all: says so, still one line', async () => {
  const { findElectron, electronMissingLines } = await load();
  const found = findElectron(project({ pkg: false }));
  expect(found.missing).toBe('package');
  expect(electronMissingLines(found, false)).toEqual(['Electron is not installed (the electron package is not in node_modules): starting browser mode instead.']);
});
