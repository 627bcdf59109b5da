// Issue 15: the measure wizard shows how the run will execute before Run (runs.plan): whole model on the CPU by
// default, streamed once the device-memory field caps it below the model, with the device named.
import { expect, test } from 'vitest';
import path from 'node:path';
import { useLab } from './harness';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';

const lab = useLab('slab-plan-e2e-');

test('the planned execution is shown before Run and follows the device-memory field', async () => {
  const { page, server, errors, work } = lab;
  const ckpt = writeTinyCheckpoint(path.join(work, 'tiny'), 'llama', { layers: 4 });
  await page.goto(`${server.url}#/measure`);
  await page.getByTestId('measure-checkpoint').waitFor({ timeout: 30_000 });
  await page.getByTestId('measure-checkpoint').fill(ckpt);
  await page.getByTestId('measure-seqlen').fill('32');
  await page.getByRole('radiogroup', { name: 'Execution provider' }).getByRole('radio', { name: 'cpu' }).check();
  const line = page.getByTestId('measure-plan');
  await expect.poll(async () => (await line.count()) && ((await line.textContent()) ?? ''), { timeout: 30_000 }).toMatch(/Planned: whole model · cpu/);
  await page.getByTestId('measure-device-memory').fill('0.0005'); // 537 KB: less than two copies of the weights (2 × 256 KB) and a sequence
  await expect.poll(async () => (await line.count()) && ((await line.textContent()) ?? ''), { timeout: 30_000 }).toMatch(/Planned: streamed in \d+ blocks .*capped at/);
  // a cap below one layer and a sequence: the reason, with the sizes and the setting, before Run
  await page.getByTestId('measure-device-memory').fill('0.0002');
  await expect.poll(async () => (await page.getByTestId('measure-plan-error').count()) && ((await page.getByTestId('measure-plan-error').textContent()) ?? ''), { timeout: 30_000 }).toMatch(/does not hold one decoder layer.*device-memory/);
  expect(await line.count()).toBe(0);
  expect(errors).toEqual([]);
}, 90_000);
