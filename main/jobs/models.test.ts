import { expect, test, vi } from 'vitest';
import type { ProviderStatus } from '../api/domains/engine';

// which providers initialise: set per case (the real probe, main/inference/providers.ts, runs a tiny session on each)
const available = vi.hoisted(() => ({ names: [] as string[] }));
vi.mock('../inference/providers', async (orig) => {
  const real = await orig<typeof import('../inference/providers')>();
  return { ...real, probeProviders: async () => real.PROVIDER_ORDER.map((name) => ({ name, available: available.names.includes(name) }) as ProviderStatus) };
});
const { providerRunsOffThread } = await import('./models');

test('large runners go to the inference worker on the CPU and on CUDA (measured on the H200), not on WebGPU (not measured yet)', async () => {
  available.names = ['cuda', 'webgpu', 'cpu'];
  expect(await providerRunsOffThread('cpu')).toBe(true);
  expect(await providerRunsOffThread('cuda')).toBe(true);
  expect(await providerRunsOffThread('auto')).toBe(true); // auto picks CUDA first
  expect(await providerRunsOffThread('webgpu')).toBe(false);
});

test('a provider that does not initialise is judged by the one createRunner falls back to (CUDA → WebGPU → CPU)', async () => {
  available.names = ['webgpu', 'cpu'];
  expect(await providerRunsOffThread('cuda')).toBe(false); // falls back to WebGPU
  expect(await providerRunsOffThread('auto')).toBe(false);
  available.names = ['cpu'];
  expect(await providerRunsOffThread('cuda')).toBe(true);
  expect(await providerRunsOffThread('webgpu')).toBe(true);
  expect(await providerRunsOffThread('auto')).toBe(true);
});
