// Issue 19, bounded work: with a token budget only a prefix of the evaluation text is read and tokenized, and the
// batches are exactly those of the whole file's tokenization (checked against encode() of the whole text, with the
// demo lab's BPE tokenizer.json and a SentencePiece tokenizer.model); the async loader yields and cancels.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '../checkpoint/tokenizer';
import type { TextTokenizer } from '../checkpoint/types';
import { batchStream, loadEvalData, loadEvalDataAsync, readEvalText } from './data';
import { stallMeter } from '../../test/helpers/event-loop';

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

  it('a 200 MB text with a 1,024-token budget: a few hundred kB are read, the batches are those of its start', async () => {
    const tok = (await loadTokenizer(path.join(ROOT, 'resources/demo-lab/models/relu')))!;
    const f = path.join(tmp, 'huge.txt');
    fs.writeFileSync(f, text);
    fs.truncateSync(f, 200 * 2 ** 20); // the rest a hole (NUL bytes, no line break): 200 MB that cost the disk nothing
    const rchar = () => Number(/rchar:\s+(\d+)/.exec(fs.readFileSync('/proc/self/io', 'utf8'))![1]);
    const o = { tokens: 1024, seqLen: 64, batch: 4 };
    const r0 = rchar();
    const d = await loadEvalDataAsync(f, tok, o);
    expect(rchar() - r0).toBeLessThan(2 * 2 ** 20);
    expect(ids(d)).toEqual(ids(batchStream(tok.encode(text), o, f, tok.bosTokenId)));
  });

  it('a prefix of a text without line breaks or spaces ends on a whole character; JSON lines wait for their line break', () => {
    const f = path.join(tmp, 'nospace.txt');
    fs.writeFileSync(f, 'é'.repeat(100_000)); // 2 bytes each
    for (const max of [1001, 1002, 4096]) {
      const t = readEvalText(f, max);
      expect(t.length).toBeGreaterThan(max / 2 - 3);
      expect(Buffer.byteLength(t)).toBeLessThanOrEqual(max);
      expect(t).toBe('é'.repeat(t.length)); // no replacement character: never cut inside one
    }
    const j = path.join(tmp, 'long.jsonl');
    fs.writeFileSync(j, JSON.stringify({ text: 'x'.repeat(10_000) }) + '\n' + JSON.stringify({ text: 'y' }) + '\n');
    expect(readEvalText(j, 1000)).toBe(''); // the first line is longer: nothing yet, not the whole file
    expect(readEvalText(j, 10_020)).toBe('x'.repeat(10_000));
  });

  it('a budget the file cannot meet still reads it all and says how many tokens it gives', async () => {
    const tok = (await loadTokenizer(path.join(ROOT, 'resources/demo-lab/models/relu')))!;
    const f = path.join(tmp, 'short.txt');
    fs.writeFileSync(f, text.slice(0, 100_000));
    const n = tok.encode(text.slice(0, 100_000)).length;
    expect(() => loadEvalData(f, tok, { tokens: 10 * n, seqLen: 64, batch: 1 })).toThrow(`evaluation data ${f} is too short: it gives ${n} tokens, the budget needs ${Math.floor((10 * n) / 64)} sequences of 64`);
  });

  it('the async loader on this thread lets the event loop run between tokenizer calls and stops on cancel', async () => {
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
    const d = await loadEvalDataAsync(big, ct, { tokens: 8192, seqLen: 256, batch: 8 }, undefined, { offThread: false });
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
    await expect(loadEvalDataAsync(big, ca, { tokens: 8192, seqLen: 256, batch: 8 }, abort.signal, { offThread: false })).rejects.toThrow('the measurement was cancelled');
    expect(ca.calls).toBe(1);
  }, 60_000);

  // a tokenizer.json of ~150,000 entries (3 MB, as large vocabularies are): loading it is a long synchronous step
  const bigTok = path.join(tmp, 'bigtok');
  fs.mkdirSync(bigTok);
  const tj = JSON.parse(fs.readFileSync(path.join(ROOT, 'resources/demo-lab/models/relu/tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
  const base = Math.max(...Object.values(tj.model.vocab)) + 1;
  for (let i = 0; i < 150_000; i++) tj.model.vocab[`\u4e00${i.toString(36)}\u4e01`] = base + i;
  fs.writeFileSync(path.join(bigTok, 'tokenizer.json'), JSON.stringify(tj));

  for (const [name, dir] of [['BPE tokenizer.json', 'resources/demo-lab/models/relu'], ['SentencePiece tokenizer.model', 'test/fixtures/checkpoints/torch-minicpm-st']] as const)
    it(`${name}: loaded and run in a worker, the batches are those of the tokenizer here`, async () => {
      const tok = (await loadTokenizer(path.join(ROOT, dir)))!;
      expect(tok.dir).toBe(path.join(ROOT, dir));
      for (const o of [{ tokens: 1024, seqLen: 64, batch: 4 }, { tokens: 8192, seqLen: 256, batch: 8, bosPerSequence: tok.bosTokenId !== undefined }]) {
        const here = loadEvalData(big, tok, o);
        const there = await loadEvalDataAsync(big, tok, o, undefined, { offThread: true });
        expect(there).toEqual(here);
      }
    }, 120_000);

  it('a large tokenizer loads and encodes in the worker: the event loop keeps turning; a cancel meanwhile ends it at once', async () => {
    const tok = { ...(await loadTokenizer(path.join(ROOT, 'resources/demo-lab/models/relu')))!, dir: bigTok }; // same ids, the big file's load
    const meter = stallMeter();
    const t0 = performance.now();
    const d = await loadEvalDataAsync(big, tok, { tokens: 16384, seqLen: 256, batch: 8 });
    const took = performance.now() - t0;
    const stall = meter.stop();
    expect(d).toEqual(loadEvalData(big, tok, { tokens: 16384, seqLen: 256, batch: 8 }));
    expect(stall).toBeLessThan(took / 4); // the load and the encoding ran elsewhere
    // here the same load blocks this thread for a good part of that time
    const h0 = performance.now();
    await loadTokenizer(bigTok);
    expect(performance.now() - h0).toBeGreaterThan(stall);

    const fds = fs.readdirSync('/proc/self/fd').length;
    const abort = new AbortController();
    const p = loadEvalDataAsync(big, tok, { tokens: 16384, seqLen: 256, batch: 8 }, abort.signal).catch((e: { code?: string }) => e.code);
    setTimeout(() => abort.abort(), 50);
    const c0 = performance.now();
    expect(await p).toBe('CANCELLED');
    expect(performance.now() - c0).toBeLessThan(took); // not after the work it abandoned
    // the worker, cancelled while it loads, stops by itself right after (it is not ended while reading a file)
    for (let i = 0; i < 300 && fs.readdirSync('/proc/self/fd').length !== fds; i++) await new Promise((r) => setTimeout(r, 10));
    expect(fs.readdirSync('/proc/self/fd').length).toBe(fds);
  }, 120_000);
});
