// Issue 18, files and exports: the browser-mode file browser reaches the whole file system (here: a text file outside
// home, picked for the evaluation text), remembers recent folders and shows the engine's errors; a run page exports
// its thresholds (authors' ε list, τ per neuron, PowerInfer-style frequencies) by clicking, and the files read back
// to the run's own numbers (ε and frequencies as stored, τ against W_out column norms read here from the safetensors).
import { expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { screenshot, useLab } from './harness';
import { Engine } from '../../main/engine/engine';
import type { JobFinishedEvent } from '../../main/api/domains/runs';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';
import { SessionStore } from '../../main/store/index';
import { dataLines, expectThresholdFiles } from '../reference/threshold-files';

const L = 2;
let runId = '';
let model = '';

const lab = useLab('slab-files-e2e-', async (work) => {
  model = writeTinyCheckpoint(path.join(work, 'models', 'relu'), 'llama', { activation: 'relu', hidden: 32, layers: L, dtype: 'F32', seed: 5 });
  fs.mkdirSync(path.join(work, 'texts'));
  fs.writeFileSync(path.join(work, 'texts', 'eval.txt'), Array.from({ length: 160 }, (_, i) => `Line ${i}: the ferry left at ${(i * 13) % 60} past the hour.\n`).join(''));
  fs.mkdirSync(path.join(work, 'out'));
  const session = path.join(work, 'lab.sparsitylab');
  const e = new Engine({ paths: { userData: path.join(work, 'engine'), cache: path.join(work, 'cache') }, log: { info() {}, warn() {}, error() {} } });
  const done = new Map<string, JobFinishedEvent>();
  e.onEvent((ev, p) => ev === 'job.finished' && done.set((p as JobFinishedEvent).id, p as JobFinishedEvent));
  try {
    await e.invoke('sessions.new', { path: session });
    const { id } = await e.invoke('runs.start', { config: { kind: 'measure', checkpoint: model, data: path.join(work, 'texts', 'eval.txt'), tokens: 256, seqLen: 32, batch: 4, provider: 'cpu', method: 'cett-ppl' } as never });
    while (!done.has(id)) await new Promise((r) => setTimeout(r, 10));
    expect(done.get(id)!.status).toMatch(/completed/);
    runId = id;
    await e.call('sessions.close', {});
  } finally {
    await e.dispose();
  }
  return { home: path.join(work, 'app'), session };
});

async function themed(name: string): Promise<void> {
  await screenshot(lab.page, `${name}-light`);
  // the app's own toggle, clicked under the open dialog (a modal backdrop takes pointer clicks)
  await lab.page.getByTestId('theme-toggle').dispatchEvent('click');
  await expect.poll(() => lab.page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
  await screenshot(lab.page, `${name}-dark`);
  await lab.page.getByTestId('theme-toggle').dispatchEvent('click');
  await expect.poll(() => lab.page.evaluate(() => document.documentElement.dataset.theme)).toBe('light');
}

test('evaluation text: Browse starts at home, walks up to the file system and into a folder outside home, picks a text file; recent folders remember it', async () => {
  const { page, server, work } = lab;
  const home = fs.realpathSync(os.homedir());
  const realWork = fs.realpathSync(work);
  expect(realWork.startsWith(home + path.sep)).toBe(false); // the file really is outside home
  await page.goto(`${server.url}#/measure`);
  // the wizard fills in the session's own text (the one its run measured) once it has asked the engine, not the demo
  // lab's; cleared, Browse starts at home
  await expect.poll(() => page.getByTestId('measure-data').inputValue(), { timeout: 30_000 }).toBe(path.join(work, 'texts', 'eval.txt'));
  await page.getByTestId('measure-data').fill('');
  await page.getByTestId('measure-data-browse').click();
  const dlg = page.getByTestId('browse-dialog');
  const fb = dlg.getByTestId('file-browser');
  await expect.poll(() => fb.getByTestId('fb-path').inputValue(), { timeout: 20_000 }).toBe(home);
  await themed('files-browse-home');
  // up until the file system's root, then down by double-clicks
  for (let i = 0; i < 20 && (await fb.getByTestId('fb-up').isEnabled()); i++) {
    const before = await fb.getByTestId('fb-path').inputValue();
    await fb.getByTestId('fb-up').click();
    await expect.poll(() => fb.getByTestId('fb-path').inputValue(), { timeout: 20_000 }).not.toBe(before);
  }
  expect(await fb.getByTestId('fb-path').inputValue()).toBe('/');
  let here = '';
  for (const part of realWork.split('/').filter(Boolean).concat('texts')) {
    here += `/${part}`;
    const option = fb.getByRole('listbox').getByRole('option', { name: part, exact: true });
    // a crowded folder (a shared /tmp) lists its first 5,000 entries: past them the path box goes on
    if ((await option.count()) === 0 && (await fb.getByText(/More entries than shown/).count()) > 0) {
      await fb.getByTestId('fb-path').fill(here);
      await fb.getByTestId('fb-go').click();
    } else await option.dblclick();
    await expect.poll(() => fb.getByTestId('fb-path').inputValue(), { timeout: 20_000 }).toBe(here); // a crowded /tmp takes a moment
  }
  await fb.getByRole('listbox').getByRole('option', { name: /eval\.txt/ }).click();
  await themed('files-browse-outside-home');
  await fb.getByTestId('fb-choose').click();
  await expect.poll(() => page.getByTestId('measure-data').inputValue()).toBe(path.join(realWork, 'texts', 'eval.txt'));
  expect(await dlg.count()).toBe(0);

  // reopened: starts at the chosen file (selected), and the folder is a recent one
  await page.getByTestId('measure-data-browse').click();
  await expect.poll(() => fb.getByTestId('fb-path').inputValue(), { timeout: 20_000 }).toBe(path.join(realWork, 'texts'));
  expect(await fb.getByRole('listbox').getByRole('option', { selected: true }).textContent()).toMatch(/eval\.txt/);
  expect(await fb.getByTestId('fb-recent').locator('option').allTextContents()).toContain(path.join(realWork, 'texts'));
  // the path box: a relative path is the engine's clear error; ~ is home; a typed file path selects it
  await fb.getByTestId('fb-path').fill('texts');
  await fb.getByTestId('fb-go').click();
  await expect.poll(async () => (await fb.getByTestId('fb-error').textContent()) ?? '').toMatch(/not an absolute path/);
  await fb.getByTestId('fb-path').fill(path.join(realWork, 'models', 'relu', 'config.json'));
  await fb.getByTestId('fb-path').press('Enter');
  await expect.poll(async () => (await fb.getByRole('listbox').getByRole('option', { selected: true }).textContent()) ?? '').toMatch(/config\.json/);
  expect(await fb.getByTestId('fb-error').count()).toBe(0);
  await fb.getByTestId('fb-cancel').click();
  expect(await page.getByTestId('measure-data').inputValue()).toBe(path.join(realWork, 'texts', 'eval.txt'));
  // Esc closes it too, choosing nothing
  await page.getByTestId('measure-data-browse').click();
  await fb.getByTestId('fb-path').waitFor();
  await page.keyboard.press('Escape');
  await expect.poll(() => dlg.count()).toBe(0);
  expect(await page.getByTestId('measure-data').inputValue()).toBe(path.join(realWork, 'texts', 'eval.txt'));
  expect(lab.errors).toEqual([]);
});

const rows = dataLines;

test('run page: Export thresholds… into a chosen folder writes the run\'s ε list, τ per neuron and frequencies; again asks before replacing', async () => {
  const { page, server, work } = lab;
  const out = fs.realpathSync(path.join(work, 'out'));
  await page.goto(`${server.url}#/run/${encodeURIComponent(runId)}`);
  await page.getByTestId('run-export-thresholds').click();
  const fb = page.getByTestId('browse-dialog').getByTestId('file-browser');
  await expect.poll(() => fb.getByTestId('fb-path').inputValue(), { timeout: 20_000 }).toBe(fs.realpathSync(work)); // the export file's folder
  await fb.getByRole('listbox').getByRole('option', { name: 'out', exact: true }).dblclick();
  await expect.poll(() => fb.getByTestId('fb-path').inputValue(), { timeout: 20_000 }).toBe(out);
  await themed('files-export-thresholds-folder');
  await fb.getByRole('button', { name: 'Use this folder' }).click();
  await expect.poll(async () => (await page.getByTestId('toast').allTextContents()).join('\n'), { timeout: 20_000 }).toMatch(/Exported batch-mean thresholds of 2 layers/);
  const files = fs.readdirSync(out).sort();
  const base = runId.replace(/[^\w.-]+/g, '_');
  expect(files).toEqual([`${base}.frequency.csv`, `${base}.tau.csv`, `${base}.thresholds.env`]);

  // the run's own numbers, from its session (read-only)
  const s = SessionStore.open(path.join(work, 'lab.sparsitylab'), { readOnly: true });
  const result = s.getResult(runId) as { thresholds: number[]; neuronFrequency: number[][]; tokens: number };
  s.close();
  expect(result.thresholds).toHaveLength(L);
  const env = rows(path.join(out, `${base}.thresholds.env`));
  expect(env).toEqual([`thresholds=${result.thresholds.join(',')}`]);
  // τ = ε / ‖W_out[:, i]‖ against norms parsed from the safetensors here; counts = frequency × tokens (the unit test's check)
  const counts = result.neuronFrequency.map((r) => r.map((f) => Math.round(f * result.tokens)));
  expectThresholdFiles(out, base, { model, eps: result.thresholds, frequency: result.neuronFrequency, counts });

  // a second export meets the files: refused, then replaced only on the user's "Replace"
  fs.writeFileSync(path.join(out, `${base}.thresholds.env`), 'thresholds=stale\n');
  await page.getByTestId('run-export-thresholds').click();
  await expect.poll(() => fb.getByTestId('fb-path').inputValue(), { timeout: 20_000 }).toBe(fs.realpathSync(work));
  await fb.getByTestId('fb-recent').selectOption(out); // remembered from the first export
  await expect.poll(() => fb.getByTestId('fb-path').inputValue(), { timeout: 20_000 }).toBe(out);
  await fb.getByRole('button', { name: 'Use this folder' }).click();
  const refused = page.getByTestId('toast').filter({ hasText: /exists already/ });
  await refused.waitFor({ timeout: 20_000 });
  expect(rows(path.join(out, `${base}.thresholds.env`))).toEqual(['thresholds=stale']);
  await themed('files-export-thresholds-replace');
  await refused.getByRole('button', { name: 'Replace' }).click();
  await expect.poll(() => rows(path.join(out, `${base}.thresholds.env`)), { timeout: 20_000 }).toEqual(env);
  expect(await page.getByTestId('toast').filter({ hasText: /Exported batch-mean thresholds/ }).count()).toBeGreaterThan(0);
  expect(lab.errors).toEqual([]);
});

test('run page: Browse… for the export file is a save dialog; an existing file is replaced only after the user confirms', async () => {
  const { page, server, work } = lab;
  const out = fs.realpathSync(path.join(work, 'out'));
  await page.goto(`${server.url}#/run/${encodeURIComponent(runId)}`);
  await page.getByTestId('run-export-browse').click();
  const fb = page.getByTestId('browse-dialog').getByTestId('file-browser');
  // the dialog's first listing (near the field's value) first: a user reads where it opened before typing
  await expect.poll(() => fb.getByTestId('fb-path').inputValue(), { timeout: 20_000 }).not.toBe('');
  await fb.getByTestId('fb-path').fill(out);
  await fb.getByTestId('fb-go').click();
  await expect.poll(() => fb.getByTestId('fb-path').inputValue(), { timeout: 20_000 }).toBe(out);
  await fb.getByTestId('fb-save-name').fill('run.json');
  await themed('files-save-dialog');
  await fb.getByTestId('fb-save').click();
  expect(await page.getByTestId('run-export-path').inputValue()).toBe(path.join(out, 'run.json'));
  await page.getByTestId('run-export-json').click();
  await expect.poll(() => fs.existsSync(path.join(out, 'run.json')), { timeout: 20_000 }).toBe(true);
  expect((JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8')) as { run: { id: string } }).run.id).toBe(runId);
  // the same name again: the dialog asks, and only then may the export replace it
  fs.writeFileSync(path.join(out, 'run.json'), '{"stale":true}\n');
  await page.getByTestId('run-export-browse').click();
  await expect.poll(async () => (await fb.getByRole('listbox').getByRole('option', { selected: true }).textContent()) ?? '', { timeout: 20_000 }).toMatch(/run\.json/);
  await fb.getByTestId('fb-save').click();
  await fb.getByTestId('fb-replace').waitFor();
  await themed('files-save-replace');
  await fb.getByTestId('fb-save').click(); // "Replace"
  await page.getByTestId('run-export-json').click();
  await expect.poll(() => fs.readFileSync(path.join(out, 'run.json'), 'utf8'), { timeout: 20_000 }).toContain(runId);
  expect(lab.errors).toEqual([]);
});
