// Issue 18, the lab's start, import and compare. `--start` (what `npm start` passes) on a fresh install lands in the
// demo lab's session view and Home lists it; a later start reopens the session open last. Importing the demo's runs
// twice: the second time every run is "already present (same content hash)" and nothing is added. Compare lines up a
// run of the open session and runs of the demo lab, which is not open and is only read (its bytes unchanged): the rows
// that differ are highlighted and the per-layer curves are drawn in one chart.
import { expect, test } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { screenshot, startBrowserMode, useLab } from './harness';
import { SessionStore } from '../../main/store/index';
import { REMEASURABLE_LABEL } from '../../tools/demo-lab/remeasurable';

const lab = useLab('slab-lab-compare-e2e-', () => {
  SessionStore.create(mine).close();
  return { args: ['--start'], acceptDownloads: false };
});
const demo = path.join(lab.work, 'demo-lab', 'demo.sparsitylab');
const mine = path.join(lab.work, 'mine.sparsitylab');
const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

/** light, then dark (the theme button names its action), then back to light */
async function bothThemes(page: Page, name: string): Promise<void> {
  await screenshot(page, `${name}-light`);
  await page.getByTestId('theme-toggle').click();
  await expect.poll(() => page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
  await screenshot(page, `${name}-dark`);
  await page.getByTestId('theme-toggle').click();
}

test('the first start lands in the demo lab session view; Home lists it; a later start reopens the last session', async () => {
  const { page, server, errors } = lab;
  expect(server.url).toContain('start=1');
  expect(server.url).not.toContain('session=');
  await page.goto(server.url);
  await expect.poll(async () => (await page.getByTestId('status-session').textContent().catch(() => '')) ?? '', { timeout: 30_000 }).toBe(demo);
  await expect.poll(() => new URL(page.url()).hash).toBe('#/session');
  await page.getByTestId('run-row').first().waitFor({ timeout: 30_000 });
  // the URL now names the session (a reload reopens it) and no longer asks for the start
  await expect.poll(() => new URL(page.url()).searchParams.get('session')).toBe(demo);
  expect(new URL(page.url()).searchParams.has('start')).toBe(false);
  await bothThemes(page, 'lab-first-start');

  await page.getByTestId('nav-home').click();
  const recent = page.getByTestId('recent-list');
  await expect.poll(async () => (await recent.textContent().catch(() => '')) ?? '', { timeout: 15_000 }).toContain(demo);
  expect(await page.getByTestId('recent-empty').count()).toBe(0);
  expect(await recent.locator('li', { hasText: demo }).getByTestId('recent-open').count()).toBe(1);
  await bothThemes(page, 'lab-home-recent');

  // open another session, then start again on the same install: that one, not the demo, and Home is the view
  await page.goto(`${server.url.replace('start=1', `session=${encodeURIComponent(mine)}`)}#/session`);
  await expect.poll(async () => (await page.getByTestId('status-session').textContent()) ?? '', { timeout: 30_000 }).toBe(mine);
  await server.close();
  lab.server = await startBrowserMode({ home: lab.work, args: ['--start'] });
  await page.goto(lab.server.url);
  await expect.poll(async () => (await page.getByTestId('status-session').textContent().catch(() => '')) ?? '', { timeout: 30_000 }).toBe(mine);
  expect(new URL(page.url()).hash).toBe('#/');
  // the old page tried to reconnect to the stopped server: expected, nothing else
  expect(errors.filter((e) => !/ERR_CONNECTION_REFUSED/.test(e))).toEqual([]);
  errors.length = 0;
});

test('importing the same runs twice: the second time each is "already present (same content hash)", none added', async () => {
  const { page, server, errors } = lab;
  const expected = (() => {
    const s = SessionStore.open(demo, { readOnly: true });
    const n = s.listRuns().length;
    s.close();
    return n;
  })();
  await page.goto(`${server.url}#/session`);
  await page.getByTestId('import-begin').click();
  await page.getByTestId('import-file').fill(demo);
  await page.getByTestId('import-ok').click();
  const report = page.getByTestId('import-report');
  await expect.poll(async () => (await page.getByTestId('import-summary').textContent().catch(() => '')) ?? '', { timeout: 30_000 }).toMatch(new RegExp(`Imported ${expected} runs? .*0 already here`));
  await expect.poll(() => page.getByTestId('run-row').count(), { timeout: 10_000 }).toBeGreaterThan(0);
  const rowsAfterFirst = await page.getByTestId('run-row').count();

  await page.getByTestId('import-ok').click();
  await expect.poll(async () => (await page.getByTestId('import-summary').textContent()) ?? '', { timeout: 30_000 }).toMatch(new RegExp(`Imported 0 runs and .*${expected} already here \\(same content\\) skipped`));
  const outcomes = await report.getByTestId('import-run').evaluateAll((trs) => trs.map((t) => t.getAttribute('data-outcome')));
  expect(outcomes).toHaveLength(expected);
  expect(new Set(outcomes)).toEqual(new Set(['duplicate']));
  expect(await report.getByTestId('import-run').first().textContent()).toMatch(/already present.*already present \(same content hash\)/);
  await page.waitForTimeout(300);
  expect(await page.getByTestId('run-row').count()).toBe(rowsAfterFirst); // nothing duplicated
  const s = SessionStore.open(mine, { readOnly: true });
  expect(s.listRuns()).toHaveLength(expected);
  s.close();
  await report.scrollIntoViewIfNeeded();
  await bothThemes(page, 'lab-import-duplicates');
  expect(errors).toEqual([]);
});

test('compare across two sessions: the open one and the demo lab (read-only), differences highlighted, curves overlaid', async () => {
  const { page, server, errors } = lab;
  const before = sha(demo);
  await page.goto(`${server.url}#/compare`);
  // the open session (mine, with the imported runs) and the recent demo lab are offered
  const sources = page.getByTestId('compare-source');
  await expect.poll(() => sources.count(), { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
  const mineSrc = sources.filter({ has: page.locator(`[title="${mine}"]`) });
  const demoSrc = sources.filter({ has: page.locator(`[title="${demo}"]`) });
  expect(await mineSrc.locator('.tag').first().textContent()).toBe('open');
  expect(await demoSrc.locator('.tag').first().textContent()).toBe('read-only');
  await mineSrc.getByRole('checkbox', { name: new RegExp(`${REMEASURABLE_LABEL} relu`) }).check();
  await demoSrc.locator('.src-head').click();
  await demoSrc.getByRole('checkbox', { name: new RegExp(`${REMEASURABLE_LABEL} silu`) }).check();
  await demoSrc.getByRole('checkbox', { name: /wd-relu-48x12/ }).check();

  const table = page.getByTestId('compare-table');
  await expect.poll(() => table.getByTestId('compare-col').count(), { timeout: 30_000 }).toBe(3);
  const heads = await table.getByTestId('compare-col').allTextContents();
  expect(heads[0]).toMatch(/^\s*mine · .*open/);
  expect(heads[1]).toMatch(/^\s*demo · .*read-only/);
  const row = (key: string) => table.getByTestId(`compare-row-${key}`);
  // what differs is flagged: sessions, checkpoints (their hashes), the figures; what is the same is not
  for (const key of ['session', 'checkpointHash', 'activationRatio', 'thresholds', 'tokens']) expect(await row(key).getAttribute('data-differs'), key).toBe('true');
  for (const key of ['method', 'p', 'seqLen', 'batch', 'provider']) expect(await row(key).getAttribute('data-differs'), key).toBe('false');
  // the width-depth run read 16,384 tokens, the re-measurable ones 4,096
  expect(await row('tokens').locator('td').allTextContents()).toEqual(['4,096', '4,096', '16,384']); // exact (it read 4.10K, 16.4K)
  // the numbers are the sessions' own: the demo's stored activation ratio of the silu run, as a percentage
  const d = SessionStore.open(demo, { readOnly: true });
  const silu = d.listRuns().find((r) => r.label === `${REMEASURABLE_LABEL} silu`)!;
  d.close();
  expect(await row('activationRatio').locator('td').nth(1).textContent()).toBe(`${(silu.activationRatio! * 100).toFixed(2)}%`);

  // one chart, drawn (ink on the canvas), with 3 ratio curves and 3 threshold curves
  const canvas = page.getByTestId('compare-chart');
  await expect.poll(async () => (await canvas.boundingBox())?.width ?? 0, { timeout: 15_000 }).toBeGreaterThan(300);
  const ink = await canvas.evaluate((c: HTMLCanvasElement) => {
    const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
    return n / (px.length / 4);
  });
  expect(ink).toBeGreaterThan(0.02);
  await bothThemes(page, 'lab-compare');
  await table.scrollIntoViewIfNeeded();
  await bothThemes(page, 'lab-compare-table');
  await canvas.scrollIntoViewIfNeeded();
  await bothThemes(page, 'lab-compare-chart');

  await page.getByTestId('compare-only-diff').check();
  expect(await row('method').count()).toBe(0);
  expect(await row('activationRatio').count()).toBe(1);
  // the comparison is in the URL: a reload shows it again
  await page.reload();
  await expect.poll(() => page.getByTestId('compare-col').count(), { timeout: 30_000 }).toBe(3);
  // a file that is not there: its entry says so, naming it
  const nope = path.join(lab.work, 'nope.sparsitylab');
  await page.getByTestId('compare-add-path').fill(nope);
  await page.getByTestId('compare-add').click();
  await expect.poll(async () => (await page.getByTestId('compare-source-error').textContent().catch(() => '')) ?? '', { timeout: 15_000 }).toContain(nope);
  // the demo lab was only read
  expect(sha(demo)).toBe(before);
  expect(fs.existsSync(`${demo}.lock`)).toBe(false);
  expect(await page.getByTestId('status-session').textContent()).toBe(mine);
  expect(errors).toEqual([]);
});
