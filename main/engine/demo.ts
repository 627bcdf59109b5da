/**
 * The built-in demo lab. The shipped folder (resources/demo-lab: the session, the models it measured, eval.txt) is
 * read-only app content, so the user gets a private copy of the whole folder in the user-data folder: their notes and
 * runs land there, an app update never overwrites them, and the session finds its models and text by their paths
 * relative to it (issue 17: relocatable sessions), so "Measure" works on a fresh install.
 */
import fs from 'node:fs';
import path from 'node:path';
import { resourcesDir } from '../base/resources';

export function demoResource(): string {
  return path.join(resourcesDir(), 'demo-lab', 'demo.sparsitylab');
}

/** Copies what is missing of the demo folder into userData/demo-lab (never overwrites: the copy is the user's). */
export function prepareDemoSession(userData: string): { path?: string; message: string } {
  const src = demoResource();
  if (!fs.existsSync(src)) return { message: `The demo lab session is not built yet (${src} is missing; see tools/demo-lab/README.md).` };
  const from = path.dirname(src);
  const to = path.join(userData, 'demo-lab');
  fs.mkdirSync(to, { recursive: true });
  for (const e of fs.readdirSync(from, { withFileTypes: true })) {
    if (!e.isFile() && !e.isDirectory()) continue;
    const dst = path.join(to, e.name);
    if (!fs.existsSync(dst)) fs.cpSync(path.join(from, e.name), dst, { recursive: true });
  }
  const dst = path.join(to, 'demo.sparsitylab');
  return { path: dst, message: `Opening the demo lab (${dst}).` };
}
