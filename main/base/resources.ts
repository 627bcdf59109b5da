/**
 * Where the app's own files are. From source (tsx, tests, CLI) they sit relative to this file; in a
 * bundled Electron build the shell passes SPARSITY_LAB_RESOURCES (import.meta.url is not meaningful in
 * the CJS bundle).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function appRoot(): string {
  if (process.env.SPARSITY_LAB_RESOURCES) return path.dirname(process.env.SPARSITY_LAB_RESOURCES);
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
}

/** The shipped resources folder (demo lab, fonts, defaults). */
export function resourcesDir(): string {
  return process.env.SPARSITY_LAB_RESOURCES ?? path.join(appRoot(), 'resources');
}
