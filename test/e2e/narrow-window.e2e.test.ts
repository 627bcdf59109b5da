// A narrow window (900 × 700, a laptop's half screen): every view of the demo lab fits its width. Nothing inside the
// page reaches past the window's right edge (the chart was cut off, the Laws and chart run pickers, the Compare run
// list and Home's recent sessions stuck out), and Home's provider reasons are not squeezed to a letter per line.
import { expect, test } from 'vitest';
import { screenshot, useLab } from './harness';
import { prepareDemoSession } from '../../main/engine/demo';

const lab = useLab('slab-narrow-e2e-', (home) => ({ session: prepareDemoSession(home).path, viewport: { width: 900, height: 700 } }));

/** elements inside the page's main area whose right edge is past the window's (the first few, for the message) */
const overflowing = () =>
  lab.page.evaluate(() => {
    const out: string[] = [];
    for (const el of Array.from(document.querySelectorAll('main *'))) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > window.innerWidth + 1) out.push(`${el.tagName.toLowerCase()}.${String(el.className)}[${el.getAttribute('data-testid') ?? ''}] right=${Math.round(r.right)}`);
    }
    return out.slice(0, 5);
  });

const VIEWS: [name: string, hash: string, ready: string][] = [
  ['home', '#/', 'recent-row'],
  ['charts', '#/charts', 'chart-canvas'],
  ['laws', '#/laws', 'law-run'],
  ['compare', '#/compare', 'compare-pick-row'],
  ['session', '#/session', 'runs-table'],
  ['measure', '#/measure', 'measure-start'],
  ['monitor', '#/monitor', 'monitor-empty'],
];

test('every view fits a 900 px wide window', async () => {
  const { page, server, errors } = lab;
  await page.goto(server.url);
  for (const [name, hash, ready] of VIEWS) {
    await page.evaluate((h) => (location.hash = h), hash);
    await page.getByTestId(ready).first().waitFor({ timeout: 30_000 });
    if (name === 'charts') await expect.poll(() => page.getByTestId('chart-canvas').evaluate((c) => c.getBoundingClientRect().width), { timeout: 30_000 }).toBeGreaterThan(100);
    await expect.poll(overflowing, { timeout: 5_000, message: `${name} at 900 px` }).toEqual([]);
    if (name === 'home' || name === 'measure') {
      // no label breaks inside itself: the app's name ("Sparsity / Lab"), the wizard's "Token / budget" and its context
      // note (five lines) wrapped in a 900 px window
      await page.getByTestId('measure-context').or(page.locator('h1')).first().waitFor({ timeout: 30_000 });
      const broken = await page.locator(name === 'home' ? 'main h1' : 'main .sizes label, main .sizes .muted').evaluateAll((els) =>
        els.filter((el) => el.getBoundingClientRect().height > 0 && el.getBoundingClientRect().height > 1.6 * (parseFloat(getComputedStyle(el).lineHeight) || 18)).map((el) => el.textContent?.trim()),
      );
      expect(broken, `${name}: labels on more than one line`).toEqual([]);
    }
    if (name === 'home') {
      // the provider table's reason column keeps a readable width (it was squeezed to one letter per line)
      await page.getByTestId('providers').waitFor({ timeout: 30_000 });
      const widths = await page.getByTestId('providers').locator('td.reason').evaluateAll((tds) => tds.map((td) => td.getBoundingClientRect().width));
      for (const w of widths) expect(w, 'provider reason column width').toBeGreaterThan(150);
    }
    if (name === 'charts') {
      // the kind's title is the page's heading, once: no caption repeats it above a figure of many series (it did)
      expect(await page.getByTestId('chart-caption').count()).toBe(0);
      expect((await page.locator('.charts .body').innerText()).split('Activation ratio vs training tokens').length - 1).toBe(1);
      // the export formats sit on one row (PNG and SVG stayed beside the path field, PDF … TEX wrapped below)
      const tops = await Promise.all(['png', 'svg', 'pdf', 'csv', 'json', 'tex'].map(async (f) => Math.round((await page.getByTestId(`chart-export-${f}`).boundingBox())!.y)));
      expect(new Set(tops).size, `format buttons' rows: ${tops.join(', ')}`).toBe(1);
      // the figure is drawn at the width that fits, not cut, nor shrunk with CSS: its canvas is shown at exactly its
      // own size (chart.js maps the pointer with it, so a CSS-shrunk canvas put tooltips and zoom beside the pointer)
      const [w, h, cw, ch, dpr] = await page.getByTestId('chart-canvas').evaluate((c) => {
        const r = c.getBoundingClientRect();
        return [r.width, r.height, (c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height, window.devicePixelRatio];
      });
      expect(Math.abs(w - cw / dpr)).toBeLessThan(1);
      expect(Math.abs(h - ch / dpr)).toBeLessThan(1);
      // and a wider window draws it larger again
      await page.setViewportSize({ width: 1280, height: 800 });
      await expect.poll(() => page.getByTestId('chart-canvas').evaluate((c) => c.getBoundingClientRect().width), { timeout: 10_000 }).toBeGreaterThan(w + 20);
      await page.setViewportSize({ width: 900, height: 700 });
      await expect.poll(() => page.getByTestId('chart-canvas').evaluate((c) => c.getBoundingClientRect().width), { timeout: 10_000 }).toBeLessThan(w + 2);
    }
    await screenshot(page, `narrow-${name}`);
  }
  // the monitor lists this window's runs; its empty state says where runs measured before are, and goes there
  expect(await page.getByTestId('monitor-empty').textContent()).toContain("Runs measured before (also those of an earlier window) are in the session's runs table.");
  await page.getByTestId('monitor-session-runs').click();
  await page.getByTestId('runs-table').waitFor({ timeout: 30_000 });
  expect(errors).toEqual([]);
}, 120_000);
