// The walking skeleton end to end: browser mode serves the built renderer, the renderer reaches the
// engine over the authenticated WebSocket, and the engine info on screen is the engine's own.
import { expect, test } from 'vitest';
import { createRequire } from 'node:module';
import { screenshot, useLab } from './harness';

const lab = useLab('slab-home-e2e-', () => ({ viewport: { width: 1280, height: 800 } }));

test('home screen shows the engine info that came from the engine', async () => {
  // Independent source of truth: the onnxruntime-node package actually installed.
  const ortVersion = (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
  const { page, errors, server } = lab;
  await page.goto(server.url);
  const ort = page.getByTestId('ort-version');
  await expect.poll(async () => (await ort.textContent()) ?? '', { timeout: 30_000 }).toContain(ortVersion);
  const providers = (await page.getByTestId('providers').textContent()) ?? '';
  expect(providers).toMatch(/cpu/i);
  // provider failures read as one line each: no onnxruntime assertion text, no native (Dawn/Vulkan) warnings
  expect(providers).not.toMatch(/operator\(\)|onnxruntime_src|was false|::/);
  expect(server.log()).not.toMatch(/operator\(\)|BackendVk|Couldn't load Vulkan/);
  await screenshot(page, 'home');
  const webgpu = page.getByTestId('providers').locator('tr', { hasText: 'webgpu' });
  if (/unavailable/.test((await webgpu.textContent()) ?? '')) {
    // the raw text is one click away
    await webgpu.locator('button.why').click();
    await expect.poll(async () => (await webgpu.getByTestId('provider-details').textContent()) ?? '', { timeout: 5_000 }).toMatch(/WebGPU/);
    await screenshot(page, 'home-provider-details');
  }
  expect(errors).toEqual([]);
});

test('the page without the token cannot talk to the engine', async () => {
  const { browser, server } = lab;
  const page = await browser.newPage();
  await page.goto(server.url.replace(/\?token=.*/, ''));
  await page.waitForTimeout(1500);
  const text = (await page.getByTestId('ort-version').textContent().catch(() => '')) ?? '';
  expect(text).not.toMatch(/\d+\.\d+\.\d+/);
  expect(server.log()).toMatch(/without a valid token|UNAUTHORIZED/);
});

test('a fresh lab with no session and no recent ones: the session view points at no list that is not there', async () => {
  const { page, server } = lab;
  await page.goto(`${server.url}#/session`);
  const empty = page.getByText('No session open', { exact: true }).locator('..');
  await empty.waitFor({ timeout: 30_000 });
  await expect.poll(async () => (await empty.textContent()) ?? '').toMatch(/or open one\./);
  expect(await page.getByRole('heading', { name: 'Recent' }).count()).toBe(0);
  expect((await empty.textContent()) ?? '').not.toMatch(/list below/);
});
