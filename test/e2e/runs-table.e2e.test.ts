// Issue 18 ("The runs table overflows"): the session's runs table fits the window at 1280 px and at the narrowest
// viewport the e2e tests use (1200 px), long cells cut with their full text in a tooltip, in both themes. The demo lab
// copy a new user gets, one run given many tags and a long note.
import { expect, test } from 'vitest';
import path from 'node:path';
import { screenshot, useLab } from './harness';
import { prepareDemoSession } from '../../main/engine/demo';
import { SessionStore } from '../../main/store/index';

const longNote = 'this note is far longer than the column it sits in, so it must be cut with its full text in a tooltip';
const lab = useLab('slab-runs-table-e2e-', (home) => {
  const demo = prepareDemoSession(home);
  const s = SessionStore.open(demo.path!);
  const run = s.listRuns().sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0]!; // the first row
  s.updateRun(run.id, { notes: longNote, tags: ['baseline', 'needs-review', 'paper-figure-3', 'cpu'] });
  s.close();
  return { session: demo.path, viewport: { width: 1280, height: 800 } };
});

async function fits(): Promise<{ scroll: number; client: number }> {
  return lab.page.getByTestId('runs-table-wrap').evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
}

test('the runs table fits at 1280 and 1200 px, light and dark, long cells with a tooltip', async () => {
  const { page, server, errors } = lab;
  await page.goto(`${server.url}#/session`);
  await page.getByTestId('run-row').first().waitFor({ timeout: 30_000 });
  const w = await fits();
  expect(w.scroll).toBeLessThanOrEqual(w.client);
  // the page itself does not scroll sideways either
  expect(await page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth)).toBe(true);
  // the long note is cut in the cell and whole in its tooltip
  const note = page.getByRole('textbox', { name: /^Note on run / }).and(page.locator(`[value="${longNote}"]`));
  expect(await note.getAttribute('title')).toBe(longNote);
  // the Checkpoint column tells apart the demo's runs at the same step of different series (…/<series>/<step>): each
  // name is a tail of the full path in its tooltip (or the record's own name: the shipped models/relu and models/silu are
  // copies of relu-64x2/003000 and silu-64x2/003000, one content recorded under both names), two different paths never share one, and a step is never alone
  const cks = await page.getByTestId('run-row').evaluateAll((trs) => trs.map((tr) => ({ path: tr.children[2].getAttribute('data-path') ?? '', name: tr.children[2].textContent?.trim() ?? '' })));
  const withPath = cks.filter((c) => c.path);
  expect(withPath.length).toBeGreaterThan(1);
  for (const c of withPath) {
    expect(path.isAbsolute(c.path), c.path).toBe(true); // the full path where the session finds it
    expect(c.path.endsWith(c.name) || c.path.endsWith(`${path.sep}models${path.sep}${/^(relu|silu)-64x2\/003000$/.exec(c.name)?.[1]}`), `${c.name} at ${c.path}`).toBe(true);
    expect(c.name).not.toMatch(/^\d+$/);
  }
  const byName = new Map<string, Set<string>>();
  for (const c of withPath) byName.set(c.name, (byName.get(c.name) ?? new Set()).add(c.path));
  expect([...byName.values()].every((ps) => ps.size === 1)).toBe(true);
  // the When column shows its date whole (short form; the full one in the tooltip), not "Dec 4, 2026,…"
  const whens = await page.getByTestId('run-when').evaluateAll((tds) => tds.map((td) => ({ text: td.textContent ?? '', cut: td.scrollWidth > td.clientWidth, title: td.getAttribute('title') ?? '' })));
  expect(whens.length).toBeGreaterThan(1);
  for (const w of whens) {
    expect(w.cut, `When '${w.text}' is cut`).toBe(false);
    expect(w.title.length).toBeGreaterThan(w.text.length - 1);
  }
  await screenshot(page, 'runs-table-1280-light');
  await page.getByTestId('theme-toggle').click();
  await screenshot(page, 'runs-table-1280-dark');

  await page.setViewportSize({ width: 1200, height: 800 });
  await expect.poll(async () => {
    const n = await fits();
    return n.scroll <= n.client;
  }).toBe(true);
  await screenshot(page, 'runs-table-1200-dark');
  await page.getByTestId('theme-toggle').click();

  // a run's checkpoint is named in the table as on its page, by the record it was measured on: the re-measurable relu
  // run's record is relu-64x2/003000 (the table said "relu", the name of the other record at that path)
  const s = SessionStore.open(path.join(lab.work, 'demo-lab', 'demo.sparsitylab'), { readOnly: true });
  const remeasurable = s.listRuns({}).find((r) => r.label === 'demo: re-measurable relu')!;
  s.close();
  const row = page.getByTestId('run-row').filter({ has: page.locator(`a[href$="/run/${encodeURIComponent(remeasurable.id)}"]`) });
  expect(await row.count()).toBe(1);
  expect(await row.evaluate((tr) => tr.children[2].textContent?.trim())).toBe('relu-64x2/003000');
  await row.getByTestId('run-open').click();
  await expect.poll(async () => (await page.locator('.sub').first().textContent()) ?? '', { timeout: 30_000 }).toMatch(/· relu-64x2\/003000$/);
  expect(errors).toEqual([]);
});

test("the demo copy's missing training checkpoints: counted as checkpoints, the folder looked in named", async () => {
  const { page, server, errors } = lab;
  await page.goto(`${server.url}#/session`);
  const panel = page.getByTestId('missing-files');
  await panel.waitFor({ timeout: 30_000 });
  expect(await page.getByTestId('missing-summary').textContent()).toMatch(/^\s*51 checkpoints of this session not found/);
  await panel.locator('summary').click();
  // the session's relative paths (../../tools/demo-lab/work/checkpoints/<series>/<step>) from the copy's folder
  const where = (await page.getByTestId('missing-where').textContent())!.replace(/\s+/g, ' ');
  expect(where).toContain(path.join(lab.work, 'demo-lab'));
  expect(where).toContain(path.resolve(lab.work, 'demo-lab', '../../tools/demo-lab/work/checkpoints'));
  expect(where).toMatch(/ships only its two final models/);
  await screenshot(page, 'runs-table-demo-missing');
  expect(errors).toEqual([]);
});

test('a 1024 px window: the runs table keeps Series whole, the checkpoints table of Load checkpoints fits', async () => {
  const { page, server, errors } = lab;
  await page.setViewportSize({ width: 1024, height: 768 });
  await page.goto(`${server.url}#/session`);
  await page.getByTestId('run-row').first().waitFor({ timeout: 30_000 });
  await expect.poll(async () => {
    const n = await fits();
    return n.scroll <= n.client;
  }).toBe(true);
  // the Series column was squeezed to a few pixels ("r…") by the fixed columns around it
  const series = await page.getByTestId('run-row').evaluateAll((trs) => trs.map((tr) => tr.children[3] as HTMLElement).map((td) => ({ text: td.textContent?.trim() ?? '', cut: td.scrollWidth > td.clientWidth })));
  expect(series.filter((s) => s.text.startsWith('relu-')).length).toBeGreaterThan(0);
  for (const s of series) expect(s.cut, `Series '${s.text}' is cut`).toBe(false);
  const whens = await page.getByTestId('run-when').evaluateAll((tds) => tds.map((td) => td.scrollWidth > td.clientWidth));
  expect(whens.every((cut) => !cut)).toBe(true);
  // no header is cut either ("Activa…", "PPL ra…")
  const heads = await page.getByTestId('runs-table').locator('th:visible').evaluateAll((ths) => ths.map((th) => ({ text: th.textContent?.trim() ?? '', cut: th.scrollWidth > th.clientWidth })));
  for (const h of heads) expect(h.cut, `header '${h.text}' is cut`).toBe(false);
  await screenshot(page, 'runs-table-1024');

  await page.goto(`${server.url}#/load`);
  const table = page.getByTestId('session-checkpoints');
  await table.waitFor({ timeout: 30_000 });
  const overflow = await page.evaluate(() => {
    const main = document.querySelector('main')!;
    return { main: main.scrollWidth - main.clientWidth, doc: document.documentElement.scrollWidth - document.documentElement.clientWidth };
  });
  expect(overflow).toEqual({ main: 0, doc: 0 });
  const wrap = await page.getByTestId('session-checkpoints-wrap').evaluate((el) => el.scrollWidth - el.clientWidth);
  expect(wrap).toBeLessThanOrEqual(0);
  await screenshot(page, 'load-checkpoints-1024');
  await page.setViewportSize({ width: 1280, height: 800 });
  expect(errors).toEqual([]);
});

test('a 900 px window: no heading cut, a run\'s method on one line, the series in the checkpoint\'s tooltip', async () => {
  const { page, server, errors } = lab;
  await page.setViewportSize({ width: 900, height: 700 });
  try {
    await page.goto(`${server.url}#/session`);
    await page.getByTestId('run-row').first().waitFor({ timeout: 30_000 });
    await expect.poll(async () => {
      const n = await fits();
      return n.scroll <= n.client;
    }).toBe(true);
    // the Checkpoint heading read "Checkp…"
    const heads = await page.getByTestId('runs-table').locator('th:visible').evaluateAll((ths) => ths.map((th) => ({ text: th.textContent?.trim() ?? '', cut: th.scrollWidth > th.clientWidth })));
    expect(heads.map((h) => h.text)).toContain('Checkpoint');
    for (const h of heads) expect(h.cut, `header '${h.text}' is cut`).toBe(false);
    // "CETT-PPL-1%" took two lines and a sweep's label five; a single run's method is one line now
    const methods = await page.getByTestId('run-row').evaluateAll((trs) =>
      trs.map((tr) => {
        const td = tr.children[4] as HTMLElement;
        const text = td.childNodes[0]?.textContent?.trim() ?? '';
        const range = document.createRange();
        range.selectNodeContents(td.childNodes[0]);
        return { text, lines: range.getClientRects().length };
      }),
    );
    const single = methods.filter((m) => /^CETT-PPL-\d+%$/.test(m.text));
    expect(single.length).toBeGreaterThan(0);
    for (const m of single) expect(m.lines, m.text).toBe(1);
    // the series column stepped aside; its name is in the checkpoint's tooltip
    expect(await page.getByTestId('runs-table').locator('th:visible', { hasText: 'Series' }).count()).toBe(0);
    const titles = await page.getByTestId('run-row').evaluateAll((trs) => trs.map((tr) => tr.children[2].getAttribute('title') ?? ''));
    expect(titles.some((t) => /\nseries relu-/.test(t))).toBe(true);
    await screenshot(page, 'runs-table-900');
  } finally {
    await page.setViewportSize({ width: 1280, height: 800 });
  }
  expect(errors).toEqual([]);
});
