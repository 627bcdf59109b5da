// One run's method in words, the one function the runs table, the run page, the result card, Compare, imports and the
// charts' titles and legends use (charts had its own: 'Top-k (per token)', 'Top-k CETT=0.05'; the result card said
// 'topk-token' and 'CETT-PPL-?%').
import { expect, test } from 'vitest';
import { methodFamily, runMethodText } from './run-label';

test('a CETT-PPL-p% run by its p; a fixed CETT by its value to 4 digits; a baseline by its parameter', () => {
  expect(runMethodText({ method: 'cett-ppl', p: 1 })).toBe('CETT-PPL-1%');
  expect(runMethodText({ method: 'cett-ppl', p: 0.5, cett: 0.0737312 })).toBe('CETT-PPL-0.5%'); // the p names it, not the CETT found
  expect(runMethodText({ method: 'cett', cett: 0.07373119 })).toBe('CETT 0.07373'); // a series checkpoint
  expect(runMethodText({ method: 'cett', param: 0.2, cett: 0.2 })).toBe('CETT 0.2'); // a CETT sweep point
  expect(runMethodText({ method: 'fat', param: 0.01 })).toBe('FAT-ε 0.01');
  expect(runMethodText({ method: 'topk-token', param: 0.1, cett: 0.05 })).toBe('Top-k (token) 0.1'); // its k, not its CETT
  expect(runMethodText({ method: 'topk-batch', param: 0.3 })).toBe('Top-k (batch) 0.3');
  expect(runMethodText({ method: 'relu' })).toBe('ReLU');
});

test('session rows (null for not recorded) and chart runs (undefined) read alike; unknown methods as recorded', () => {
  expect(runMethodText({ method: 'cett-ppl', p: null, param: null, cett: null })).toBe('CETT');
  expect(runMethodText({ method: 'cett-ppl', p: null, cett: 0.1 })).toBe('CETT 0.1');
  expect(runMethodText({ method: 'fat', p: null, param: null })).toBe('FAT-ε');
  expect(runMethodText({ method: 'my-method', param: 2 })).toBe('my-method 2');
  expect(methodFamily('cett-ppl')).toBe('CETT');
  expect(methodFamily('topk-token')).toBe('Top-k (token)');
});
