// Save as… onto a file that exists: the engine refuses to replace it unasked (reason FILE_EXISTS) and the window says
// so with a Replace button; the file is untouched until the user clicks it, then the copy is saved there and opened.
import { expect, test } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { screenshot, useLab } from './harness';
import { prepareDemoSession } from '../../main/engine/demo';

const lab = useLab('slab-save-as-e2e-', (home) => {
  const demo = prepareDemoSession(home).path!;
  fs.copyFileSync(demo, path.join(home, 'older.sparsitylab')); // a session of the user's that is in the way
  return { session: demo, viewport: { width: 900, height: 700 } };
});
const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

test('Save as onto an existing session: refused with Replace, replaced only when asked', async () => {
  const { page, server, work, errors } = lab;
  const target = path.join(work, 'older.sparsitylab');
  const before = sha(target);
  await page.goto(`${server.url}#/session?do=saveas`);
  // the window's start (App.vue: the session named in the URL opened when the engine's answer came late) is done before
  // Save as: an open finishing after the click cleared the refusal it had just shown (CI under load, once)
  await page.getByTestId('status-session').waitFor({ timeout: 30_000 });
  await page.getByTestId('session-file').waitFor({ timeout: 30_000 });
  await page.getByTestId('session-file').fill(target);
  await page.getByTestId('session-file-ok').click();
  const err = page.getByTestId('session-error');
  await expect.poll(async () => (await err.textContent()) ?? '', { timeout: 20_000 }).toContain(`${target} exists already`);
  expect(await err.textContent()).not.toContain('--overwrite');
  expect(sha(target)).toBe(before);
  await screenshot(page, 'session-save-as-exists-900');
  await page.getByTestId('session-replace').click();
  await expect.poll(async () => (await page.getByTestId('status-session').textContent()) ?? '', { timeout: 20_000 }).toBe(target);
  expect(await page.getByTestId('session-error').count()).toBe(0);
  expect(errors).toEqual([]);
}, 120_000);
