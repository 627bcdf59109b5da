// A sequence length beyond the model's context is refused before any compute, with the number to use.
import { expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeTinyCheckpoint } from '../checkpoint/testing/tiny';
import { measureConfigSchema } from '../api/domains/runs';
import { runMeasure } from './measure-job';

test('seqLen longer than max_position_embeddings is a clear error', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-mj-'));
  const ck = writeTinyCheckpoint(path.join(dir, 'ck'), 'llama', { maxPositions: 128 });
  fs.writeFileSync(path.join(dir, 'e.txt'), 'some text '.repeat(500));
  const cfg = measureConfigSchema.parse({ kind: 'measure', checkpoint: ck, data: path.join(dir, 'e.txt'), seqLen: 512, tokens: 1024 });
  await expect(runMeasure(cfg, {}, { onStep: async () => {} })).rejects.toThrow(/sequence length 512 is longer than the context .*choose 128 or less/);
});
