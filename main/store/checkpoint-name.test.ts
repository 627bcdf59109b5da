// A session names a checkpoint row by the one folder-name reader (common/naming.ts): a folder that is only a step or
// a token count keeps its run's folder in front, as the run labels and the runs table name it.
import { expect, test } from 'vitest';
import path from 'node:path';
import { checkpointName } from './session';
import { describeConfig } from '../../common/run-label';

test('step folders keep their parent, named folders stand alone, as the run label says', () => {
  const cases: [string, string][] = [
    ['/m/model-A/003000', 'model-A/003000'],
    ['/m/model-A/step-1200', 'model-A/step-1200'],
    ['/m/model-A/global_step12000', 'model-A/global_step12000'],
    ['/m/model-A/checkpoint-500', 'model-A/checkpoint-500'],
    ['/m/model-A/iter_0001000', 'model-A/iter_0001000'],
    ['/m/series/20B', 'series/20B'],
    ['/m/relu-0.1b', 'relu-0.1b'],
    ['/m/minicpm-2.4B-tokens-20B', 'minicpm-2.4B-tokens-20B'],
  ];
  for (const [p, want] of cases) {
    expect(checkpointName(p), p).toBe(want);
    expect(describeConfig({ kind: 'measure', method: 'cett-ppl', p: 1, checkpoint: p }), p).toBe(`CETT-PPL-1% · ${want}`);
  }
  // a relative path is named by where it resolves
  expect(checkpointName('003000')).toBe(`${path.basename(process.cwd())}/003000`);
});
