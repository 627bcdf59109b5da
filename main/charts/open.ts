/**
 * Opening the data behind charts: a session file through the session store (main/store), or a chart
 * snapshot JSON (the same entities as plain data: handy for data measured elsewhere and for tests).
 * Errors name the file and the problem.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';
import { fromSnapshot, parseSnapshot, type ChartSource } from './source';
import { writeFileAtomic } from '../base/atomic-write';

/** Adapters for session files register here (the session store adds one for `.sparsitylab`). */
const openers = new Map<string, (file: string, opts: { write: boolean }) => ChartSource>();
export function registerChartSourceOpener(ext: string, open: (file: string, opts: { write: boolean }) => ChartSource): void {
  openers.set(ext.toLowerCase(), open);
}

/** `write`: the caller saves chart settings into the file; otherwise (reading, exporting) the file is never written. */
export function openChartSource(file: string, opts: { write?: boolean } = {}): ChartSource {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new LabError('NOT_FOUND', `session ${abs} does not exist`);
  const ext = path.extname(abs).toLowerCase();
  const opener = openers.get(ext);
  if (opener) return opener(abs, { write: opts.write === true });
  if (ext === '.json') {
    let data: unknown;
    try {
      data = JSON.parse(fs.readFileSync(abs, 'utf8'));
    } catch (e) {
      throw new LabError('BAD_DATA', `${abs} is not valid JSON: ${(e as Error).message}`);
    }
    try {
      const snap = parseSnapshot(data, abs);
      // settings saved from the UI go back into the same file
      return { ...fromSnapshot(snap, (s) => writeFileAtomic(abs, JSON.stringify(s, null, 1))), file: abs };
    } catch (e) {
      throw new LabError('BAD_DATA', (e as Error).message);
    }
  }
  throw new LabError('UNSUPPORTED', `${abs}: charts can read ${[...openers.keys(), '.json (chart snapshot)'].join(', ')} files, not '${ext || 'no extension'}'`);
}
