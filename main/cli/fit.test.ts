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
