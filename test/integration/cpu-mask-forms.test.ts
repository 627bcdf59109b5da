/**
 * Issue 16 on the CPU: the CPU runner's CETT mask by Mul (GraphOptions.maskMul, the default since 2026-12-05) gives
 * CETT-PPL-1% exactly as the plain authors' algorithm run on the Where form (the form before): the same CETT and
 * per-batch thresholds, and against the Where form's own measurement the same PPL ratio, activation ratio and search
 * path, bit for bit (ReLU and SiLU tiny models, the CPU's curve engine). The run monitor's line for each outer step says
 * the step, the CETT, its PPL ratio against 1 + p% and which way the bisection went, as the search history records it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../main/checkpoint/index';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';
import { createRunner } from '../../main/inference/index';
import { batchStream } from '../../main/metrics/data';
import { measureCettPpl, outerStepLine } from '../../main/metrics/cett-ppl';
import { readDownWeights } from '../../main/metrics/target';
import { plainCettPpl } from './metrics-plain';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-cpu-mask-forms-'));

describe('CETT-PPL-1% with the CPU mask by Mul = the plain authors algorithm on the Where form', () => {
  it.each([
    ['relu', 11],
    ['silu', 32],
  ] as const)('%s, seed %i: the same CETT, thresholds, PPL ratio, activation ratio and path; the monitor lines follow the path', async (activation, seed) => {
    const dir = path.join(tmp, `${activation}-${seed}`);
    writeTinyCheckpoint(dir, 'llama', { activation, hidden: 32, layers: 3, heads: 4, intermediate: 48, vocab: 300, seed, std: 0.2, maxPositions: 64 });
    const ckpt = await loadCheckpoint(dir);
    let s = seed * 7919 + 1;
    const ids = Int32Array.from({ length: 5 * 20 }, () => (s = (s * 1103515245 + 12345) >>> 0) % 300);
    const data = batchStream(ids, { seqLen: 20, batch: 2 }, 'test');
    const mul = await createRunner(ckpt, { provider: 'cpu', maxSeq: 32 });
    const where = await createRunner(ckpt, { provider: 'cpu', maxSeq: 32, maskMul: false });
    try {
      const down = await readDownWeights(ckpt);
      const plain = await plainCettPpl({ runner: where, down }, data, 1, 1e-3);
      const messages: string[] = [];
      const o = { p: 1, tol: 1e-3, thresholdMode: 'authors' as const, curveEngine: 'js' as const };
      const r = await measureCettPpl({ id: dir, runner: mul, downWeights: down }, data, o, {
        progress: (e) => {
          if (e.phase === 'search' && e.message) messages.push(e.message);
        },
      });
      const w = await measureCettPpl({ id: dir, runner: where, downWeights: down }, data, o);
      expect(r.cett).toBe(plain.c);
      expect(r.thresholdsPerBatch).toEqual(plain.epsPerBatch);
      expect(r.pplRatio).toBe(w.pplRatio);
      expect(r.activationRatio).toBe(w.activationRatio);
      expect(r.searchHistory).toEqual(w.searchHistory);
      expect(r.activationRatio).toBeCloseTo(plain.act, 12);
      const history = r.searchHistory ?? [];
      expect(history.length).toBeGreaterThan(5);
      // the search went both ways (the lines below say both things)
      const below = history.map((h) => h.pplRatio < 1.01);
      expect(below).toContain(true);
      expect(below).toContain(false);
      // one line per outer step: its number, its CETT and ratio as recorded, and what the next step did with them
      expect(messages).toEqual(history.map((h, i) => outerStepLine(i + 1, h.c, h.pplRatio, 1)));
      history.forEach((h, i) => {
        expect(messages[i]).toContain(`step ${i + 1}: CETT ${h.c.toFixed(6)} → PPL ratio ${h.pplRatio.toFixed(6)}`);
        const next = history[i + 1];
        if (next) expect(messages[i].endsWith(next.c > h.c ? 'kept, CETT raised' : 'over, CETT lowered'), messages[i]).toBe(true);
      });
    } finally {
      await mul.dispose();
      await where.dispose();
    }
  }, 120_000);
});

describe('the run monitor line of an outer step', () => {
  it('names the bound 1 + p% and the direction; at the bound and for NaN it is over (the bisection moves r)', () => {
    expect(outerStepLine(3, 0.25, 1.182203, 1)).toBe('step 3: CETT 0.250000 → PPL ratio 1.182203 ≥ 1.01 (1 + 1%): over, CETT lowered');
    expect(outerStepLine(4, 0.125, 1.004, 1)).toBe('step 4: CETT 0.125000 → PPL ratio 1.004000 < 1.01 (1 + 1%): kept, CETT raised');
    expect(outerStepLine(1, 0.5, 1.005, 0.5)).toBe('step 1: CETT 0.500000 → PPL ratio 1.005000 ≥ 1.005 (1 + 0.5%): over, CETT lowered');
    expect(outerStepLine(2, 0.75, NaN, 5)).toMatch(/PPL ratio NaN ≥ 1\.05 \(1 \+ 5%\): over, CETT lowered$/);
  });
});
