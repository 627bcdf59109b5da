// Counts in the window are said with their noun in the right number ('1 run', '3 runs'); 'run(s)', 'task(s)' and
// 'row(s) differ' read as unfinished (renderer/src/format.ts plural).
import { expect, test } from 'vitest';
import { plural } from '../../renderer/src/format';

test('one, many, none; an irregular plural; thousands grouped', () => {
  expect(plural(1, 'run')).toBe('1 run');
  expect(plural(3, 'run')).toBe('3 runs');
  expect(plural(0, 'checkpoint')).toBe('0 checkpoints');
  expect(plural(1, 'row differs', 'rows differ')).toBe('1 row differs');
  expect(plural(12, 'row differs', 'rows differ')).toBe('12 rows differ');
  expect(plural(1000, 'task')).toBe('1,000 tasks');
});
