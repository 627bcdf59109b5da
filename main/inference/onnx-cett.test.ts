// Issue 17: CETT-PPL-p% on .onnx input. W_out comes from the graph's initializers, found by the same pattern match the
// instrumented graph uses (findFfnBlocks), so an .onnx file is measured like the HF folder it was exported from. On
// the PyTorch exports (test/fixtures/onnx-exports, exported from tiny checkpoints regenerated here from their seed):
// W_out equals the folder's, and CETT-PPL-1% on the same tokens gives the folder's CETT, activation ratio and PPL ratio.
import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCheckpoint } from '../checkpoint/index';
import { writeTinyCheckpoint, type TinyFamily } from '../checkpoint/testing/tiny';
import { batchStream } from '../metrics/data';
import { measureCettPpl } from '../metrics/cett-ppl';
import { readDownWeights } from '../metrics/target';
import { createRunner } from './index';

const FIX = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/onnx-exports');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-onnx-cett-'));

describe.each([
  ['llama-relu', 'llama', 'relu'],
  ['llama-silu', 'llama', 'silu'],
  ['gpt2', 'gpt2', 'gelu_tanh'],
] as [string, TinyFamily, string][])('PyTorch export of %s', (name, family, activation) => {
  test('W_out from the initializers equals the HF folder’s; CETT-PPL-1% equals the folder’s result', async () => {
    const onnx = await loadCheckpoint(path.join(FIX, name, 'model.onnx'));
    const hf = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, name), family, { activation: activation as never, seed: 11, dtype: 'F32' }));
    const wo = await readDownWeights(onnx);
    const wh = await readDownWeights(hf);
    expect(wo.length).toBe(hf.spec.numLayers);
    wo.forEach((w, l) => {
      expect(w.length).toBe(wh[l].length);
      let m = 0;
      w.forEach((v, i) => (m = Math.max(m, Math.abs(v - wh[l][i]))));
      expect(m, `layer ${l}`).toBeLessThan(1e-6);
    });
    // the same token stream for both (pseudo-random ids in the vocabulary), 2 batches of 3 × 16
    let x = 7;
    const ids = Array.from({ length: 96 }, () => ((x = (x * 1103515245 + 12345) % 2 ** 31), 3 + (x % (hf.spec.vocabSize - 3))));
    const data = batchStream(ids, { seqLen: 16, batch: 3 }, 'ids');
    const o = { p: 1, tol: 1e-3, thresholdMode: 'authors' as const };
    const ro = await createRunner(onnx, { provider: 'cpu' });
    const rh = await createRunner(hf, { provider: 'cpu', maxSeq: 16 });
    try {
      const a = await measureCettPpl({ id: onnx.path, runner: ro, downWeights: wo }, data, o);
      const b = await measureCettPpl({ id: hf.path, runner: rh, downWeights: wh }, data, o);
      expect(a.activationRatio).toBeLessThan(1);
      expect(Math.abs(a.cett! - b.cett!)).toBeLessThanOrEqual(o.tol);
      expect(Math.abs(a.activationRatio - b.activationRatio)).toBeLessThan(2e-3);
      expect(Math.abs(a.pplRatio - b.pplRatio)).toBeLessThan(1e-3);
      a.thresholds.forEach((e, l) => expect(Math.abs(e - b.thresholds[l])).toBeLessThanOrEqual(1e-3 * Math.abs(b.thresholds[l]) + 1e-6));
    } finally {
      await ro.dispose();
      await rh.dispose();
    }
  });
});
