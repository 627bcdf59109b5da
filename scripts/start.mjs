// `npm start`: builds what is stale and launches the Electron app. When the Electron binary is missing
// (it is downloaded at install time, which some machines cannot do), says so in one line and starts
// browser mode instead. `npm run web` (--browser) starts browser mode directly.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { buildRenderer, buildElectron } from './build.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const browserOnly = args.includes('--browser');
const passthrough = args.filter((a) => a !== '--browser');

function electronBinary() {
  try {
    const p = createRequire(import.meta.url)('electron'); // the package exports the binary's path
    if (typeof p === 'string' && fs.existsSync(p)) return { path: p };
    return { why: `the Electron package points to ${p}, which does not exist` };
  } catch (err) {
    return { why: String(err?.message ?? err).split('\n')[0] };
  }
}

await buildRenderer();
if (!browserOnly) {
  const bin = electronBinary();
  if (bin.path) {
    await buildElectron();
    const child = spawn(bin.path, [root, ...passthrough], { stdio: 'inherit' });
    child.on('exit', (code) => process.exit(code ?? 0));
    await new Promise(() => {});
  }
  console.log(`Electron is not available here (${bin.why}); starting browser mode instead.`);
}

const child = spawn(process.execPath, [path.join(root, 'bin/run-ts'), path.join(root, 'main/server/cli.ts'), '--start', ...passthrough], { stdio: 'inherit' });
const stop = () => child.kill('SIGTERM');
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
child.on('exit', (code) => process.exit(code ?? 0));
