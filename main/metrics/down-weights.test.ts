// Issue 19, the stall before a large CPU job's passes: downWeightsOf read every layer's W_out into fp32 on the engine's
// thread before the runner opened (a 1.1B bf16: 3.2 s in one piece, 0.95 GiB). It now reads nothing up front; a layer is
// read when the host curves need it, asynchronously in pieces, bit for bit the tensor's own decode.
import { afterAll, describe, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCheckpoint } from '../checkpoint/load';
import { writeSparseLlama } from '../checkpoint/testing/sparse';
import { writeTinyCheckpoint, type TinyFamily } from '../checkpoint/testing/tiny';
import type { LoadedCheckpoint, WeightTensor } from '../checkpoint/types';
import { stallMeter } from '../../test/helpers/event-loop';
import { downWeightsOf, readFloat32 } from './target';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-down-weights-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** the checkpoint with every tensor's reads counted */
function counted(ck: LoadedCheckpoint): { ck: LoadedCheckpoint; reads: () => number } {
  let n = 0;
  const weights = new Map<string, WeightTensor>();
  for (const [k, w] of ck.weights)
    weights.set(k, { ...w, toFloat32: () => (n++, w.toFloat32()), ...(w.stored ? { stored: () => (n++, w.stored!()) } : {}) });
  return { ck: { ...ck, weights }, reads: () => n };
}

describe('downWeightsOf', () => {
  test('reads no weight byte up front; a missing W_out still fails at once', async () => {
    const ck = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'lazy'), 'llama', { layers: 3, seed: 2 }), { hash: false });
    const c = counted(ck);
    const dw = downWeightsOf(c.ck);
    expect(dw.layers).toBe(3);
    expect(c.reads()).toBe(0);
    await dw.layer(1);
    expect(c.reads()).toBe(1); // that layer only
    const missing = new Map(ck.weights);
    missing.delete('layers.2.mlp.down.weight');
    expect(() => downWeightsOf({ ...ck, weights: missing })).toThrow(/no down_proj weight for layer 2; CETT needs W_out/);
  });

  // F32 straight into the result, F16/BF16 decoded piece by piece (a 1,000-byte piece: many pieces, the last partial);
  // gpt2's Conv1D W_out is stored transposed and decoded by the tensor itself
  test.each([
    ['llama', 'F32'],
    ['llama', 'F16'],
    ['llama', 'BF16'],
    ['gpt2', 'F32'],
  ] as [TinyFamily, 'F32' | 'F16' | 'BF16'][])('%s %s: every layer bit for bit the tensor’s own decode', async (family, dtype) => {
    const ck = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, `${family}-${dtype}`), family, { layers: 2, seed: 7, dtype, intermediate: 70 }), { hash: false });
    const dw = downWeightsOf(ck);
    for (let l = 0; l < 2; l++) {
      const w = ck.weights.get(`layers.${l}.mlp.down.weight`)!;
      const want = new Uint32Array(w.toFloat32().buffer);
      expect(new Uint32Array((await dw.layer(l)).buffer)).toEqual(want);
      expect(new Uint32Array((await readFloat32(w, undefined, 1000)).buffer)).toEqual(want);
    }
  });

  test('a cancelled read stops with CANCELLED; a truncated file is named', async () => {
    const ck = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'cancel'), 'llama', { layers: 1, seed: 3, dtype: 'BF16' }), { hash: false });
    const w = ck.weights.get('layers.0.mlp.down.weight')!;
    await expect(readFloat32(w, AbortSignal.abort())).rejects.toMatchObject({ code: 'CANCELLED' });
    fs.truncateSync(w.stored!()!.file, w.stored!()!.offset + 10);
    await expect(readFloat32(w)).rejects.toThrow(/cancel\/model\.safetensors: tensor 'layers\.0\.mlp\.down\.weight': the file ends before/);
  });

  test('reading a large layer leaves the event loop turning (the synchronous decode holds it whole)', async () => {
    // a 4096 × 11008 bf16 W_out (a 7B's layer: 90 MB stored, 180 MB in fp32), its bytes a hole
    const dir = path.join(tmp, 'big');
    writeSparseLlama(dir, { hidden: 4096, intermediate: 11008, layers: 1, vocab: 256, dtype: 'BF16' });
    const ck = await loadCheckpoint(dir, { hash: false, scanFinite: false, tokenizer: null });
    const w = ck.weights.get('layers.0.mlp.down.weight')!;
    let m = stallMeter();
    w.toFloat32();
    const sync = m.stop();
    m = stallMeter();
    const x = await downWeightsOf(ck).layer(0);
    const lazy = m.stop();
    console.log(`a 4096 × 11008 bf16 W_out: the synchronous decode held the loop ${sync.toFixed(0)} ms, the read in pieces at most ${lazy.toFixed(0)} ms`);
    expect(x.length).toBe(4096 * 11008);
    expect(lazy).toBeLessThan(sync / 3);
  });
});
