// A page whose token the running browser mode does not know — a link without its token, or a page of an earlier
// launch after browser mode was started again (every launch has its own token) — says it is not authorised and how to
// get in, instead of "reconnecting…" for ever: the server refuses such an upgrade with HTTP 401 before a socket
// exists (issue 19), which a page only sees as a failed connection.
import { expect, test } from 'vitest';
import { screenshot, startBrowserMode, useLab } from './harness';

const lab = useLab('slab-token-e2e-');
const connection = () => lab.page.getByTestId('connection').textContent();

test('a link with a wrong token: the not-authorised banner, not endless reconnecting', async () => {
  const { page, server } = lab;
  await page.goto(`http://127.0.0.1:${server.port}/?token=not-this-launch#/`);
  await page.getByTestId('unauthorized').waitFor({ timeout: 30_000 });
  expect(await connection()).toMatch(/not authorised/);
  expect(await page.getByTestId('unauthorized').textContent()).toMatch(/per-launch token/);
});

test('a page of an earlier launch after browser mode started again on its port: the banner; the new URL connects', async () => {
  const { page, server } = lab;
  await page.goto(server.url);
  await expect.poll(connection, { timeout: 30_000 }).toMatch(/●\s*connected/);
  server.proc.kill('SIGKILL');
  // while nothing listens the page keeps trying
  await expect.poll(connection, { timeout: 30_000 }).toMatch(/reconnecting|connecting/);
  lab.server = await startBrowserMode({ home: server.home, port: server.port });
  expect(lab.server.token).not.toBe(server.token);
  await page.getByTestId('unauthorized').waitFor({ timeout: 90_000 });
  expect(await connection()).toMatch(/not authorised/);
  await screenshot(page, 'stale-token-banner');
  await page.goto(lab.server.url);
  await expect.poll(connection, { timeout: 30_000 }).toMatch(/●\s*connected/);
  expect(await page.getByTestId('unauthorized').count()).toBe(0);
});
