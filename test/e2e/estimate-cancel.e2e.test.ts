// Issue 19: the measure wizard's "Estimate time" can be cancelled. While the pilot runs a Cancel button stands beside
// it; Cancel, a change of the form and Start each stop the pilot in the engine (runs.cancel with the estimate's
// cancelId: the engine answers the estimate CANCELLED), nothing is left behind (no job, no cache staging folder), and
// an estimate asked again gives its figure. The checkpoint is a sparse fp16 llama whose pilot converts a 131 MB output
// projection in the graph worker (seconds on the CPU), so the clicks land while it runs.
import { expect, test } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { useLab, screenshot } from './harness';
import { writeSparseLlama } from '../../main/checkpoint/testing/sparse';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';

const lab = useLab('slab-estimate-cancel-e2e-');

/** every path under `dir` (relative) whose name says it is a job file or a cache staging folder */
function leftovers(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => /\.staging-|\.job\.json/.test(f));
}

test('the wizard estimate: Cancel, a changed form and Start stop the pilot in the engine; nothing is left; asked again it gives its figure', async () => {
  const { page, server, errors, work } = lab;
  const ckpt = path.join(work, 'fp16');
  writeSparseLlama(ckpt, { hidden: 1024, intermediate: 256, layers: 2, vocab: 32000, dtype: 'F16' });
  fs.copyFileSync(path.join(writeTinyCheckpoint(path.join(work, 'tok'), 'llama', { seed: 5, layers: 1 }), 'tokenizer.json'), path.join(ckpt, 'tokenizer.json'));
  const text = path.join(work, 'eval.txt');
  fs.writeFileSync(text, 'the quick brown fox jumps over the lazy dog. '.repeat(50));
  // the engine's answers as the page receives them: an estimate's CANCELLED among them
  const frames: string[] = [];
  page.on('websocket', (ws) => ws.on('framereceived', (f) => typeof f.payload === 'string' && frames.push(f.payload)));
  const cancelledAnswers = () => frames.filter((f) => f.includes('"CANCELLED"') && f.includes('the estimate was cancelled')).length;

  await page.goto(`${server.url}#/measure`);
  await page.getByTestId('measure-checkpoint').waitFor({ timeout: 30_000 });
  await page.getByTestId('measure-checkpoint').fill(ckpt);
  await page.getByTestId('measure-data').fill(text);
  await page.getByTestId('measure-tokens').fill('96');
  await page.getByTestId('measure-seqlen').fill('12');
  await page.getByRole('radiogroup', { name: 'Execution provider' }).getByRole('radio', { name: 'cpu' }).check();
  const estimateButton = page.getByTestId('measure-estimate');
  const cancel = page.getByTestId('measure-estimate-cancel');

  // 1. Cancel while the pilot runs: the button goes, the page says so, the engine answered CANCELLED
  await estimateButton.click();
  await cancel.waitFor({ timeout: 10_000 });
  expect(await estimateButton.textContent()).toContain('Timing…');
  await screenshot(page, 'estimate-cancel-running');
  await cancel.click();
  expect(await cancel.count()).toBe(0);
  await expect.poll(async () => (await page.getByTestId('estimate-cancelled').count()) && (await page.getByTestId('estimate-cancelled').textContent()), { timeout: 5000 }).toBe('Estimate cancelled.');
  await expect.poll(cancelledAnswers, { timeout: 5000 }).toBe(1);
  expect(await page.getByTestId('estimate').count()).toBe(0);
  expect(await page.getByTestId('measure-error').count()).toBe(0);
  expect(await estimateButton.isEnabled()).toBe(true);
  await expect.poll(() => leftovers(work), { timeout: 20_000 }).toEqual([]);

  // 2. a change of the form while it runs cancels the stale estimate
  await estimateButton.click();
  await cancel.waitFor({ timeout: 10_000 });
  await page.getByTestId('measure-tokens').fill('120');
  await expect.poll(async () => (await page.getByTestId('estimate-cancelled').count()) && (await page.getByTestId('estimate-cancelled').textContent()), { timeout: 5000 }).toBe('Estimate cancelled: the form changed.');
  await expect.poll(cancelledAnswers, { timeout: 5000 }).toBe(2);
  expect(await cancel.count()).toBe(0);

  // 3. asked again and left to finish: its figure, for the form as it is now
  await estimateButton.click();
  await expect.poll(async () => (await page.getByTestId('estimate').count()) && ((await page.getByTestId('estimate').textContent()) ?? ''), { timeout: 120_000 }).toMatch(/≈ .*passes on cpu/);
  expect(await page.getByTestId('estimate-cancelled').count()).toBe(0);
  await screenshot(page, 'estimate-cancel-done');

  // 4. Start while an estimate runs: the estimate is cancelled, the run starts
  await page.getByTestId('measure-tokens').fill('96');
  await estimateButton.click();
  await cancel.waitFor({ timeout: 10_000 });
  await page.getByTestId('measure-start').click();
  await expect.poll(cancelledAnswers, { timeout: 5000 }).toBe(3);
  await page.waitForURL(/#\/monitor/, { timeout: 20_000 });
  expect(errors).toEqual([]);
}, 240_000);
