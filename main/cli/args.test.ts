import { describe, expect, it } from 'vitest';
import { parseNumberArg, parseNumberList, parseWholeArg } from './args';
import { resolveSeries } from './measure';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

describe('CLI number arguments (issue 19: an empty item was measured as 0)', () => {
  it('refuses an empty sweep item, naming the flag, the item and the value', () => {
    expect(() => parseNumberList('0.1,,0.3', 'sweep')).toThrow('--sweep item 2 of 3 is empty (got "0.1,,0.3"): give numbers separated by single commas');
    expect(() => parseNumberList('0.1,0.3,', 'sweep')).toThrow('--sweep item 3 of 3 is empty');
    expect(() => parseNumberList('', 'sweep')).toThrow('--sweep is empty: give numbers separated by commas');
    expect(() => parseNumberList('0.1,abc', 'sweep')).toThrow('--sweep item 2 of 2 must be a number (got "abc")');
    expect(() => parseNumberList('0.1,Infinity', 'sweep')).toThrow('--sweep item 2 of 2 must be a number (got "Infinity")');
    expect(parseNumberList(' 0.1, 0.2 ,0.3', 'sweep')).toEqual([0.1, 0.2, 0.3]);
  });
  it('refuses an empty or blank single number instead of reading it as 0', () => {
    expect(() => parseNumberArg('', 'p')).toThrow('--p is empty: give a number');
    expect(() => parseNumberArg('  ', 'tokens')).toThrow('--tokens is empty: give a number');
    expect(() => parseNumberArg('NaN', 'p')).toThrow('--p must be a number (got "NaN")');
    expect(parseNumberArg(undefined, 'p')).toBeUndefined();
    expect(parseNumberArg('0', 'p')).toBe(0);
    expect(parseNumberArg('1e3', 'tokens')).toBe(1000);
  });
  it('whole-number flags (counts, seeds, task indices): digits only, at least the minimum', () => {
    expect(parseWholeArg(undefined, 'seed')).toBeUndefined();
    expect(parseWholeArg('0', 'seed')).toBe(0);
    expect(parseWholeArg(' 12 ', 'max-parallel', 1)).toBe(12);
    for (const bad of ['', ' ', '-1', '1.5', '1e3', '0x10', 'x', '99999999999999999999'])
      expect(() => parseWholeArg(bad, 'seed'), bad).toThrow(`--seed must be a whole number ≥ 0 (got "${bad}")`);
    expect(() => parseWholeArg('0', 'max-parallel', 1)).toThrow('--max-parallel must be a whole number ≥ 1 (got "0")');
  });
  it('a series list line with an empty tokens field is refused, not read as 0 tokens', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'args-'));
    fs.mkdirSync(path.join(dir, 'ck'));
    fs.writeFileSync(path.join(dir, 'ck', 'config.json'), '{}');
    const list = path.join(dir, 'list.txt');
    fs.writeFileSync(list, 'ck,\n');
    expect(() => resolveSeries([list])).toThrow(`${list}:1: tokens seen is empty after the comma`);
    fs.rmSync(dir, { recursive: true });
  });
});
