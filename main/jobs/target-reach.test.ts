// Issue 19: a p% target no CETT meets is flagged with the reason, never reported as a plain CETT-PPL-p%.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeTinyCheckpoint } from '../checkpoint/testing/tiny';
import { measureConfigSchema } from '../api/domains/runs';
import { runMeasure } from './measure-job';
import { flagUnreachedTarget, unreachableTarget } from './target-reach';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-reach-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('unreachable p% targets', () => {
  it('a bracketed search passes; one that only ever went down or up is named with the nearest step', () => {
    expect(unreachableTarget([{ c: 0.5, pplRatio: 1.2 }, { c: 0.25, pplRatio: 1.001 }, { c: 0.375, pplRatio: 1.02 }], 1)).toBeUndefined();
    expect(unreachableTarget([{ c: 0.5, pplRatio: 1.2 }, { c: 0.25, pplRatio: 1.05 }, { c: 0.125, pplRatio: 1.02 }], 1)).toBe(
      'the p = 1% target cannot be met: even the smallest CETT tried (0.125000) gives a PPL ratio of 1.02000, above the target 1.01000 (choose a larger p, or more evaluation tokens for a less noisy ratio)',
    );
    expect(unreachableTarget([{ c: 0.5, pplRatio: 1.2 }, { c: 0.25, pplRatio: NaN }], 1)).toMatch(/smallest CETT tried \(0\.250000\) gives a PPL ratio of NaN/);
    expect(unreachableTarget([{ c: 0.5, pplRatio: 1.2 }, { c: 0.75, pplRatio: 1.5 }], 100)).toBe(
      'the p = 100% target cannot be met: even the largest CETT tried (0.750000, nearly every activation pruned) gives a PPL ratio of only 1.50000, below the target 2.00000 (choose a smaller p)',
    );
    expect(flagUnreachedTarget({ p: 100, searchHistory: [{ c: 0.5, pplRatio: 1.2 }] }).targetNotMet).toBe(
      'the p = 100% target cannot be met: even the largest CETT tried (0.500000, nearly every activation pruned) gives a PPL ratio of only 1.20000, below the target 2.00000 (choose a smaller p); the numbers are those at the edge of the search, not a CETT-PPL-100%',
    );
    const met = { p: 1, searchHistory: [{ c: 0.5, pplRatio: 1.2 }, { c: 0.25, pplRatio: 1.001 }] };
    expect(flagUnreachedTarget(met)).toBe(met);
    const baseline = { p: undefined, param: 0.1 }; // a baseline: no target
    expect(flagUnreachedTarget(baseline)).toBe(baseline);
  });

  it('a real run whose p% no sparsity reaches is flagged, not reported as met', async () => {
    const ck = writeTinyCheckpoint(path.join(tmp, 'ck'), 'llama', { layers: 1, hidden: 16, intermediate: 32 });
    fs.writeFileSync(path.join(tmp, 'e.txt'), 'the quick brown fox jumps over the lazy dog. '.repeat(60));
    const cfg = measureConfigSchema.parse({ kind: 'measure', checkpoint: ck, data: path.join(tmp, 'e.txt'), seqLen: 32, tokens: 64, batch: 2, p: 100, tol: 0.05, provider: 'cpu' });
    const r = (await runMeasure(cfg, {}, { onStep: async () => {} })) as { targetNotMet?: string };
    expect(r.targetNotMet).toMatch(/^the p = 100% target cannot be met: even the largest CETT tried \(0\.9\d+, nearly every activation pruned\) gives a PPL ratio of only [\d.]+, below the target 2\.00000 \(choose a smaller p\); the numbers are those at the edge of the search, not a CETT-PPL-100%$/);
  }, 60_000);
});
