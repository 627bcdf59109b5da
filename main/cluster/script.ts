/**
 * The sbatch script of a submission: one job array, task i runs `sparsity-lab cluster task <results> i` through the
 * configured engine command, which measures manifest task i and writes its status and session (main/cluster/task.ts).
 * The script is plain and readable on purpose: a user can check it (`--dry-run`) and submit it by hand.
 */
import { LabError } from '../api/errors';
import { LOG_FILE, type Manifest } from './manifest';

/** A path or value inside an #SBATCH line or a double-quoted shell word: no newlines, quotes, `$`, backticks or `%`. */
function safe(v: string, what: string): string {
  if (/[\n\r"`$%\\]/.test(v)) throw new LabError('BAD_REQUEST', `${what} "${v}" has a character an sbatch script cannot carry safely (newline, quote, $, backtick, % or backslash)`);
  return v;
}

/**
 * `results`: the results folder the nodes see (absolute), or null for a bundle, whose script runs in the folder it is
 * submitted from (`cd bundle && sbatch job.sh`).
 */
export function jobScript(m: Manifest, results: string | null): string {
  const s = m.slurm;
  const n = m.tasks.length;
  const lines = ['#!/bin/bash', `# Sparsity Lab cluster job ${m.id}: ${n} task(s), one \`sparsity-lab measure\` each (manifest.json).`];
  lines.push(`#SBATCH --job-name=${safe(s.jobName, 'job name').replace(/\s/g, '_')}`);
  lines.push(`#SBATCH --array=0-${n - 1}${s.maxParallel ? `%${s.maxParallel}` : ''}`);
  if (s.partition) lines.push(`#SBATCH --partition=${safe(s.partition, 'partition')}`);
  if (s.account) lines.push(`#SBATCH --account=${safe(s.account, 'account')}`);
  if (s.time) lines.push(`#SBATCH --time=${safe(s.time, 'time limit')}`);
  lines.push('#SBATCH --ntasks=1', `#SBATCH --cpus-per-task=${s.cpusPerTask}`);
  if (s.gpusPerTask > 0) lines.push(`#SBATCH --gpus-per-task=${s.gpusPerTask}`);
  if (s.mem) lines.push(`#SBATCH --mem=${safe(s.mem, 'memory')}`);
  if (results) lines.push(`#SBATCH --chdir="${safe(results, 'results folder')}"`);
  // relative to the working directory (--chdir, or the submit folder of a bundle); %a is the array task id
  lines.push(`#SBATCH --output=tasks/%a/${LOG_FILE}`);
  lines.push(
    '',
    'set -u',
    'RESULTS="$PWD"',
    'TASK="${SLURM_ARRAY_TASK_ID:?this script is a Slurm job array: submit it with sbatch}"',
    'echo "sparsity-lab task $TASK of job ${SLURM_ARRAY_JOB_ID:-?} on $(hostname) at $(date -u +%FT%TZ)"',
    '',
    '# the engine on this node (cluster submit --engine-command: a module load, a container, an installed CLI)',
    `${m.engineCommand} cluster task "$RESULTS" "$TASK"`,
    'rc=$?',
    '# the task writes its own status; this marks an engine that never started (command not found, bad module …)',
    'echo "$rc" > "tasks/$TASK/exit"',
    'exit "$rc"',
    '',
  );
  return lines.join('\n');
}
