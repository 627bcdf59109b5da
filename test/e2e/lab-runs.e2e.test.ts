// Issue 18: sweeps first-class and runs that travel. A CETT sweep measured into a session shows every point in the
// runs table (numbers, not '—') and on its run page (a table of points); a run exports as JSON; runs of another
// session import, the ones already here (same content) skipped.
import { expect, test } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { screenshot, useLab } from './harness';
import { Engine } from '../../main/engine/engine';
import type { JobFinishedEvent } from '../../main/api/domains/runs';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';
import { SessionStore } from '../../main/store/index';

let sweepId = '';

const lab = useLab('slab-lab-runs-e2e-', async () => {
  const ck = writeTinyCheckpoint(path.join(home, 'models', 'relu'), 'llama', { activation: 'relu', hidden: 32, layers: 2, seed: 5 });
  const data = path.join(home, 'eval.txt');
  fs.writeFileSync(data, Array.from({ length: 160 }, (_, i) => `Line ${i}: the ferry left at ${(i * 13) % 60} past the hour.\n`).join(''));
  const e = new Engine({ paths: { userData: path.join(home, 'engine'), cache: path.join(home, 'cache') }, log: { info() {}, warn() {}, error() {} } });
  const done = new Map<string, JobFinishedEvent>();
  e.onEvent((ev, p) => ev === 'job.finished' && done.set((p as JobFinishedEvent).id, p as JobFinishedEvent));
  try {
    await e.invoke('sessions.new', { path: session });
    const { id } = await e.invoke('runs.start', { config: { kind: 'measure', checkpoint: ck, data, tokens: 256, seqLen: 32, batch: 4, provider: 'cpu', method: 'cett-ppl', sweep: [0, 0.1, 0.3] } as never });
    while (!done.has(id)) await new Promise((r) => setTimeout(r, 10));
    expect(done.get(id)!.status).toBe('completed');
    sweepId = id;
    await e.call('sessions.close', {});
  } finally {
    await e.dispose();
  }
  // another session: a copy of this one (all duplicates) plus one run of its own
  fs.copyFileSync(session, other);
  const o = SessionStore.open(other);
  const c = o.upsertCheckpoint({ path: '/cluster/relu/step-300', contentHash: 'c0ffee', activation: 'relu' }, { series: 'relu-cluster', tokensTrained: 3e9 });
  o.createRun({ id: 'r-cluster', kind: 'measure', method: 'cett-ppl', checkpointId: c, p: 1, config: {} });
  o.saveResult('r-cluster', { cett: 0.11, activationRatio: 0.25, pplRatio: 1.01 });
  o.updateRun('r-cluster', { status: 'completed' });
  o.close();
  return { home: path.join(home, 'app'), session };
});
const home = lab.work;
const session = path.join(home, 'lab.sparsitylab');
const other = path.join(home, 'other.sparsitylab');

test('the runs table shows every sweep point; the sweep run page tables them; export JSON; import skips duplicates', async () => {
  const { page, server, errors } = lab;
  await page.goto(`${server.url}#/session`);
  await page.getByTestId('run-row').first().waitFor({ timeout: 30_000 });
  const rows = await page.getByTestId('run-row').allTextContents();
  expect(rows).toHaveLength(4);
  expect(rows.filter((r) => /CETT sweep ×3/.test(r))).toHaveLength(1);
  expect(rows.join('\n')).not.toMatch(/CETT-PPL-1%/);
  const pointRows = rows.filter((r) => /CETT 0\.1|CETT 0\.3|CETT 0(?!\.)/.test(r));
  expect(pointRows).toHaveLength(3);
  for (const r of pointRows) expect(r).toMatch(/\d+\.\d+ ?%/); // an activation ratio, not '—'
  await screenshot(page, 'lab-runs-table-light');

  await page.goto(`${server.url}#/run/${encodeURIComponent(sweepId)}`);
  await page.getByTestId('sweep-points').waitFor({ timeout: 30_000 });
  expect(await page.getByTestId('sweep-points').locator('tbody tr').count()).toBe(3);
  expect(await page.getByTestId('run-config').textContent()).toContain('"sweep"');
  await screenshot(page, 'lab-run-sweep-light');
  await page.getByTestId('theme-toggle').click();
  await screenshot(page, 'lab-run-sweep-dark');
  await page.getByTestId('theme-toggle').click();

  const out = path.join(home, 'exported');
  await page.getByTestId('run-export-path').fill(out);
  await page.getByTestId('run-export-json').click();
  await expect.poll(() => fs.existsSync(`${out}.json`), { timeout: 10_000 }).toBe(true);
  expect(fs.readFileSync(`${out}.json`, 'utf8')).toContain(sweepId);

  // re-run with changes: the wizard filled with the sweep's configuration
  await page.getByTestId('run-rerun').click();
  await expect.poll(async () => page.getByLabel('Sweep values').inputValue().catch(() => ''), { timeout: 10_000 }).toBe('0, 0.1, 0.3');
  expect(await page.getByTestId('measure-checkpoint').inputValue()).toBe(path.join(home, 'models', 'relu'));
  expect(await page.getByTestId('measure-seqlen').inputValue()).toBe('32');
  await screenshot(page, 'lab-rerun-light');
  await page.goto(`${server.url}#/run/${encodeURIComponent(sweepId)}`);
  await page.getByTestId('sweep-points').waitFor({ timeout: 30_000 });

  // a point's own page: its result card
  await page.getByTestId('sweep-points').getByRole('link', { name: 'open' }).nth(1).click();
  await page.getByTestId('result-card').waitFor({ timeout: 10_000 });
  await screenshot(page, 'lab-run-point-light');

  // a sweep point stores no per-layer thresholds (only its ratios), so its page offers no "Export thresholds…"
  // (the export itself: main/engine/export-thresholds.test.ts, through the CLI and the contract command)
  expect(await page.getByTestId('run-export-thresholds').count()).toBe(0);

  await page.goto(`${server.url}#/session`);
  await page.getByTestId('import-begin').click();
  await page.getByTestId('import-file').fill(other);
  await page.getByTestId('import-ok').click();
  await expect.poll(async () => (await page.getByTestId('toast').allTextContents()).join(' '), { timeout: 10_000 }).toMatch(/Imported 1 run and .*4 already here \(same content\) skipped/);
  await expect.poll(async () => page.getByTestId('run-row').count(), { timeout: 10_000 }).toBe(5);
  await page.getByTestId('theme-toggle').click();
  await screenshot(page, 'lab-runs-table-dark');
  expect(errors).toEqual([]);
});

test('the Method page says what CETT-PPL-p% is and cites the paper, BibTeX copyable', async () => {
  const { page, server, errors } = lab;
  await page.goto(`${server.url}#/method`);
  await page.getByTestId('method-page').waitFor({ timeout: 30_000 });
  const text = (await page.getByTestId('method-page').textContent()) ?? '';
  expect(text).toContain('CETT-PPL-p%');
  expect(text).toContain('arXiv:2411.02335');
  expect(text).not.toContain('METHOD.md');
  expect(await page.getByTestId('bibtex').textContent()).toMatch(/@inproceedings\{luo2025sparsinglaw,[\s\S]*eprint\s*=\s*\{2411\.02335\}/);
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await page.getByTestId('bibtex-copy').click();
  await expect.poll(async () => (await page.getByTestId('bibtex-copy').textContent()) ?? '').toBe('Copied');
  for (let i = 0; i < 2; i++) {
    const dark = ((await page.getByTestId('theme-toggle').textContent()) ?? '').includes('Light theme'); // names its action
    await screenshot(page, `lab-method-${dark ? 'dark' : 'light'}`);
    await page.getByTestId('theme-toggle').click();
  }
  expect(errors).toEqual([]);
});
