// Compare across sessions (issue 18) through the contract: runs of the open session and of a session that is not open,
// side by side; the other file is read read-only (its bytes unchanged, no lock left, the open session still open);
// the overlaid per-layer chart carries each run's stored figures (ratios in %, thresholds on the right axis).
import { afterAll, expect, test } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SessionStore } from '../../main/store/index';
import { Engine } from '../../main/engine/engine';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-compare-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const f = (n: string) => path.join(tmp, n);
const sha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function session(file: string, runs: { id: string; method: string; p?: number; ck: string; perLayer?: number[]; thresholds?: number[]; provider: string }[]): void {
  const s = SessionStore.create(file);
  for (const r of runs) {
    const ck = s.upsertCheckpoint({ path: `/models/${r.ck}`, contentHash: `hash-${r.ck}`, activation: 'relu' });
    const ds = s.upsertDataset({ path: '/data/eval.txt', hash: 'text-hash', tokens: 4096, seqLen: 128 });
    s.createRun({ id: r.id, kind: 'measure', method: r.method, checkpointId: ck, datasetId: ds, p: r.p ?? null, config: { kind: 'measure', tokens: 4096, seqLen: 128, batch: 8, provider: r.provider } });
    s.saveResult(r.id, { activationRatio: 0.3, pplRatio: 1.01, cett: 0.2, tokens: 4096, ...(r.perLayer ? { perLayerActivation: r.perLayer } : {}), ...(r.thresholds ? { thresholds: r.thresholds } : {}) });
    s.updateRun(r.id, { status: 'completed' });
  }
  s.close();
}

test('runs of the open session and of a closed one side by side, the closed one read read-only', async () => {
  session(f('open.sparsitylab'), [{ id: 'a', method: 'cett-ppl', p: 1, ck: 'relu-100', perLayer: [0.2, 0.4, 0.3], thresholds: [0.5, 0.25, 0.125], provider: 'cpu' }]);
  session(f('other.sparsitylab'), [
    { id: 'b', method: 'cett-ppl', p: 5, ck: 'relu-200', perLayer: [0.1, 0.2, 0.15], thresholds: [0.75, 0.5, 0.25], provider: 'cpu' },
    { id: 'c', method: 'topk-token', ck: 'relu-200', provider: 'cpu' },
  ]);
  const other = f('other.sparsitylab');
  const before = sha(other);
  const e = new Engine({ paths: { userData: f('engine'), cache: f('cache') }, log: { info() {}, warn() {}, error() {} } });
  try {
    await e.invoke('sessions.open', { path: f('open.sparsitylab') });
    const listed = await e.invoke('compare.sessionRuns', { session: other });
    expect(listed).toMatchObject({ session: other, name: 'other', open: false });
    expect(listed.runs.map((r) => r.id).sort()).toEqual(['b', 'c']);

    const r = await e.invoke('compare.runs', { runs: [{ session: f('open.sparsitylab'), id: 'a' }, { session: other, id: 'b' }, { session: other, id: 'c' }] });
    expect(r.runs.map((x) => [x.sessionName, x.run.id, x.sessionOpen])).toEqual([['open', 'a', true], ['other', 'b', false], ['other', 'c', false]]);
    expect(r.runs[0]).toMatchObject({ tokens: 4096, seqLen: 128, batch: 8, checkpointHash: 'hash-relu-100', datasetHash: 'text-hash', thresholds: { layers: 3, min: 0.125, max: 0.5 } });
    expect(r.runs[0].thresholds!.mean).toBeCloseTo((0.5 + 0.25 + 0.125) / 3, 12);
    expect(r.runs[1].run.p).toBe(5);
    expect(r.runs[2]).toMatchObject({ perLayerActivation: null, thresholds: null });
    expect(r.runs[0].contentHash).toMatch(/^[0-9a-f]{64}$/);

    // the chart: per run with figures, its ratios (in %) on the left axis and its thresholds on the right
    const series = r.chart!.plot.series;
    expect(series.map((s) => [s.axis ?? 'y', s.group])).toEqual([['y', 0], ['y2', 0], ['y', 1], ['y2', 1]]);
    expect(series[2].points.map((p) => p.y)).toEqual([10, 20, 15].map((v) => expect.closeTo(v, 5)));
    expect(series[3].points.map((p) => p.y)).toEqual([0.75, 0.5, 0.25]);
    expect(r.chart!.plot.notes.join(' ')).toMatch(/other · .* no per-layer figures/);
    const cfg = r.chart!.config as { data: { datasets: { yAxisID: string }[] }; options: { scales: Record<string, unknown> } };
    expect(Object.keys(cfg.options.scales).sort()).toEqual(['x', 'y', 'y2']);

    // the other file was only read: same bytes, no lock left; the open session is still the open one
    expect(sha(other)).toBe(before);
    expect(fs.existsSync(`${other}.lock`)).toBe(false);
    expect((await e.invoke('sessions.current', {}))!.path).toBe(f('open.sparsitylab'));

    // a wrong run or file is named in the error
    await expect(e.invoke('compare.runs', { runs: [{ session: other, id: 'nope' }] })).rejects.toThrow(/other\.sparsitylab: no run nope/);
    await expect(e.invoke('compare.sessionRuns', { session: f('missing.sparsitylab') })).rejects.toThrow(/missing\.sparsitylab/);
    for (const odd of ['/', '/proc/self/mem', f('engine')]) await expect(e.invoke('compare.sessionRuns', { session: odd }), odd).rejects.toMatchObject({ code: expect.stringMatching(/^(SESSION_ERROR|NOT_FOUND)$/) });
    // runs with no per-layer figures: no chart, and why
    const flat = await e.invoke('compare.runs', { runs: [{ session: other, id: 'c' }] });
    expect(flat.chart).toBeNull();
    expect(flat.chartNote).toMatch(/per-layer/);
    await e.invoke('sessions.close', {});
  } finally {
    await e.dispose();
  }
});
