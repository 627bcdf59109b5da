// One progress figure per run (issue 18): across dense, search and final (and each p of a p% sweep) the overall
// fraction never goes back, ends at 1, and each event says which of the run's phases it is in.
import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeTinyCheckpoint } from '../checkpoint/testing/tiny';
import { measureConfigSchema } from '../api/domains/runs';
import type { Progress } from '../metrics/control';
import { runMeasure } from './measure-job';
import { planPhases, outerSteps, withOverall } from './progress';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-progress-'));
const ck = writeTinyCheckpoint(path.join(dir, 'ck'), 'llama', { activation: 'relu', hidden: 32, layers: 2, seed: 3 });
fs.writeFileSync(path.join(dir, 'e.txt'), Array.from({ length: 120 }, (_, i) => `Line ${i}: a short sentence ${(i * 7) % 31}.\n`).join(''));
const base = { kind: 'measure', checkpoint: ck, data: path.join(dir, 'e.txt'), tokens: 256, seqLen: 32, batch: 4, tol: 1e-2, provider: 'cpu' };

async function events(cfg: object): Promise<Progress[]> {
  const seen: Progress[] = [];
  await runMeasure(measureConfigSchema.parse(cfg), { progress: (p) => seen.push(p) }, { onStep: async () => {} });
  return seen;
}

function checkMonotone(seen: Progress[]): void {
  const o = seen.map((p) => p.overall!);
  expect(o.every((x) => typeof x === 'number' && x >= 0 && x <= 1)).toBe(true);
  for (let i = 1; i < o.length; i++) expect(o[i]).toBeGreaterThanOrEqual(o[i - 1]);
  expect(o[o.length - 1]).toBe(1);
}

describe('overall progress', () => {
  test('CETT-PPL-p%: dense, search, final in one figure; a new phase never starts the figure again at 0', async () => {
    const seen = await events({ ...base, method: 'cett-ppl', p: 5 });
    checkMonotone(seen);
    expect(seen[seen.length - 1].phases).toEqual(['dense', 'search', 'final']);
    // the first search event comes after the whole dense phase: its figure is the dense share (2 batches of 2 + 7·2 + 2)
    const firstSearch = seen.find((p) => p.phase === 'search')!;
    expect(firstSearch.step).toBe(0);
    expect(firstSearch.phaseIndex).toBe(1);
    const nb = 2;
    expect(firstSearch.overall).toBeCloseTo(nb / (nb + outerSteps(1e-2) * nb + nb), 12);
  });

  test('p% sweep: one bar over the dense pass and every p; phases name the p', async () => {
    const seen = await events({ ...base, sweepP: [1, 10] });
    checkMonotone(seen);
    expect(seen[seen.length - 1].phases).toEqual(['dense', 'search p=1%', 'final p=1%', 'search p=10%', 'final p=10%']);
    expect([...new Set(seen.filter((p) => p.phase !== 'plan').map((p) => p.phaseIndex))]).toEqual([0, 1, 2, 3, 4]);
  });

  test('an event of a phase not in the plan keeps the figure; without a progress listener nothing is wrapped', () => {
    const got: Progress[] = [];
    const ctl = withOverall({ progress: (p) => got.push(p) }, planPhases(measureConfigSchema.parse({ ...base, method: 'fat', param: 0.1 }), 4));
    const ev = (phase: string, step: number, of: number) => ctl.progress!({ phase, step, of, tokensPerSec: 0, etaSec: null });
    ev('plan', 0, 1);
    ev('dense', 2, 4);
    ev('plan', 0, 1);
    ev('sparse', 1, 1);
    expect(got.map((p) => p.overall)).toEqual([0, 0.25, 0.25, 1]);
    const bare = {};
    expect(withOverall(bare, [])).toBe(bare);
  });
});
