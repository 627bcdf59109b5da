import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scanSeries } from './series';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-series-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('series folder names', () => {
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
    // trainer_state.json beside a checkpoint, or a tokens-per-step, give tokens the names do not
    fs.writeFileSync(path.join(tmp, 'step-2000', 'trainer_state.json'), JSON.stringify({ global_step: 2000, num_input_tokens_seen: 8e6 }));
    fs.writeFileSync(path.join(tmp, 'step-500', 'trainer_state.json'), '{ not json');
    const t = scanSeries(tmp, 1000);
    expect(t.entries.map((e) => [e.name, e.tokensTrained, e.tokensFrom])).toEqual([
      ['step-500', 5e5, 'step × tokens per step'],
      ['step-2000', 8e6, 'trainer_state.json'],
      ['step-12000', 1.2e7, 'step × tokens per step'],
    ]);
    expect(() => scanSeries(path.join(tmp, 'notes'))).toThrow(/no checkpoint folders/);
    expect(() => scanSeries(path.join(tmp, 'nope'))).toThrow(/not a folder/);
  });
});
