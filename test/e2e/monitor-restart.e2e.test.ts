// The run monitor when the engine dies under a run (kill -9; the app's engine process ending — out of memory — is the
// same): while it is gone the page says so and offers no Cancel; when it is back (same port and token, as the app's
// restarted engine) the run it no longer has is 'interrupted', not 'running' for ever, the window's session is open
// there again, and Resume from the monitor finishes it into the session; the job's id links to its run page.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { expect, test } from 'vitest';
import { ROOT, screenshot, stopServer, useLab, type BrowserMode } from './harness';
import { prepareDemoSession } from '../../main/engine/demo';
import { SessionStore } from '../../main/store/index';

const lab = useLab('slab-restart-e2e-', (home) => ({ session: prepareDemoSession(home).path }));
const demo = () => path.join(lab.work, 'demo-lab');

/** browser mode again on the dead one's port and token (test/e2e/serve-again.ts) */
async function serveAgain(old: BrowserMode): Promise<BrowserMode> {
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin/run-ts'), path.join(ROOT, 'test/e2e/serve-again.ts'), '--port', String(old.port), `--token=${old.token}`], {
    cwd: ROOT,
    env: { ...process.env, SPARSITY_LAB_HOME: old.home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not serving again in 60 s:\n${stderr}`)), 60_000);
    proc.stdout!.once('data', () => (clearTimeout(timer), resolve()));
    proc.once('exit', (c) => (clearTimeout(timer), reject(new Error(`exited ${c}:\n${stderr}`))));
  });
  return {
    ...old,
    proc,
    log: () => stderr,
    close: () => stopServer(proc),
  };
}

test('a run whose engine died: offline, then interrupted with Resume, which finishes it in the session', async () => {
  const { page, server, errors } = lab;
  await page.goto(`${server.url}#/measure`);
  // the page has the session open before the form is filled (its defaults follow the session)
  await page.getByTestId('status-session').waitFor({ timeout: 30_000 });
  await page.getByTestId('measure-checkpoint').fill(path.join(demo(), 'models', 'relu'));
  await page.getByTestId('measure-data').fill(path.join(demo(), 'eval.txt'));
  await page.getByTestId('measure-tokens').fill('16384');
  await page.getByTestId('measure-seqlen').fill('256');
  await page.getByTestId('measure-batch').fill('4');
  await page.getByRole('radiogroup', { name: 'Execution provider' }).getByRole('radio', { name: 'cpu' }).check();
  await page.getByTestId('measure-start').click();
  // the engine has the run before the page moves on (a page load right after the click could drop the request)
  // (the toast, or the monitor the page moves to right after it; a refusal shows its reason in measure-error)
  const started = async () => {
    const err = (await page.getByTestId('measure-error').allTextContents()).join(' ');
    if (err) return `refused: ${err}`;
    return /Measurement started/.test((await page.getByTestId('toast').allTextContents()).join(' ')) || page.url().includes('#/monitor') ? 'started' : 'waiting';
  };
  await expect.poll(started, { timeout: 60_000 }).toBe('started');
  await page.goto(`${server.url}#/monitor`);
  const job = page.getByTestId('job').first();
  // well inside the run: a few dense batches done (the whole run takes ~10 s here)
  const inside = (t: string) => /✓\s*dense/.test(t) || Number(/dense\s*(\d+)\/16/.exec(t)?.[1] ?? 0) >= 3;
  await expect.poll(async () => inside((await job.textContent()) ?? ''), { timeout: 60_000, interval: 100 }).toBe(true);
  const id = ((await page.getByTestId('job-id').first().textContent()) ?? '').trim();
  server.proc.kill('SIGKILL');

  await page.getByTestId('monitor-offline').waitFor({ timeout: 30_000 });
  expect(await page.getByTestId('job-cancel').first().isDisabled()).toBe(true);
  expect(await page.getByTestId('job-status').first().textContent()).toBe('running');
  await screenshot(page, 'monitor-engine-gone');

  lab.server = await serveAgain(server);
  await expect.poll(async () => (await page.getByTestId('job-status').first().textContent()) ?? '', { timeout: 60_000 }).toBe('interrupted');
  expect(await page.getByTestId('monitor-offline').count()).toBe(0);
  expect((await page.getByTestId('job-error').first().textContent()) ?? '').toMatch(/engine stopped before this run finished/);
  // the header counts it as interrupted, not finished
  expect(((await page.getByTestId('monitor-counts').textContent()) ?? '').replace(/\s+/g, ' ')).toBe('0 running · 0 finished · 1 interrupted in this window');
  await screenshot(page, 'monitor-interrupted');

  // the window's session is open in the new engine again: Resume writes into it
  await page.getByTestId('job-resume').first().click();
  await expect.poll(async () => (await page.getByTestId('job-status').first().textContent()) ?? '', { timeout: 120_000 }).toBe('completed');
  const s = SessionStore.open(path.join(demo(), 'demo.sparsitylab'), { readOnly: true });
  const run = s.listRuns({ parentId: null }).find((r) => r.id === id);
  s.close();
  expect(run?.status).toBe('completed');
  expect(run?.activationRatio).toBeGreaterThan(0);
  // the job's id opens its run page
  await page.getByTestId('job-id').first().click();
  await expect.poll(() => page.url()).toContain(`#/run/${encodeURIComponent(id)}`);
  await expect.poll(async () => (await page.getByTestId('run-status').textContent()) ?? '', { timeout: 30_000 }).toMatch(/completed/);
  expect(errors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED|Lost the connection/.test(e))).toEqual([]);
}, 300_000);
