// Home's recent sessions: the whole row opens its session — a click on its path (not only on its name) and the
// keyboard (Tab to the row, Enter) — and the row says which one is open.
import { expect, test } from 'vitest';
import path from 'node:path';
import { screenshot, useLab } from './harness';
import { SessionStore } from '../../main/store/index';

const lab = useLab('slab-home-recent-e2e-', (work) => {
  for (const n of ['alpha', 'beta']) SessionStore.create(path.join(work, `${n}.sparsitylab`)).close();
  return { session: path.join(work, 'alpha.sparsitylab'), viewport: { width: 1280, height: 800 } };
});

test('a recent session opens from anywhere on its row, and from the keyboard', async () => {
  const { page, server, errors, work } = lab;
  const alpha = path.join(work, 'alpha.sparsitylab');
  const beta = path.join(work, 'beta.sparsitylab');
  const status = async () => ((await page.getByTestId('status-session').count()) ? ((await page.getByTestId('status-session').textContent()) ?? '') : '');
  // beta opened once (through the session view), so both are recent; beta is the open one. (First the page has the
  // server's session, alpha, open: the app opens it as it starts, which would otherwise race the view's open.)
  await page.goto(server.url);
  await expect.poll(status, { timeout: 30_000 }).toBe(alpha);
  await page.evaluate((b) => (location.hash = `#/session?do=open&path=${encodeURIComponent(b)}`), beta);
  await expect.poll(status, { timeout: 30_000 }).toBe(beta);
  await page.evaluate(() => (location.hash = '#/'));
  const row = (file: string) => page.getByTestId('recent-row').filter({ hasText: file });
  await expect.poll(() => row(alpha).count(), { timeout: 30_000 }).toBe(1);
  await expect.poll(() => row(beta).getByTestId('recent-open').count()).toBe(1);
  await screenshot(page, 'home-recent');

  // a click on the path, far from the name
  await row(alpha).getByTestId('recent-path').click();
  await expect.poll(status, { timeout: 30_000 }).toBe(alpha);

  // the keyboard: Tab reaches the row, Enter opens it
  await page.evaluate(() => (location.hash = '#/'));
  await expect.poll(() => row(alpha).getByTestId('recent-open').count(), { timeout: 30_000 }).toBe(1);
  await row(alpha).focus(); // (from the row before it in the tab order)
  await page.keyboard.press('Tab');
  expect(await row(beta).evaluate((el) => el === document.activeElement)).toBe(true);
  expect(await row(beta).getAttribute('aria-label')).toMatch(/^Open session beta/);
  await screenshot(page, 'home-recent-focus');
  await page.keyboard.press('Enter');
  await expect.poll(status, { timeout: 30_000 }).toBe(beta);
  expect(errors).toEqual([]);
});
