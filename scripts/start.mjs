// `npm start`: builds what is stale and launches the Electron app. When the Electron binary is missing
// (it is downloaded at install time, which some machines cannot do), says so in one line and starts
// browser mode instead (Electron's own message only with --verbose). `npm run web` (--browser) starts browser mode directly.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildRenderer, buildElectron } from './build.mjs';
import { findElectron, electronMissingLines } from './electron-binary.mjs';
import { childEnded } from './child-exit.mjs';

/** ends as the child ended, saying so when it was killed */
const endAs = (what) => (code, signal) => {
  const end = childEnded(what, code, signal);
  if (end.message) console.error(end.message);
  process.exit(end.status);
};

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const browserOnly = args.includes('--browser');
const verbose = args.includes('--verbose'); // also print Electron's own message when its binary is missing
const passthrough = args.filter((a) => a !== '--browser' && a !== '--verbose');

await buildRenderer();
if (!browserOnly) {
  const bin = findElectron(root);
  if (bin.path) {
    await buildElectron();
    const child = spawn(bin.path, [root, ...passthrough], { stdio: 'inherit' });
    child.on('exit', endAs('electron'));
    await new Promise(() => {});
  }
  for (const line of electronMissingLines(bin, verbose)) console.log(line);
}

const child = spawn(process.execPath, [path.join(root, 'bin/run-ts'), path.join(root, 'main/server/cli.ts'), '--start', ...passthrough], { stdio: 'inherit' });
const stop = () => child.kill('SIGTERM');
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
child.on('exit', endAs('browser'));
