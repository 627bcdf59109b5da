// The git commit baked into the bundles as process.env.SPARSITY_LAB_COMMIT (main/base/version.ts records it with
// every run): HEAD, with `-dirty` when tracked files differ from it; 'unknown' outside a checkout.
import { execFileSync } from 'node:child_process';

export function gitCommit() {
  const git = (...args) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const head = git('rev-parse', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') ? `${head}-dirty` : head;
  } catch {
    return 'unknown';
  }
}
