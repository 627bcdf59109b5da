import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';
import { Engine } from '../engine/engine';
import { fitCommand } from './fit';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'laws-cli-'));
const engine = new Engine({ paths: { userData: dir, cache: path.join(dir, 'cache') }, log: { info() {}, warn() {}, error() {} } });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('fit prints the law and its limit, and --json the whole result', async () => {
  const D = Array.from({ length: 25 }, (_, i) => 10 + i * 30);
  const file = path.join(dir, 'p.json');
  fs.writeFileSync(file, JSON.stringify({ token_passed: D.map((d) => d * 1e9), activation_ratio: D.map((d) => Math.exp(-1.56e-4 * d ** 1.53 - 3.46) + 0.0648), activation: 'relu' }));
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    expect(await fitCommand.run([file, '--bootstrap', '10', '--drop-first', '2'], engine)).toBe(0);
    const out = log.mock.calls.map((c) => c.join(' ')).join('\n');
    expect(out).toContain('relu form (picked by activation), 23 points fitted');
    expect(out).toContain('A₀ = 6.480%');
    log.mockClear();
    expect(await fitCommand.run([file, '--json', '--bootstrap', '0', '--form', 'silu'], engine)).toBe(0);
    const j = JSON.parse(String(log.mock.calls[0][0]));
    expect(j.fits[0].form).toBe('silu');
    await expect(fitCommand.run([file, '--form', 'cubic'], engine)).rejects.toThrow(/--form must be/);
    await expect(fitCommand.run([file, '--drop-first', 'x'], engine)).rejects.toThrow(/whole number/);
  } finally {
    log.mockRestore();
  }
});

it('fit names a series with too few points and fits the others (text and --json)', async () => {
  const file = path.join(dir, 'short.csv');
  const rows = [...Array.from({ length: 8 }, (_, i) => `long,${(i + 1) * 1e9},${0.5 - 0.2 * (1 - Math.exp(-i / 2))}`), '1e9,0.4', '2e9,0.39'].map((r, i) => (i >= 8 ? `short,${r}` : r));
  fs.writeFileSync(file, ['series,tokens,activation_ratio', ...rows].join('\n') + '\n');
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    expect(await fitCommand.run([file, '--form', 'relu', '--bootstrap', '0'], engine)).toBe(0);
    const out = log.mock.calls.map((c) => c.join(' ')).join('\n');
    expect(out).toContain('long: relu form (as asked), 8 points fitted');
    expect(out).toContain('short: not fitted (2 points): the relu form has 4 parameters: its fit needs at least 5 points after the warm-up, got 2 (of 2)');
    log.mockClear();
    expect(await fitCommand.run([file, '--json', '--form', 'relu', '--bootstrap', '0'], engine)).toBe(0);
    const j = JSON.parse(String(log.mock.calls[0][0]));
    expect(j.fits.map((f: { series: string }) => f.series)).toEqual(['long']);
    expect(j.notFitted).toEqual([{ series: 'short', points: 2, reason: 'the relu form has 4 parameters: its fit needs at least 5 points after the warm-up, got 2 (of 2)' }]);
  } finally {
    log.mockRestore();
  }
});

it("fit reads the lab's own activation-vs-tokens chart CSV: every measured point of the session, tokens and ratio as stored", async () => {
  const { main } = await import('./index');
  const { SessionStore } = await import('../store/index');
  const { pointsFromCsv } = await import('../laws/import');
  // a copy: opening the shipped file with a newer app upgrades it in place (and leaves -wal/-shm/.bak beside it)
  const demo = path.join(dir, 'demo.sparsitylab');
  fs.copyFileSync(path.resolve(__dirname, '../../resources/demo-lab/demo.sparsitylab'), demo);
  const csv = path.join(dir, 'avt.csv');
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    expect(await main(['export', demo, '--chart', 'activation-vs-tokens', '--format', 'csv', '--out', csv])).toBe(0);
    // independently: the session's series points (tokens trained, activation ratio) as stored
    const s = SessionStore.open(demo, { readOnly: true });
    const stored = s.listRuns().filter((r) => r.tokensTrained && r.activationRatio !== null && r.series);
    s.close();
    const got = pointsFromCsv(fs.readFileSync(csv, 'utf8'), csv);
    const key = (series: string, tokens: number) => `${series}@${tokens}`;
    const want = new Map<string, number[]>(); // a checkpoint may have several runs (series points, finals): the chart shows one
    for (const r of stored) want.set(key(r.series!, r.tokensTrained!), [...(want.get(key(r.series!, r.tokensTrained!)) ?? []), r.activationRatio!]);
    expect(got.length).toBe(want.size);
    expect(got.filter((p) => !want.get(key(p.series!, p.tokens))?.some((a) => Math.abs(a - p.activationRatio) < 1e-12))).toEqual([]);
    // each line's activation comes along (the demo's series are named after it: relu-64x2, silu-96x3, …)
    expect(got.filter((p) => p.activation !== p.series!.split('-')[0])).toEqual([]);
    log.mockClear();
    expect(await fitCommand.run([csv, '--json', '--bootstrap', '0'], engine)).toBe(0);
    const fits = JSON.parse(String(log.mock.calls[0][0])).fits as { series: string; form: string; formPicked: string; stats: { n: number }; droppedTokens: number[] }[];
    expect(fits.reduce((n, f) => n + f.stats.n + f.droppedTokens.length, 0)).toBe(got.length);
    // so the form is the Laws page's, by activation: relu-64x2 rises, and its form was guessed 'silu' from the trend
    for (const f of fits) expect([f.series, f.form, f.formPicked]).toEqual([f.series, f.series.split('-')[0], 'activation']);
    log.mockClear();
    expect(await fitCommand.run(['--help'], engine)).toBe(0);
    expect(String(log.mock.calls[0][0])).toMatch(/tokens,activation_ratio[\s\S]*activation-vs-tokens' chart CSV/);
  } finally {
    log.mockRestore();
  }
  fs.writeFileSync(path.join(dir, 'pareto.csv'), '# Sparsity Lab chart pareto: PPL vs activation\nseries,label,role,axis,x,y,v,run\n');
  expect(() => pointsFromCsv(fs.readFileSync(path.join(dir, 'pareto.csv'), 'utf8'), 'pareto.csv')).toThrow(/'pareto' chart export; fit reads the 'activation-vs-tokens'/);
});
