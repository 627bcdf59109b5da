// Issue 20 in the app: "Run on cluster" shows in the measure wizard when sbatch is found; its script preview is the
// job array; submitting sends it to a real one-node Slurm (test/slurm-cluster.ts), and the run monitor shows the
// array's task until it is done and collected into the session, where the run then is, with where it ran.
import { afterAll, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { screenshot, useLab } from './harness';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';
import { SessionStore } from '../../main/store/index';
import { ensureSlurm, stopSlurm } from '../slurm-cluster';

let startedHere = false;
const lab = useLab('slab-cluster-e2e-', () => {
  startedHere = ensureSlurm().startedHere;
  SessionStore.create(session).close();
  return { session, env: { SLURM_CONF: process.env.SLURM_CONF! } };
});
const home = lab.work;
const session = path.join(home, 'lab.sparsitylab');
afterAll(() => {
  try {
    execFileSync('scancel', ['--name=sparsity-lab', '--state=PENDING,RUNNING'], { stdio: 'ignore' });
  } catch {
    /* nothing left */
  }
  if (startedHere) stopSlurm();
});

test('a measurement sent to Slurm from the wizard is watched and collected in the run monitor', async () => {
  const { page, server, errors } = lab;
  const ck = writeTinyCheckpoint(path.join(home, 'models', 'tiny'), 'llama', { seed: 5, maxPositions: 128 });
  const data = path.join(home, 'eval.txt');
  fs.writeFileSync(data, 'A few neurons fire; most stay quiet. '.repeat(100));
  await page.goto(`${server.url}#/measure`);
  await page.getByTestId('measure-checkpoint').waitFor({ timeout: 30_000 });
  await page.getByTestId('measure-checkpoint').fill(ck);
  await page.getByTestId('measure-data').fill(data);
  await page.getByTestId('measure-tokens').fill('512');
  await page.getByTestId('measure-seqlen').fill('64');
  await page.getByTestId('measure-batch').fill('4');
  await page.getByRole('radiogroup', { name: 'Execution provider' }).getByRole('radio', { name: 'cpu' }).check();
  const panel = page.getByTestId('cluster-panel');
  await panel.waitFor({ timeout: 10_000 }); // sbatch is on PATH here
  await panel.locator('summary').click();
  await page.getByTestId('cluster-gpus').fill('0');
  await page.getByTestId('cluster-cpus').fill('1');
  await page.getByTestId('cluster-preview').click();
  await expect.poll(async () => (await page.getByTestId('cluster-script').textContent()) ?? '', { timeout: 15_000 }).toContain('#SBATCH --array=0-0');
  await page.getByTestId('cluster-submit').click();
  await page.getByTestId('cluster-array').first().waitFor({ timeout: 30_000 });
  await expect.poll(async () => (await page.getByTestId('cluster-task').first().textContent()) ?? '', { timeout: 90_000, interval: 1000 }).toMatch(/done · in session/);
  await page.getByTestId('cluster-task').first().getByRole('button', { name: 'Log' }).click();
  await expect.poll(async () => (await page.locator('pre.log').first().textContent()) ?? '').toMatch(/sparsity-lab task 0 of job \d+/);
  await screenshot(page, 'cluster-monitor');
  const s = SessionStore.open(session, { readOnly: true });
  try {
    const runs = s.listRuns({ parentId: null });
    expect(runs).toHaveLength(1);
    expect(runs[0].status).toBe('completed');
    expect(s.runProvenance(runs[0].id)?.cluster?.node).toBe('localhost');
  } finally {
    s.close();
  }
  expect(errors).toEqual([]);
}, 180_000);
