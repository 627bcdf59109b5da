/**
 * Fig. 2 (PPL vs activation ratio) draws one line per checkpoint, method and token budget: a p% sweep on 32K tokens
 * and a single CETT-PPL-1% run on 16K tokens of the same checkpoint measure their perplexities on different evaluation
 * tokens (different dense PPL), so they are not points of one curve. A QA pass found them joined into one line.
 */
import { expect, test } from 'vitest';
import { fromSnapshot, type SourceRun } from '../../main/charts/source';
import { plotData } from '../../main/charts/data';

const run = (id: string, p: number, tokens: number, activationRatio: number, ppl: number): SourceRun => ({ id, checkpointId: 'ck', method: 'cett-ppl', status: 'completed', p, tokens, activationRatio, ppl, pplRatio: ppl / 3000 });
const sweep32 = [run('sw#0', 1, 32768, 0.3023, 3101.2), run('sw#1', 5, 32768, 0.1419, 3217.2), run('sw#2', 10, 32768, 0.1174, 3366.6)];
const single16 = run('single', 1, 16384, 0.3035, 3106.0);

test('a single run on another token budget is not joined to a sweep', () => {
  const src = fromSnapshot({ name: 's', checkpoints: [{ id: 'ck', name: 'tiny-relu' }], runs: [...sweep32, single16], fits: [] });
  const d = plotData('pareto', src);
  expect(d.series).toHaveLength(1);
  expect(d.series[0].points.map((q) => q.y)).toEqual([3366.6, 3217.2, 3101.2]);
  expect(d.series[0].label).toBe('CETT');
});

test('two sweeps on different budgets: two lines, each named with its tokens', () => {
  const sweep16 = [single16, run('s16#1', 5, 16384, 0.15, 3220), run('s16#2', 10, 16384, 0.12, 3370)];
  const src = fromSnapshot({ name: 's', checkpoints: [{ id: 'ck', name: 'tiny-relu' }], runs: [...sweep32, ...sweep16], fits: [] });
  const d = plotData('pareto', src);
  expect(d.series.map((s) => [s.label, s.points.length])).toEqual([
    ['CETT · 32768 tokens', 3],
    ['CETT · 16384 tokens', 3],
  ]);
  expect(d.series[1].points.map((q) => q.y)).toEqual([3370, 3220, 3106.0]);
});
