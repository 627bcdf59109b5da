/**
 * Which build of the app wrote a number: the package version and the git commit. Every run records both
 * (main/store: a run's provenance), so a figure can be traced to the code that measured it.
 *
 * The commit: SPARSITY_LAB_COMMIT when the build set it (scripts/build.mjs defines it in the bundles), else
 * `git rev-parse HEAD` when the app runs from a checkout (with `-dirty` when tracked files differ from it),
 * else 'unknown'. Computed once, on first use.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { appRoot } from './resources';

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

let commit: string | undefined;

/** The git commit of the running code: build-time value, else the checkout's HEAD, else 'unknown'. */
export function gitCommit(): string {
  if (commit !== undefined) return commit;
  const built = process.env.SPARSITY_LAB_COMMIT;
  if (built && /^[0-9a-f]{7,40}(-dirty)?$/.test(built)) return (commit = built);
  commit = 'unknown';
  const root = appRoot();
  if (!existsSync(path.join(root, '.git'))) return commit;
  try {
    const git = (...args: string[]) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    const head = git('rev-parse', 'HEAD');
    if (!/^[0-9a-f]{40}$/.test(head)) return commit;
    const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
    commit = dirty ? `${head}-dirty` : head;
  } catch {
    // no git on PATH, or not a repository after all: 'unknown'
  }
  return commit;
}
