// Issue 18: a session that survives a reload. The printed URL names the demo lab; a measurement runs in another
// session; reloading the printed URL (or opening it in a second tab) keeps that session open, says why, and the
// job keeps its label and session and finishes 'completed' (not 'interrupted'). The URL then names the session.
import { expect, test } from 'vitest';
import path from 'node:path';
import { screenshot, useLab } from './harness';
import { prepareDemoSession } from '../../main/engine/demo';
import { SessionStore } from '../../main/store/index';

const lab = useLab('slab-lab-session-e2e-', (home) => {
  const demo = prepareDemoSession(home);
  SessionStore.create(mine).close();
  return { session: demo.path };
});
const mine = path.join(lab.work, 'mine.sparsitylab');
const demoLab = path.join(lab.work, 'demo-lab');
const withSession = (url: string, file: string) => {
  const u = new URL(url);
  u.searchParams.set('session', file);
  return u.toString();
};

test('reload mid-run with the demo URL: the running session stays, the job keeps label and session, and completes', async () => {
  const { page, server, browser, errors } = lab;
  expect(server.url).toContain('session='); // the printed URL names the demo lab
  await page.goto(withSession(server.url, mine));
  await expect.poll(async () => (await page.getByTestId('status-session').textContent()) ?? '', { timeout: 30_000 }).toBe(mine);
  expect(new URL(page.url()).searchParams.get('session')).toBe(mine);

  await page.goto(`${withSession(server.url, mine)}#/measure`);
  await page.getByTestId('measure-checkpoint').waitFor({ timeout: 30_000 });
  await page.getByTestId('measure-checkpoint').fill(path.join(demoLab, 'models', 'relu'));
  await page.getByTestId('measure-data').fill(path.join(demoLab, 'eval.txt'));
  await page.getByTestId('measure-tokens').fill('16384');
  await page.getByTestId('measure-seqlen').fill('256');
  await page.getByTestId('measure-batch').fill('16');
  await page.getByRole('radiogroup', { name: 'Execution provider' }).getByRole('radio', { name: 'cpu' }).check();
  await page.getByTestId('measure-start').click();
  await page.getByTestId('job').first().waitFor({ timeout: 30_000 });
  expect(await page.getByTestId('job-status').first().textContent()).toMatch(/running/);

  // the reload a user does with the URL the server printed (it names the demo lab)
  await page.goto(`${server.url}#/monitor`);
  await expect.poll(async () => (await page.getByTestId('status-session').textContent()) ?? '', { timeout: 30_000 }).toBe(mine);
  await expect.poll(async () => (await page.getByTestId('toast').allTextContents()).join(' '), { timeout: 10_000 }).toMatch(/Kept .*mine\.sparsitylab open: .*measuring into/);
  await expect.poll(() => new URL(page.url()).searchParams.get('session')).toBe(mine);
  await expect.poll(async () => (await page.getByTestId('job-label').first().textContent()) ?? '', { timeout: 10_000 }).toBe('CETT-PPL-1% · relu');
  expect(await page.getByTestId('job-session').first().textContent()).toContain('mine.sparsitylab');
  await screenshot(page, 'lab-reload-mid-run-light');

  // a second tab on the same server: the same session, the same job
  const tab2 = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  await tab2.goto(`${server.url}#/monitor`);
  await expect.poll(async () => (await tab2.getByTestId('status-session').textContent()) ?? '', { timeout: 30_000 }).toBe(mine);
  await expect.poll(async () => (await tab2.getByTestId('job-label').first().textContent()) ?? '', { timeout: 10_000 }).toBe('CETT-PPL-1% · relu');
  expect(await tab2.getByTestId('theme-toggle').textContent()).toContain('Dark theme'); // the button names its action
  await tab2.getByTestId('theme-toggle').click();
  expect(await tab2.getByTestId('theme-toggle').textContent()).toContain('Light theme');
  await screenshot(tab2, 'lab-reload-mid-run-dark');
  await tab2.close();

  await expect.poll(async () => (await page.getByTestId('job-status').first().textContent()) ?? '', { timeout: 180_000 }).toMatch(/completed/);
  // the page's URL now names the session it shows: reloading it (not the printed demo URL, which would now open the
  // demo lab, nothing running any more) lists the finished run
  await page.goto(`${page.url().replace(/#.*$/, '')}#/session`);
  await page.reload();
  expect(new URL(page.url()).searchParams.get('session')).toBe(mine);
  await page.getByTestId('run-row').first().waitFor({ timeout: 30_000 });
  expect(await page.getByTestId('run-row').count()).toBe(1);
  expect(await page.getByTestId('run-row').first().textContent()).toMatch(/completed.*CETT-PPL-1%/);
  expect(errors).toEqual([]);
});
