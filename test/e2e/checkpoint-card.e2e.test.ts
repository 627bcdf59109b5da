// Issue 15: the checkpoint card on the demo lab shows, before Run, the bytes on disk, the planned execution (whole /
// streamed, device, memory, blocks) and the estimated time of a CETT-PPL-1% run; light and dark screenshots.
import { expect, test } from 'vitest';
import path from 'node:path';
import { screenshot, useLab } from './harness';
import { prepareDemoSession } from '../../main/engine/demo';

const lab = useLab('slab-card-e2e-', (home) => ({ session: prepareDemoSession(home).path }));

test('the demo ReLU model: on disk, planned execution and estimated time before Run', async () => {
  const { page, server, errors, work } = lab;
  await page.goto(`${server.url}#/load`);
  await page.getByTestId('ck-path').waitFor({ timeout: 30_000 });
  await page.getByTestId('ck-path').fill(path.join(work, 'demo-lab', 'models', 'relu'));
  await page.getByTestId('ck-inspect').click();
  const card = page.getByTestId('arch-card');
  const text = async (id: string) => ((await card.getByTestId(id).count()) ? ((await card.getByTestId(id).textContent()) ?? '') : '');
  await expect.poll(async () => ((await card.count()) ? ((await card.textContent()) ?? '') : ''), { timeout: 30_000 }).toMatch(/On disk\s*\d/);
  // the planned execution: the demo model (2 layers, 0.8 MB) runs whole on this machine's CPU, the memory named
  await expect.poll(() => text('checkpoint-plan-line'), { timeout: 30_000 }).toMatch(/Planned\s*whole model · cpu.*free.*peak ≈ [\d.]+ (KiB|MiB) of [\d.]+ GiB/);
  // the estimate: a pilot on the demo's evaluation text, a duration for CETT-PPL-1% over 65,536 tokens
  await expect.poll(() => text('checkpoint-estimate'), { timeout: 60_000 }).toMatch(/Estimated time\s*(\d+s|\d+m \d+s) for CETT-PPL-1% over 65,536 tokens \(4 × 256 per batch, cpu, float32\)/);
  expect(await card.getByTestId('checkpoint-plan-error').count()).toBe(0);
  // a lone model (its folder name says no step or tokens) is a single model, not a one-point series named 'relu'
  expect(await page.getByTestId('series-name').inputValue()).toBe('');
  expect(await page.getByTestId('series-name').getAttribute('placeholder')).toBe('none (single model)');
  await screenshot(page, 'checkpoint-card-light');
  await page.getByTestId('theme-toggle').click();
  await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
  await screenshot(page, 'checkpoint-card-dark');
  await page.getByTestId('theme-toggle').click();
  expect(errors).toEqual([]);
}, 120_000);
