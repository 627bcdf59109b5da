// Where `npm start` finds the Electron binary, and what it says when there is none. The electron package exports
// the binary's path; where the binary was not downloaded (npm install fetches it from GitHub, which some machines
// cannot reach, or ELECTRON_SKIP_BINARY_DOWNLOAD skipped it) requiring the package throws Electron's own message,
// which tells the user to delete node_modules/electron and reinstall: no help where the download cannot happen.
// So the user sees our one line; Electron's text only with --verbose.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

/** { path } of the binary, or { missing: 'package' | 'binary', detail } (detail: what the package said, one line). */
export function findElectron(fromDir) {
  let p;
  try {
    p = createRequire(path.join(fromDir, 'package.json'))('electron');
  } catch (err) {
    const detail = String(err?.message ?? err).split('\n')[0];
    return { missing: err?.code === 'MODULE_NOT_FOUND' && /'electron'/.test(detail) ? 'package' : 'binary', detail };
  }
  if (typeof p === 'string' && fs.existsSync(p)) return { path: p };
  return { missing: 'binary', detail: `the electron package points to ${p}, which does not exist` };
}

/** The lines `npm start` prints when there is no binary: one line, plus Electron's own text with `verbose`. */
export function electronMissingLines(found, verbose) {
  const what =
    found.missing === 'package'
      ? 'Electron is not installed (the electron package is not in node_modules)'
      : 'The Electron binary is missing (npm install downloads it from GitHub; this machine did not get it)';
  const lines = [`${what}: starting browser mode instead.`];
  if (verbose) lines.push(`  electron said: ${found.detail}`);
  return lines;
}
