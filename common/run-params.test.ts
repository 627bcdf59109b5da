// The ranges of p and of a baseline's parameter: the one rule the engine's run config and the Measure wizard both use.
import { expect, test } from 'vitest';
import { P_MAX_PERCENT, paramProblem, pProblem } from './run-params';
import { measureConfigSchema } from '../main/api/domains/runs';

test('p: 0 < p ≤ 100, a finite number; the problem names the value and the range', () => {
  for (const ok of [1, 5, 10, 0.0001, P_MAX_PERCENT]) expect(pProblem(ok)).toBeUndefined();
  for (const bad of [0, -1, 100.5, 150, 1000, NaN, Infinity, '5', undefined]) expect(pProblem(bad), String(bad)).toMatch(/must be > 0 and ≤ 100/);
  expect(pProblem(150)).toMatch(/got 150$/);
  expect(pProblem(NaN)).toMatch(/got NaN$/);
});

test("a baseline's parameter: FAT ε ≥ 0; Top-k's fraction kept in (0, 1]; ReLU and CETT-PPL-p% take none", () => {
  expect(paramProblem('fat', 0)).toBeUndefined();
  expect(paramProblem('fat', -0.1)).toMatch(/ε ≥ 0/);
  expect(paramProblem('fat', undefined)).toMatch(/got none/);
  expect(paramProblem('topk-token', 1)).toBeUndefined();
  expect(paramProblem('topk-batch', 0)).toMatch(/\(0, 1\]/);
  expect(paramProblem('topk-token', 1.5)).toMatch(/got 1.5/);
  expect(paramProblem('relu', undefined)).toBeUndefined();
  expect(paramProblem('cett-ppl', 7)).toBeUndefined();
});

test("the engine's run config refuses exactly what the rule refuses (one implementation)", () => {
  const base = { kind: 'measure', checkpoint: 'c', data: 'd' };
  for (const p of [1, 100, 150, 0, -1]) {
    const r = measureConfigSchema.safeParse({ ...base, p });
    expect(r.success, String(p)).toBe(pProblem(p) === undefined);
    if (!r.success) expect(r.error.issues[0].message).toBe(pProblem(p));
  }
});
