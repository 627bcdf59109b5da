// Issue 19, bounded work: with a token budget only a prefix of the evaluation text is read and tokenized, and the
// batches are exactly those of the whole file's tokenization (checked against encode() of the whole text, with the
// demo lab's BPE tokenizer.json and a SentencePiece tokenizer.model); the async loader yields and cancels.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '../checkpoint/tokenizer';
import type { TextTokenizer } from '../checkpoint/types';
import { batchStream, loadEvalData, loadEvalDataAsync } from './data';

const ROOT = path.resolve(__dirname, '../..');
const EVAL = path.join(ROOT, 'resources/demo-lab/eval.txt');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'data-bounded-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** counts the characters handed to encode() */
function counting(tok: TextTokenizer): TextTokenizer & { chars: number; calls: number } {
  const c = { ...tok, chars: 0, calls: 0 };
  c.encode = (t: string) => {
    c.chars += t.length;
    c.calls++;
    return tok.encode(t);
  };
  return c;
}
const ids = (d: { batches: { ids: Int32Array }[] }) => d.batches.map((b) => Array.from(b.ids));

describe('bounded evaluation data', () => {
  const text = fs.readFileSync(EVAL, 'utf8').slice(0, 640_000);
  // 640 kB of the demo text: the budgeted loads must read a part of it proportional to the budget
  const big = path.join(tmp, 'big.txt');
  fs.writeFileSync(big, text);

  for (const [name, dir] of [['BPE tokenizer.json', 'resources/demo-lab/models/relu'], ['SentencePiece tokenizer.model', 'test/fixtures/checkpoints/torch-minicpm-st']] as const)
    it(`${name}: budgeted batches equal the whole file's, reading a fraction of it`, async () => {
      const tok = (await loadTokenizer(path.join(ROOT, dir)))!;
      const whole = tok.encode(text);
      for (const o of [{ tokens: 1024, seqLen: 64, batch: 4 }, { tokens: 8192, seqLen: 256, batch: 8, bosPerSequence: tok.bosTokenId !== undefined }]) {
        const ct = counting(tok);
        const d = loadEvalData(big, ct, o);
        expect(ids(d)).toEqual(ids(batchStream(whole, o, big, tok.bosTokenId)));
        expect(ct.chars).toBeLessThan(48 * o.tokens + 200 * 1024); // all calls included: proportional to the budget, not the file
        expect(ct.chars).toBeLessThan((2 / 3) * text.length);
      }
      // a file that fits in the first prefix is tokenized whole: identical to before, streamTokens included
      const small = path.join(tmp, 'small.txt');
      fs.writeFileSync(small, text.slice(0, 20_000));
      const o = { tokens: 1024, seqLen: 64, batch: 4 };
      const d = loadEvalData(small, tok, o);
      expect(d).toEqual(batchStream(tok.encode(text.slice(0, 20_000)), o, small, tok.bosTokenId));
    }, 120_000);

  it('a budget the file cannot meet still reads it all and says how many tokens it gives', async () => {
    const tok = (await loadTokenizer(path.join(ROOT, 'resources/demo-lab/models/relu')))!;
    const f = path.join(tmp, 'short.txt');
    fs.writeFileSync(f, text.slice(0, 100_000));
    const n = tok.encode(text.slice(0, 100_000)).length;
    expect(() => loadEvalData(f, tok, { tokens: 10 * n, seqLen: 64, batch: 1 })).toThrow(`evaluation data ${f} is too short: it gives ${n} tokens, the budget needs ${Math.floor((10 * n) / 64)} sequences of 64`);
  });

  it('the async loader lets the event loop run between tokenizer calls and stops on cancel', async () => {
    const tok = (await loadTokenizer(path.join(ROOT, 'resources/demo-lab/models/relu')))!;
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const seen: number[] = [];
    const ct = counting(tok);
    const enc = ct.encode;
    ct.encode = (t: string) => {
      seen.push(ticks);
      return enc(t);
    };
    const d = await loadEvalDataAsync(big, ct, { tokens: 8192, seqLen: 256, batch: 8 });
    clearInterval(timer);
    expect(d.tokens).toBe(8192);
    expect(ct.calls).toBeGreaterThan(1);
    expect(seen[seen.length - 1]).toBeGreaterThan(seen[0]); // timers ran between the calls
    const abort = new AbortController();
    const ca = counting(tok);
    const enc2 = ca.encode;
    ca.encode = (t: string) => {
      abort.abort(); // cancel arrives while the first prefix is tokenized
      return enc2(t);
    };
    await expect(loadEvalDataAsync(big, ca, { tokens: 8192, seqLen: 256, batch: 8 }, abort.signal)).rejects.toThrow('the measurement was cancelled');
    expect(ca.calls).toBe(1);
  }, 60_000);
});
