// Compare's table rows (renderer/src/compare.ts): a row is flagged when what it shows differs across the runs.
import { expect, test } from 'vitest';
import { compareRows, decodePick, encodePick } from '../../renderer/src/compare';
import type { ComparedRun, SessionRun } from '../../main/api/contract';

function run(over: Partial<SessionRun>, extra: Partial<ComparedRun> = {}): ComparedRun {
  const r = { id: 'r', parentId: null, kind: 'measure', method: 'cett-ppl', label: '', checkpointId: 1, checkpoint: 'relu/step-100', activation: 'relu', series: null, tokensTrained: null, p: 1, param: null, status: 'completed', steps: 3, cett: 0.2, activationRatio: 0.25, pplRatio: 1.01, pplDense: 10, pplSparse: 10.1, provider: 'cpu', dtype: 'float32', appVersion: null, ortVersion: null, error: null, notes: '', createdAt: '2026-12-04T06:00:00Z', updatedAt: '', deleted: false, ...over } as SessionRun;
  return { session: '/a/lab.sparsitylab', sessionName: 'lab', sessionOpen: true, run: r, label: 'x', tokens: 4096, seqLen: 256, batch: 16, phases: 'cpu/float32', checkpointHash: 'aaaa', datasetHash: 'bbbb', contentHash: 'cccc', thresholds: { layers: 2, min: 0.1, mean: 0.15, max: 0.2 }, perLayerActivation: [0.2, 0.3], perLayerThresholds: [0.1, 0.2], targetNotMet: null, ...extra };
}

test('rows that differ are flagged, equal ones not; values as shown', () => {
  const rows = compareRows([run({ id: 'a' }), run({ id: 'b', p: 5, activationRatio: 0.2500000001, createdAt: '2026-12-05T06:00:00Z' }, { session: '/b/other.sparsitylab', sessionName: 'other', sessionOpen: false, checkpointHash: 'dddd' })]);
  const by = new Map(rows.map((r) => [r.key, r]));
  expect(by.get('p')).toMatchObject({ values: ['1%', '5%'], differs: true });
  expect(by.get('session')).toMatchObject({ values: ['lab', 'other'], differs: true });
  expect(by.get('checkpointHash')!.differs).toBe(true);
  // the same when shown: 25.00% both
  expect(by.get('activationRatio')).toMatchObject({ values: ['25.00%', '25.00%'], differs: false });
  expect(by.get('tokens')).toMatchObject({ values: ['4,096', '4,096'], differs: false });
  // token budgets are shown exactly, so 4,096 and 4,100 differ (both read '4.10K' and were not flagged)
  const budgets = new Map(compareRows([run({ id: 'a' }), run({ id: 'b' }, { tokens: 4100 })]).map((r) => [r.key, r]));
  expect(budgets.get('tokens')).toMatchObject({ values: ['4,096', '4,100'], differs: true });
  expect(by.get('provider')!.differs).toBe(false);
  expect(by.get('thresholds')!.values[0]).toBe('2 layers: 0.100–0.200, mean 0.150');
  // ids and dates always differ: never flagged
  expect(by.get('id')!.differs).toBe(false);
  expect(by.get('created')!.differs).toBe(false);
  // one run: nothing differs
  expect(compareRows([run({})]).some((r) => r.differs)).toBe(false);
});

test('a hash shown short but different in full is a difference', () => {
  const rows = compareRows([run({}, { contentHash: 'x'.repeat(12) + '1' }), run({}, { contentHash: 'x'.repeat(12) + '2' })]);
  expect(rows.find((r) => r.key === 'contentHash')).toMatchObject({ values: ['xxxxxxxxxxxx', 'xxxxxxxxxxxx'], differs: true });
});

test('a pick round-trips through the URL form, paths with | included', () => {
  const p = { id: 'measure-2026-11-28T17-23-58-300Z-d2a703fa', session: '/home/me/a|b.sparsitylab' };
  expect(decodePick(encodePick(p))).toEqual(p);
  expect(decodePick('no-separator')).toBeNull();
  expect(decodePick('|/x')).toBeNull();
});
