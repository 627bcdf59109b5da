// Issue 17, relocatable sessions in the UI: a session whose checkpoint moved lists it as missing in the session
// view; re-pointing it at another checkpoint is refused with the engine's reason, at a copy of the same one accepted.
import { expect, test } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { screenshot, useLab } from './harness';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';
import { inspectCheckpoint } from '../../main/checkpoint/index';
import { SessionStore } from '../../main/store/index';

const lab = useLab('slab-relocate-e2e-', async (work) => {
  const ck = writeTinyCheckpoint(path.join(work, 'models', 'x'), 'llama', { activation: 'relu', hidden: 32, layers: 2, seed: 11 });
  writeTinyCheckpoint(other, 'llama', { activation: 'relu', hidden: 32, layers: 2, seed: 12 });
  const s = SessionStore.create(session);
  s.upsertCheckpoint(await inspectCheckpoint(ck));
  s.close();
  fs.mkdirSync(path.dirname(moved));
  fs.renameSync(ck, moved); // neither models/x (relative) nor the absolute path exists now
  return { home: path.join(work, 'home'), session, viewport: { width: 1280, height: 800 } };
});
const session = path.join(lab.work, 'lab.sparsitylab');
const moved = path.join(lab.work, 'elsewhere', 'x');
const other = path.join(lab.work, 'other');

test('a moved checkpoint is listed as missing; re-pointing checks the content hash', async () => {
  const { page, errors, server } = lab;
  await page.goto(`${server.url}#/session`);
  const panel = page.getByTestId('missing-files');
  await panel.waitFor({ timeout: 30_000 });
  await panel.locator('summary').click();
  const input = page.getByLabel('New location of x');
  await input.fill(other);
  await panel.getByRole('button', { name: 'Re-point' }).click();
  await expect.poll(async () => (await panel.getByRole('alert').textContent()) ?? '', { timeout: 30_000 }).toMatch(/is not the file this session measured: its content hash .* differs/);
  await screenshot(page, 'relocate-refused');
  await input.fill(moved);
  await panel.getByRole('button', { name: 'Re-point' }).click();
  await panel.waitFor({ state: 'detached', timeout: 30_000 });
  expect(errors).toEqual([]);
  const s = SessionStore.open(session, { readOnly: true });
  expect(s.listCheckpoints()[0]).toMatchObject({ path: moved, relPath: 'elsewhere/x', missing: false });
  s.close();
});

test('the missing-files panel names where it looked and finds a moved checkpoint in a folder by content', async () => {
  const { page, errors, server } = lab;
  const deep = path.join(lab.work, 'archive', '2026', 'x');
  fs.mkdirSync(path.dirname(deep), { recursive: true });
  fs.renameSync(moved, deep); // moved again: neither elsewhere/x nor its absolute path exists
  // the file moved on disk while the page was open: going to another view and back shows it, even when the way back
  // is taken before the other view has loaded (its first load made slow here: the router then cancels that
  // navigation and keeps the session view mounted, which the panel noticed only after a page reload before)
  await page.route('**/LoadCheckpointsView-*.js', async (r) => {
    await new Promise((res) => setTimeout(res, 800));
    await r.continue();
  });
  await page.goto(`${server.url}#/load`);
  await page.goto(`${server.url}#/session`);
  const panel = page.getByTestId('missing-files');
  await panel.waitFor({ timeout: 30_000 });
  expect(await page.getByTestId('missing-summary').textContent()).toMatch(/1 checkpoint of this session not found/);
  await panel.locator('summary').click();
  expect(await page.getByTestId('missing-where').textContent()).toContain(path.join(lab.work, 'elsewhere'));
  await page.getByTestId('missing-folder').fill(path.join(lab.work, 'nowhere'));
  await page.getByTestId('missing-folder-search').click();
  await expect.poll(async () => (await panel.getByRole('alert').textContent()) ?? '', { timeout: 30_000 }).toContain(`${path.join(lab.work, 'nowhere')}: no such folder`);
  await page.getByTestId('missing-folder').fill(path.join(lab.work, 'archive'));
  await page.getByTestId('missing-folder-search').click();
  await panel.waitFor({ state: 'detached', timeout: 30_000 });
  expect(errors).toEqual([]);
  const s = SessionStore.open(session, { readOnly: true });
  expect(s.listCheckpoints()[0]).toMatchObject({ path: deep, relPath: 'archive/2026/x', missing: false });
  s.close();
});

test('going to another view and back, and reloading the page, show a checkpoint moved meanwhile', async () => {
  const { page, errors } = lab;
  const deep = path.join(lab.work, 'archive', '2026', 'x');
  const again = path.join(lab.work, 'again', 'x');
  fs.mkdirSync(path.dirname(again), { recursive: true });
  await page.getByTestId('nav-load').click();
  await page.getByRole('heading', { name: 'Load checkpoints' }).first().waitFor();
  fs.renameSync(deep, again);
  await page.getByTestId('nav-session').click();
  const panel = page.getByTestId('missing-files');
  await panel.waitFor({ timeout: 30_000 });
  await screenshot(page, 'relocate-after-navigation-light');
  await page.getByTestId('theme-toggle').click();
  await screenshot(page, 'relocate-after-navigation-dark');
  await page.getByTestId('theme-toggle').click();
  await panel.locator('summary').click();
  await page.getByTestId('missing-folder').fill(path.dirname(again));
  await page.getByTestId('missing-folder-search').click();
  await panel.waitFor({ state: 'detached', timeout: 30_000 });
  fs.renameSync(again, deep);
  await page.reload();
  await panel.waitFor({ timeout: 30_000 });
  expect(await page.getByTestId('missing-summary').textContent()).toMatch(/1 checkpoint of this session not found/);
  expect(errors).toEqual([]);
});
