// Home's recent sessions: the whole row opens its session — a click on its path (not only on its name) and the
// keyboard (Tab to the row, Enter) — and the row says which one is open; so does the session view's list.
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
  // Tab from one row reaches the next (again if the list was drawn anew in between: it reloads as sessions open)
  const tabFrom = async (from: string, to: string) => {
    await row(from).focus();
    await page.keyboard.press('Tab');
    return row(to).evaluate((el) => el === document.activeElement);
  };
  await expect.poll(() => row(alpha).count(), { timeout: 30_000 }).toBe(1);
  await expect.poll(() => row(beta).getByTestId('recent-open').count()).toBe(1);
  await screenshot(page, 'home-recent');

  // a click on the path, far from the name
  await row(alpha).getByTestId('recent-path').click();
  await expect.poll(status, { timeout: 30_000 }).toBe(alpha);

  // the keyboard: Tab reaches the row, Enter opens it
  await page.evaluate(() => (location.hash = '#/'));
  await expect.poll(() => row(alpha).getByTestId('recent-open').count(), { timeout: 30_000 }).toBe(1);
  await expect.poll(() => tabFrom(alpha, beta)).toBe(true); // (from the row before it in the tab order)
  expect(await row(beta).getAttribute('aria-label')).toMatch(/^Open session beta/);
  await screenshot(page, 'home-recent-focus');
  await page.keyboard.press('Enter');
  await expect.poll(status, { timeout: 30_000 }).toBe(beta);

  // the session view's own list (shown with no session open) is the same: a click on the path, Tab + Space
  const closed = async () => {
    await page.evaluate(() => (location.hash = '#/session?do=close'));
    await expect.poll(status, { timeout: 30_000 }).toBe('');
    await expect.poll(() => row(alpha).count(), { timeout: 30_000 }).toBe(1);
  };
  await closed();
  expect(await page.getByTestId('recent-open').count()).toBe(0);
  await screenshot(page, 'session-recent');
  await row(beta).getByTestId('recent-path').click();
  await expect.poll(status, { timeout: 30_000 }).toBe(beta);
  await closed();
  // (the list is by last opened: beta, then alpha)
  expect(await page.getByTestId('recent-path').allTextContents()).toEqual([beta, alpha]);
  await expect.poll(() => tabFrom(beta, alpha)).toBe(true);
  await page.keyboard.press('Space');
  await expect.poll(status, { timeout: 30_000 }).toBe(alpha);
  expect(errors).toEqual([]);
});
