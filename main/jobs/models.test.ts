import { expect, test } from 'vitest';
import { runsOnCpu } from './models';
import { probeProviders } from '../inference/providers';

test('only runners that compute on the CPU go to the inference worker by themselves (a GPU provider in a worker thread is not measured yet)', async () => {
  expect(await runsOnCpu('cpu')).toBe(true);
  expect(await runsOnCpu('cuda')).toBe(false);
  expect(await runsOnCpu('webgpu')).toBe(false);
  const gpu = (await probeProviders()).some((p) => p.name !== 'cpu' && p.available);
  expect(await runsOnCpu('auto')).toBe(!gpu);
}, 60_000);
