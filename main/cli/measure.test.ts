import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveSeries, tokensFromName } from './measure';

describe('measure-series inputs', () => {
  it('reads a folder of checkpoints in natural order, and list files with tokens seen', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'series-'));
    for (const n of ['ck-10B', 'ck-2B', 'ck-1.5B', 'notes']) {
      fs.mkdirSync(path.join(dir, n));
      if (n !== 'notes') fs.writeFileSync(path.join(dir, n, 'config.json'), '{}');
    }
    expect(resolveSeries([dir]).map((s) => [path.basename(s.path), s.tokensSeen])).toEqual([
      ['ck-1.5B', 1.5e9],
      ['ck-2B', 2e9],
      ['ck-10B', 10e9],
    ]);
    const list = path.join(dir, 'list.txt');
    fs.writeFileSync(list, '# run A\nck-2B, 2000\nck-10B\n');
    expect(resolveSeries([list])).toEqual([
      { path: path.join(dir, 'ck-2B'), tokensSeen: 2000 },
      { path: path.join(dir, 'ck-10B'), tokensSeen: 10e9 },
    ]);
    fs.writeFileSync(list, 'ck-2B, lots\n');
    expect(() => resolveSeries([list])).toThrow(/list\.txt:1: tokens seen "lots"/);
    expect(() => resolveSeries([path.join(dir, 'nope')])).toThrow(/does not exist/);
    expect(tokensFromName('step-300')).toBeUndefined();
  });
});
