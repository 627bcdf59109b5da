/**
 * The built-in demo lab. The shipped session (resources/demo-lab/demo.sparsitylab) is read-only app
 * content, so the user gets a private copy in the user-data folder: their notes and runs land there and
 * an app update never overwrites them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { resourcesDir } from '../base/resources';

export function demoResource(): string {
  return path.join(resourcesDir(), 'demo-lab', 'demo.sparsitylab');
}

export function prepareDemoSession(userData: string): { path?: string; message: string } {
  const src = demoResource();
  if (!fs.existsSync(src)) return { message: `The demo lab session is not built yet (${src} is missing; see tools/demo-lab/README.md).` };
  const dst = path.join(userData, 'demo-lab', 'demo.sparsitylab');
  if (!fs.existsSync(dst)) {
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    fs.copyFileSync(src, dst);
  }
  return { path: dst, message: `Opening the demo lab (${dst}).` };
}
