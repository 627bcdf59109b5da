import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveSeries } from './measure';

describe('measure-series inputs', () => {
  it('reads a folder of checkpoints in natural order, and list files with tokens seen', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'series-'));
    for (const n of ['ck-tokens-10B', 'ck-tokens-2B', 'ck-tokens-1.5B', 'notes']) {
      fs.mkdirSync(path.join(dir, n));
      if (n !== 'notes') fs.writeFileSync(path.join(dir, n, 'config.json'), '{}');
    }
    expect(resolveSeries([dir]).map((s) => [path.basename(s.path), s.tokensSeen])).toEqual([
      ['ck-tokens-1.5B', 1.5e9],
      ['ck-tokens-2B', 2e9],
      ['ck-tokens-10B', 10e9],
    ]);
    const list = path.join(dir, 'list.txt');
    fs.writeFileSync(list, '# run A\nck-tokens-2B, 2000\nck-tokens-10B\n');
    expect(resolveSeries([list])).toEqual([
      { path: path.join(dir, 'ck-tokens-2B'), tokensSeen: 2000 },
      { path: path.join(dir, 'ck-tokens-10B'), tokensSeen: 10e9 },
    ]);
    fs.writeFileSync(list, 'ck-tokens-2B, lots\n');
    expect(() => resolveSeries([list])).toThrow(/list\.txt:1: tokens seen "lots"/);
    expect(() => resolveSeries([path.join(dir, 'nope')])).toThrow(/does not exist/);
    // a named pipe as the list blocked the read for ever
    const fifo = path.join(dir, 'list.fifo');
    execFileSync('mkfifo', [fifo]);
    expect(() => resolveSeries([fifo])).toThrow(`${fifo}: is a named pipe (FIFO), not a folder of checkpoints or a list file`);
    // the one parser (common/naming.ts): a step alone gives no tokens, unless trainer_state.json or --tokens-per-step says
    const run = fs.mkdtempSync(path.join(os.tmpdir(), 'series-steps-'));
    for (const n of ['relu-7b-step-300', 'relu-7b-step-600']) {
      fs.mkdirSync(path.join(run, n));
      fs.writeFileSync(path.join(run, n, 'config.json'), '{}');
    }
    expect(resolveSeries([run]).map((s) => s.tokensSeen)).toEqual([undefined, undefined]);
    expect(resolveSeries([run], 4096).map((s) => s.tokensSeen)).toEqual([300 * 4096, 600 * 4096]);
    fs.writeFileSync(path.join(run, 'relu-7b-step-600', 'trainer_state.json'), JSON.stringify({ global_step: 600, num_input_tokens_seen: 1234567 }));
    expect(resolveSeries([run], 4096).map((s) => s.tokensSeen)).toEqual([300 * 4096, 1234567]);
  });
});

describe('--seq-len default (issue 18: README examples on the 256-position demo models)', () => {
  it("is the model's context, capped at 1024, and says so; a given --seq-len is kept", async () => {
    const { writeTinyCheckpoint } = await import('../checkpoint/testing/tiny');
    const { defaultSeqLen, SEQ_LEN_CAP } = await import('./measure');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'seqlen-'));
    const short = writeTinyCheckpoint(path.join(dir, 'short'), 'llama', { maxPositions: 256, layers: 1 });
    const long = writeTinyCheckpoint(path.join(dir, 'long'), 'llama', { maxPositions: 4096, layers: 1 });
    const said: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((m: string) => (said.push(m), true)) as typeof process.stderr.write;
    try {
      const a: Record<string, unknown> = {};
      await defaultSeqLen(a, short, false);
      const b: Record<string, unknown> = {};
      await defaultSeqLen(b, long, false);
      const c: Record<string, unknown> = { seqLen: 64 };
      await defaultSeqLen(c, short, false);
      const d: Record<string, unknown> = {};
      const cfg = path.join(dir, 'nocontext', 'config.json');
      const nocontext = writeTinyCheckpoint(path.join(dir, 'nocontext'), 'llama', { layers: 1 });
      const { max_position_embeddings: _, ...rest } = JSON.parse(fs.readFileSync(cfg, 'utf8')) as Record<string, unknown>;
      fs.writeFileSync(cfg, JSON.stringify(rest));
      await defaultSeqLen(d, nocontext, true);
      expect([a.seqLen, b.seqLen, c.seqLen, d.seqLen]).toEqual([256, SEQ_LEN_CAP, 64, SEQ_LEN_CAP]);
      // a checkpoint that cannot be read is refused with its reader's error (no job is started for it)
      fs.writeFileSync(cfg, JSON.stringify({ ...rest, num_hidden_layers: -1 }));
      const e: Record<string, unknown> = {};
      await expect(defaultSeqLen(e, nocontext, false)).rejects.toMatchObject({ code: 'BAD_CHECKPOINT', message: `${cfg}: field 'num_hidden_layers' is -1, outside the plausible range [1, 1000]` });
      await expect(defaultSeqLen(e, path.join(dir, 'missing'), false)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      // also when --seq-len is given (it was not read then: a job was recorded, then failed on the same file)
      await expect(defaultSeqLen({ seqLen: 64 }, nocontext, false)).rejects.toMatchObject({ code: 'BAD_CHECKPOINT', message: `${cfg}: field 'num_hidden_layers' is -1, outside the plausible range [1, 1000]` });
    } finally {
      process.stderr.write = write;
    }
    expect(said).toEqual([
      "--seq-len 256: the model's context (256 positions); give --seq-len to change it\n",
      "--seq-len 1024: the model's context (4096 positions), capped at 1024; give --seq-len to change it\n",
    ]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
