import { readFileSync } from 'node:fs';
import { appRoot } from './resources';
import path from 'node:path';

function readVersion(): string {
  if (process.env.SPARSITY_LAB_VERSION) return process.env.SPARSITY_LAB_VERSION; // set by the Electron shell
  try {
    const pkg = JSON.parse(readFileSync(path.join(appRoot(), 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
export const APP_VERSION = readVersion();
