// A sweep in the runs table is named as one, with its point count and values, whether its points are runs of their
// own or live only in its result (the demo lab's Top-k, FAT-ε and fixed-CETT sweeps, recorded before points were
// runs): listRuns carries what a run sweeps from its config, and one function (common/run-label sweepName) names it.
import { afterAll, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SessionStore } from '../../main/store/index';
import { sweepValuesText, describeConfig } from '../../common/run-label';
import { methodLabel, seriesCounts, sweepCounts } from '../../renderer/src/runrows';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-sweeplabel-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('values in words: p% with its unit, a long list shortened, no float noise', () => {
  expect(sweepValuesText('p', [1, 5, 10])).toBe('p = 1, 5, 10%');
  expect(sweepValuesText('param', [0.05, 0.1 + 0.2])).toBe('0.05, 0.3');
  expect(sweepValuesText('param', [1, 2, 3, 4, 5, 6])).toBe('1, 2, 3, 4, 5, 6');
  expect(sweepValuesText('param', [1, 2, 3, 4, 5, 6, 7, 8])).toBe('1, 2, 3, …, 7, 8');
  expect(describeConfig({ kind: 'measure', method: 'cett-ppl', checkpoint: '/m/tiny', sweepP: [1, 5, 10] })).toBe('CETT-PPL-p% sweep · tiny · p = 1, 5, 10%');
});

test('listRuns names what a run sweeps from its config; sweeps without point rows are labelled as sweeps', () => {
  const s = SessionStore.create(path.join(tmp, 'a.sparsitylab'));
  s.createRun({ id: 'topk', kind: 'measure', method: 'topk-token', config: { method: 'topk-token', sweep: [0.05, 0.1, 0.2, 0.3, 0.5, 0.7] } });
  s.saveResult('topk', { kind: 'sweep', method: 'topk-token', points: [0.05, 0.1, 0.2, 0.3, 0.5, 0.7].map((param) => ({ param, activationRatio: param, pplRatio: 1 })) });
  s.createRun({ id: 'fat', kind: 'measure', method: 'fat', config: { sweep: [0.001, 0.01] } });
  s.createRun({ id: 'cett', kind: 'measure', method: 'cett-ppl', p: 1, config: { p: 1, sweep: [0.01, 0.05, 0.1] } });
  s.createRun({ id: 'psw', kind: 'measure', method: 'cett-ppl', config: { sweepP: [1, 5, 10] } });
  s.createRun({ id: 'one', kind: 'measure', method: 'cett-ppl', p: 5, config: { p: 5 } });
  // hostile or odd configs: no sweep named, listing never fails
  s.createRun({ id: 'words', kind: 'measure', method: 'fat', param: 0.01, config: { sweep: ['a', 1] } });
  s.createRun({ id: 'scalar', kind: 'measure', method: 'fat', param: 0.02, config: { sweep: 5, sweepP: [] } });
  s.createRun({ id: 'broken', kind: 'measure', method: 'topk-batch', param: 0.1, config: {} });
  s.db.prepare("UPDATE runs SET config='{not json' WHERE id='broken'").run();
  const rows = s.listRuns();
  const by = (id: string) => rows.find((r) => r.id === id)!;
  expect(by('topk').sweep).toEqual({ over: 'param', values: [0.05, 0.1, 0.2, 0.3, 0.5, 0.7] });
  expect(by('psw').sweep).toEqual({ over: 'p', values: [1, 5, 10] });
  for (const id of ['one', 'words', 'scalar', 'broken']) expect(by(id).sweep, id).toBeUndefined();
  expect(s.getRun('fat')!.sweep).toEqual({ over: 'param', values: [0.001, 0.01] });

  const counts = sweepCounts(rows); // none of these has point rows: the label comes from the row alone
  const label = (id: string) => methodLabel(by(id), counts.get(id));
  expect(label('topk')).toBe('Top-k (token) sweep ×6 (0.05, 0.1, 0.2, 0.3, 0.5, 0.7)');
  expect(label('fat')).toBe('FAT-ε sweep ×2 (0.001, 0.01)');
  expect(label('cett')).toBe('CETT sweep ×3 (0.01, 0.05, 0.1)'); // not 'CETT-PPL-1%'
  expect(label('psw')).toBe('CETT-PPL-p% sweep ×3 (p = 1, 5, 10%)');
  expect(label('one')).toBe('CETT-PPL-5%');
  expect(label('words')).toBe('FAT-ε 0.01');
  expect(label('scalar')).toBe('FAT-ε 0.02');
  expect(label('broken')).toBe('Top-k (batch) 0.1');
  // point rows alone (no config values): the count
  expect(methodLabel({ method: 'cett-ppl', p: null, param: null }, 2, true)).toBe('CETT-PPL-p% sweep ×2');
  s.close();
});

test("the shipped demo lab's result-only sweeps: each named as a sweep with its stored points' count and values", () => {
  const copy = path.join(tmp, 'demo.sparsitylab');
  fs.copyFileSync(path.resolve(__dirname, '../../resources/demo-lab/demo.sparsitylab'), copy);
  const s = SessionStore.open(copy, { readOnly: true });
  const rows = s.listRuns({ parentId: null });
  const counts = sweepCounts(s.listRuns());
  const old = rows.filter((r) => !counts.has(r.id) && (s.getResult(r.id) as { kind?: string } | undefined)?.kind === 'sweep');
  expect(old.map((r) => r.method).sort()).toEqual(['cett-ppl', 'fat', 'topk-token']);
  for (const r of old) {
    const pts = (s.getResult(r.id) as { points: { param: number }[] }).points.map((p) => p.param);
    const name = r.method === 'cett-ppl' ? 'CETT' : r.method === 'fat' ? 'FAT-ε' : 'Top-k (token)';
    expect(methodLabel(r, counts.get(r.id))).toBe(`${name} sweep ×${pts.length} (${pts.join(', ')})`);
  }
  s.close();
});

test("the demo lab's training series: the series run is named with its checkpoint count, each checkpoint's run with the series' CETT (they read 'CETT-PPL-1%' with no numbers and a bare 'CETT')", () => {
  const copy = path.join(tmp, 'demo-series.sparsitylab');
  fs.copyFileSync(path.resolve(__dirname, '../../resources/demo-lab/demo.sparsitylab'), copy);
  const s = SessionStore.open(copy, { readOnly: true });
  const rows = s.listRuns();
  s.close();
  const series = seriesCounts(rows);
  const parents = rows.filter((r) => series.has(r.id));
  expect(parents.length).toBe(6); // relu and silu × 64x2, 96x3, 128x4
  for (const p of parents) {
    const kids = rows.filter((r) => r.parentId === p.id);
    expect(methodLabel(p, 0, false, series.get(p.id))).toBe(`CETT-PPL-${p.p}% series ×${kids.length}`);
    // every checkpoint was measured with the series' one CETT, which its label gives
    for (const k of kids) expect(methodLabel(k, 0, false, series.get(k.id) ?? 0)).toBe(`CETT ${+p.cett!.toPrecision(4)}`);
  }
});
