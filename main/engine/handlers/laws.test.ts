import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../engine';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'laws-engine-'));
const engine = new Engine({ paths: { userData: dir, cache: path.join(dir, 'cache') }, log: { info() {}, warn() {}, error() {} } });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// two series drawn from Table 2 laws (0.4B SiLU and 0.8B ReLU), exact, with shape and size columns
const silu = (D: number) => -0.42 / D ** 1.03 + 0.385;
const relu = (D: number) => Math.exp(-7.97e-3 * D ** 1.01 - 3.49) + 0.0721;
const rows = ['tokens,activation_ratio,series,activation,params,width,depth'];
for (let i = 1; i <= 20; i++) {
  rows.push(`${i * 10e9},${silu(i * 10)},a,silu,3.6e8,1280,24`);
  rows.push(`${i * 20e9},${relu(i * 20)},b,relu,7.6e8,1536,28`);
}

describe('laws.* through the engine', () => {
  it('imports a CSV and fits each series with the form of its activation', async () => {
    const file = path.join(dir, 'p.csv');
    fs.writeFileSync(file, rows.join('\n'));
    const imp = await engine.invoke('laws.importPoints', { path: file });
    expect(imp.series.map((s) => [s.name, s.n, s.activation])).toEqual([
      ['a', 20, 'silu'],
      ['b', 20, 'relu'],
    ]);
    const { fits } = await engine.invoke('laws.fit', { points: imp.points, bootstrap: 20 });
    expect(fits.map((f) => [f.series, f.form])).toEqual([
      ['a', 'silu'],
      ['b', 'relu'],
    ]);
    expect(fits[0].A0).toBeCloseTo(0.385, 5);
    expect(fits[1].A0).toBeCloseTo(0.0721, 5);
    expect(fits[1].widthDepthRatio).toBeCloseTo(1536 / 28, 9);
    const one = await engine.invoke('laws.fit', { points: imp.points, series: ['b'], dropFirst: 2, bootstrap: 0 });
    expect(one.fits).toHaveLength(1);
    expect(one.fits[0].points.filter((p) => p.dropped)).toHaveLength(2);
  });
  it('limit vs scale, convergence and width-depth from the same points', async () => {
    const file = path.join(dir, 'p.csv');
    const { points } = await engine.invoke('laws.importPoints', { path: file });
    const s = await engine.invoke('laws.limitVsScale', { points, bootstrap: 0 });
    expect(s.points.map((p) => [p.series, p.params])).toEqual([
      ['a', 3.6e8],
      ['b', 7.6e8],
    ]);
    const c = await engine.invoke('laws.convergence', { points, bootstrap: 0, ratios: { from: 20, to: 100, steps: 5 } });
    expect(c.series[0].ratio).toEqual([20, 40, 60, 80, 100]);
    expect(c.series[0].dSparsity[0]).toBeCloseTo(-(0.42 * 1.03 * (20 * 0.36) ** -2.03), 4);
    const wd = await engine.invoke('laws.widthDepth', { limits: [1.8, 6, 14.2, 48, 74.7, 113.8, 164.6, 213.3].map((r) => ({ ratio: r, A0: 0.06 + 0.0002 * Math.min(r, 113.8) })), bootstrap: 0 });
    expect(wd.fit.bottleneck).toBeCloseTo(113.8, 0);
  });
  it('rejects bad payloads and files with clear errors', async () => {
    await expect(engine.invoke('laws.fit', { points: [{ tokens: -1, activationRatio: 0.1 }] })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(engine.invoke('laws.fit', { points: [{ tokens: 1, activationRatio: 0.1 }], form: 'relu' })).rejects.toThrow(/series series: the relu form has 4 parameters/);
    await expect(engine.invoke('laws.importPoints', { path: path.join(dir, 'missing.csv') })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(engine.invoke('laws.limitVsScale', { points: [{ tokens: 1e9, activationRatio: 0.1 }], bootstrap: 0 })).rejects.toThrow();
  });
});
