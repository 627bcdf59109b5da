// Issue 18: laws in the window. The demo lab's training series fitted on the Laws page: formula, A0 and every
// parameter with a confidence interval, R², warm-up rule; the form and warm-up chosen; residuals; CSV export; a long
// fit (5000 bootstrap resamples: the laws worker) cancelled (issue 19).
import { expect, test } from 'vitest';
import fs from 'node:fs';
import { screenshot, useLab } from './harness';
import { prepareDemoSession } from '../../main/engine/demo';

const lab = useLab('slab-lab-laws-e2e-', (home) => ({ session: prepareDemoSession(home).path, acceptDownloads: true }));

test('fit parameters with CIs, R², warm-up, residuals; form and warm-up chosen; CSV export; a long fit cancelled', async () => {
  const { page, server, errors } = lab;
  const frames: string[] = []; // the engine's answers as the page receives them
  page.on('websocket', (ws) => ws.on('framereceived', (f) => typeof f.payload === 'string' && frames.push(f.payload)));
  await page.goto(`${server.url}#/laws`);
  await page.getByTestId('law-fit-card').first().waitFor({ timeout: 60_000 });
  const cards = page.getByTestId('law-fit-card');
  expect(await cards.count()).toBeGreaterThanOrEqual(2);
  const first = cards.first();
  expect(await first.getByTestId('law-formula').textContent()).toMatch(/A\(D\)|A =|exp|D\^/);
  const params = await first.getByTestId('law-params').locator('tbody tr').allTextContents();
  expect(params.length).toBeGreaterThanOrEqual(3);
  for (const row of params) expect(row).toMatch(/\d.*–.*\d/); // value and interval
  // the formula's units are said (D in billions of tokens, A a fraction beside its %), the exponent is the paper's α
  expect(await first.getByTestId('law-units').textContent()).toMatch(/D: tokens trained, in billions · A, A₀: activation ratio as a fraction \(A₀ = 0\.\d+ is \d+\.\d+%\)/);
  if ((await first.textContent())?.includes('relu form')) expect(params.some((r) => r.startsWith('α'))).toBe(true);
  expect(await first.getByTestId('law-r2').textContent()).toMatch(/^-?\d|^n\/a/); // a number (the tiny demo series fit poorly)
  expect(await first.getByTestId('law-warmup-reason').textContent()).toMatch(/warm-up: .+/);
  await first.getByRole('button', { name: /points and residuals/ }).click();
  expect(await first.getByTestId('law-residuals').locator('tbody tr').count()).toBeGreaterThanOrEqual(3);
  await screenshot(page, 'lab-laws-light');

  // SiLU form for every series, first point dropped: the cards say so
  await page.getByTestId('law-form').selectOption('silu');
  await page.getByTestId('law-warmup').selectOption('first');
  await page.getByTestId('law-dropfirst').fill('1');
  await page.getByTestId('law-fit').click();
  await expect.poll(async () => (await cards.first().textContent()) ?? '', { timeout: 60_000 }).toMatch(/silu form \(chosen\)/);
  expect(await cards.first().getByTestId('law-warmup-reason').textContent()).toMatch(/1|first/);

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('law-export-csv').click()]);
  const csv = fs.readFileSync((await download.path())!, 'utf8');
  expect(csv.split('\n')[0]).toMatch(/^series,activation,form,A0,A0_low,A0_high,r2,rmse,n,dropped/);
  expect(csv.split('\n').filter((l) => /,silu,/.test(l)).length).toBe(await cards.count());
  await page.getByTestId('theme-toggle').click();
  await screenshot(page, 'lab-laws-dark');

  // a long fit (every series × 5001 fits, in the engine's laws worker) cancelled: the engine answers CANCELLED, the
  // page says so and keeps the fits it showed
  const shown = await cards.count();
  await page.getByLabel('Bootstrap').fill('5000');
  await page.getByTestId('law-fit').click();
  await page.getByTestId('law-fit-cancel').click({ timeout: 10_000 });
  await expect.poll(() => frames.some((f) => f.includes('"CANCELLED"') && f.includes('the fit was cancelled')), { timeout: 5000 }).toBe(true);
  expect(await page.getByTestId('law-fit-cancelled').textContent()).toBe('Fit cancelled.');
  expect(await page.getByTestId('law-fit').isEnabled()).toBe(true);
  expect(await cards.count()).toBe(shown);
  expect(await page.getByTestId('law-error').count()).toBe(0);
  expect(errors).toEqual([]);
});
