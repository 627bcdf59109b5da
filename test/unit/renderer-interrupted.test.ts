// The run monitor's "interrupted" (renderer/src/interrupted.ts): a job the window shows as running that the engine no
// longer lists (its process ended) — and only such a job.
import { expect, test } from 'vitest';
import { interruptedJobs } from '../../renderer/src/interrupted';

const t0 = Date.parse('2026-12-04T12:00:00Z');
const at = (s: number) => new Date(t0 + s * 1000).toISOString();

test('running in the window, absent from the engine\'s list: interrupted', () => {
  const jobs = [
    { id: 'a', status: 'running', startedAt: at(0) },
    { id: 'b', status: 'running', startedAt: at(5) },
  ];
  expect(interruptedJobs(jobs, ['b'], t0 + 10_000)).toEqual(['a']);
  expect(interruptedJobs(jobs, [], t0 + 10_000)).toEqual(['a', 'b']);
  expect(interruptedJobs(jobs, ['a', 'b'], t0 + 10_000)).toEqual([]);
});

test('finished jobs are not judged, whatever the list says', () => {
  const jobs = ['completed', 'failed', 'cancelled', 'interrupted'].map((status, i) => ({ id: String(i), status, startedAt: at(0) }));
  expect(interruptedJobs(jobs, [], t0 + 10_000)).toEqual([]);
});

test('a job the window learned of after the question was sent is not judged by its answer', () => {
  const jobs = [{ id: 'new', status: 'running', startedAt: at(11) }];
  expect(interruptedJobs(jobs, [], t0 + 10_000)).toEqual([]);
  expect(interruptedJobs(jobs, [], t0 + 11_000)).toEqual(['new']);
  // a run resumed after the question: its first start is long before, its resume is what counts
  const resumed = [{ id: 'old', status: 'running', startedAt: at(-3600), resumedAt: at(11) }];
  expect(interruptedJobs(resumed, [], t0 + 10_000)).toEqual([]);
  expect(interruptedJobs(resumed, [], t0 + 11_000)).toEqual(['old']);
});
