import fs from 'node:fs';
import path from 'node:path';
import { writeSparseLlama } from '../../main/checkpoint/testing/sparse';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';

/**
 * A job whose CPU graph must convert weights: a sparse fp16, tied llama at `tmp`/fp16 (the CPU graph converts its
 * 131 MB output projection to fp32 in the graph worker), a tiny checkpoint's tokenizer beside it, and a short text at
 * `tmp`/eval.txt.
 */
export function convertingLlama(tmp: string): { dir: string; text: string } {
  const dir = path.join(tmp, 'fp16');
  writeSparseLlama(dir, { hidden: 1024, intermediate: 256, layers: 2, vocab: 32000, dtype: 'F16' });
  fs.copyFileSync(path.join(writeTinyCheckpoint(path.join(tmp, 'tok'), 'llama', { seed: 5, layers: 1 }), 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
  const text = path.join(tmp, 'eval.txt');
  fs.writeFileSync(text, 'the quick brown fox jumps over the lazy dog. '.repeat(50));
  return { dir, text };
}
