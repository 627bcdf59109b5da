import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCheckpointName, scanSeries } from './series';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-series-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('series folder names', () => {
  it.each([
    ['step-12000', { step: 12000 }],
    ['global_step12000', { step: 12000 }],
    ['checkpoint-500', { step: 500 }],
    ['tokens-20B', { tokensTrained: 20e9 }],
    ['20B', { tokensTrained: 20e9 }],
    ['1.5T', { tokensTrained: 1.5e12 }],
    ['iter_0001000', { step: 1000 }],
    ['final', {}],
  ])('%s', (name, want) => expect(parseCheckpointName(name)).toEqual(want));

  it('scanSeries lists checkpoint folders in training order with what the names tell', () => {
    for (const n of ['step-2000', 'step-500', 'step-12000', 'notes']) {
      fs.mkdirSync(path.join(tmp, n), { recursive: true });
      if (n !== 'notes') fs.writeFileSync(path.join(tmp, n, 'config.json'), '{}');
    }
    const r = scanSeries(tmp);
    expect(r.entries.map((e) => [e.name, e.step, e.tokensTrained])).toEqual([
      ['step-500', 500, undefined],
      ['step-2000', 2000, undefined],
      ['step-12000', 12000, undefined],
    ]);
    expect(r.series).toBe(path.basename(tmp));
    expect(r.checkpoints.every((c) => c.tokensText === '')).toBe(true);
    expect(() => scanSeries(path.join(tmp, 'notes'))).toThrow(/no checkpoint folders/);
    expect(() => scanSeries(path.join(tmp, 'nope'))).toThrow(/not a folder/);
  });
});
