// What runs.start says on the way is shown in the window: a run started with no session open keeps its job state in
// the app's jobs folder, where a killed process left a lock; the engine clears it and says so (runs.start's notices,
// main/jobs/run-lock.ts), and the run monitor shows that on the run's card. It was dropped: only the CLI printed it.
// And no "Measurement started." toast sits over the monitor that shows the run.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from 'vitest';
import { screenshot, useLab } from './harness';
import { prepareDemoSession } from '../../main/engine/demo';

const lab = useLab('slab-start-notices-e2e-', async (home) => {
  prepareDemoSession(home); // the demo's models and text, no session opened
  const jobs = path.join(home, 'jobs');
  fs.mkdirSync(jobs, { recursive: true });
  const dead = spawn('sleep', ['30']);
  dead.kill('SIGKILL');
  await new Promise((r) => dead.once('exit', r));
  fs.writeFileSync(path.join(jobs, 'orphan.job.json.lock'), JSON.stringify({ pid: dead.pid, host: os.hostname(), since: '2026-12-01T10:00:00.000Z' }));
  return { viewport: { width: 900, height: 700 } };
});

test("a stale lock cleared at start is said on the run's card; no toast over the monitor", async () => {
  const { page, server, work, errors } = lab;
  const demo = path.join(work, 'demo-lab');
  await page.goto(`${server.url}#/measure`);
  await page.getByTestId('measure-checkpoint').waitFor({ timeout: 30_000 });
  await page.getByTestId('measure-checkpoint').fill(path.join(demo, 'models', 'relu'));
  await page.getByTestId('measure-data').fill(path.join(demo, 'eval.txt'));
  await page.getByTestId('measure-tokens').fill('4096');
  await page.getByTestId('measure-seqlen').fill('256');
  await page.getByRole('radiogroup', { name: 'Execution provider' }).getByRole('radio', { name: 'cpu' }).check();
  await page.getByTestId('measure-start').click();
  const notices = page.getByTestId('job-notices');
  await notices.waitFor({ timeout: 30_000 });
  const text = (await notices.textContent()) ?? '';
  expect(text).toContain(path.join(work, 'jobs', 'orphan.job.json.lock'));
  expect(text).toMatch(/a stale lock left by PID \d+ .*no longer running \(killed or crashed\); cleared/);
  expect(fs.existsSync(path.join(work, 'jobs', 'orphan.job.json.lock'))).toBe(false);
  expect(await page.getByTestId('toast').count()).toBe(0);
  await screenshot(page, 'start-notices-900');
  if ((await page.getByTestId('job-cancel').count()) > 0) await page.getByTestId('job-cancel').click();
  await expect.poll(async () => (await page.getByTestId('job-status').first().textContent()) ?? '', { timeout: 60_000 }).toMatch(/cancelled|completed/);
  expect(errors).toEqual([]);
}, 120_000);
