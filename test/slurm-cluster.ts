/**
 * The one-node Slurm the cluster tests run on (test/integration/cluster-slurm.test.ts, test/e2e/cluster.e2e.test.ts):
 * the one .ci/run started with scripts/slurm-local.sh, or — when none is up and this process may start one (root,
 * slurm-wlm and munge installed) — one started here and stopped by `stop()`. When there can be none, `ensure()`
 * throws the reason and how to get one: the tests fail, they never skip.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const SCRIPT = path.join(ROOT, 'scripts/slurm-local.sh');
const DIR = process.env.SPARSITY_LAB_SLURM_DIR ?? '/tmp/sparsity-lab-slurm';

function sinfo(): string | null {
  try {
    return execFileSync('sinfo', ['-h', '-N', '-o', '%T'], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return null;
  }
}

// a node that can take or is finishing work (sinfo states: idle, mixed, allocated, completing)
const up = () => /idle|mixed|alloc|complet/.test(sinfo() ?? '');

/** Makes sure a cluster answers (SLURM_CONF set in process.env); returns whether this call started it. */
export function ensureSlurm(): { startedHere: boolean } {
  if (!process.env.SLURM_CONF && fs.existsSync(path.join(DIR, 'slurm.conf'))) process.env.SLURM_CONF = path.join(DIR, 'slurm.conf');
  if (up()) return { startedHere: false };
  const how = 'start one with `sudo scripts/slurm-local.sh start` (after `apt-get install -y slurm-wlm munge`; .ci/run does both)';
  const missing = ['sbatch', 'slurmctld', 'slurmd', 'munged'].filter((b) => {
    try {
      execFileSync('sh', ['-c', `command -v ${b}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length) throw new Error(`no Slurm cluster is running and ${missing.join(', ')} is not installed: ${how}`);
  if (process.getuid?.() !== 0) throw new Error(`no Slurm cluster is running and this test is not root, so it cannot start one: ${how}`);
  let said: string;
  try {
    said = execFileSync(SCRIPT, ['start'], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`the one-node Slurm cluster did not start: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`);
  }
  process.env.SLURM_CONF = path.join(DIR, 'slurm.conf');
  if (!up()) throw new Error(`Slurm is running but its node is not usable (sinfo: ${sinfo() ?? 'no answer'}); logs in ${DIR}/log`);
  // a cluster that was up all along (sinfo was only slow to answer) belongs to whoever started it
  return { startedHere: !/already running/.test(said) };
}

export function stopSlurm(): void {
  execFileSync(SCRIPT, ['stop'], { stdio: 'ignore' });
}
