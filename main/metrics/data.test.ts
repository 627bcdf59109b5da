import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TextTokenizer } from '../checkpoint/types';
import { batchStream, loadEvalData, readEvalText } from './data';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metrics-data-'));
const write = (name: string, body: string | Buffer) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, body);
  return f;
};
/** one id per character code (a–z known, others unknown → 0) */
const charTok: TextTokenizer = {
  encode: (t) => Array.from(t, (ch) => (ch >= 'a' && ch <= 'z' ? ch.charCodeAt(0) - 96 : 0)),
  decode: () => '',
  vocabSize: 27,
  bosTokenId: 26,
  source: 'test',
};

describe('evaluation data', () => {
  it('cuts the first N tokens into N/S sequences and batches of B, deterministically', () => {
    const stream = Array.from({ length: 50 }, (_, i) => i);
    const d = batchStream(stream, { seqLen: 4, batch: 3, tokens: 30 }, 'x');
    expect(d.sequences).toBe(7); // 30 → 28 tokens, 7 sequences
    expect(d.tokens).toBe(28);
    expect(d.batches.map((b) => b.batch)).toEqual([3, 3, 1]);
    expect(Array.from(d.batches[1].ids)).toEqual(Array.from({ length: 12 }, (_, i) => 12 + i));
    const bos = batchStream(stream, { seqLen: 4, batch: 2, bosPerSequence: true }, 'x', 99);
    expect(Array.from(bos.batches[0].ids)).toEqual([99, 0, 1, 2, 99, 3, 4, 5]);
    expect(bos.bosPerSequence).toBe(true);
  });

  it('reads JSONL text fields and names file:line for a bad line', () => {
    const ok = write('a.jsonl', '{"text":"ab"}\n\n{"text":"cd"}\n');
    expect(readEvalText(ok)).toBe('ab\n\ncd');
    const bad = write('b.jsonl', '{"text":"ab"}\n{"txt":1}\n');
    expect(() => readEvalText(bad)).toThrow(/b\.jsonl:2: no string field "text"/);
    const notJson = write('c.jsonl', '{oops\n');
    expect(() => readEvalText(notJson)).toThrow(/c\.jsonl:1: not valid JSON/);
  });

  it('rejects empty, non-UTF-8, too short and unknown-only text', () => {
    expect(() => readEvalText(write('e.txt', '  \n'))).toThrow(/is empty/);
    expect(() => readEvalText(write('u.txt', Buffer.from([0xff, 0xfe, 0x00])))).toThrow(/not valid UTF-8/);
    expect(() => readEvalText(path.join(dir, 'missing.txt'))).toThrow(/missing\.txt cannot be read: no such file$/);
    // a folder given for the text is named as one (the message said only 'EISDIR')
    expect(() => readEvalText(dir, 1 << 20)).toThrow(/cannot be read: it is a folder, not a text file$/);
    const short = write('s.txt', 'abc');
    expect(() => loadEvalData(short, charTok, { seqLen: 8, batch: 1 })).toThrow(/s\.txt is too short/);
    const unk = write('k.txt', '\uE000\uE001\uE002\uE000\uE001');
    expect(() => loadEvalData(unk, charTok, { seqLen: 2, batch: 1 })).toThrow(/no tokens the model's tokenizer/);
    const fine = loadEvalData(write('f.txt', 'abcdefgh'), charTok, { seqLen: 4, batch: 1 });
    expect(fine.sequences).toBe(2);
    expect(() => loadEvalData(write('g.txt', 'abcd'), charTok, { seqLen: 1, batch: 1 })).toThrow(/sequence length/);
  });
});
