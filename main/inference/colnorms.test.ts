// ‖W_out[:,i]‖₂ per layer, one layer at a time with the event loop turning (createRunner's column norms: a 7B's down
// projections are 2.9 GB) against the plain definition, and a cancel between layers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { loadCheckpoint } from '../checkpoint/index';
import { writeTinyCheckpoint } from '../checkpoint/testing/tiny';
import { checkpointColumnNorms, checkpointColumnNormsAsync } from './index';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'colnorms-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the async column norms equal the definition bit for bit, turn the event loop between layers, and stop on cancel', async () => {
  const p = writeTinyCheckpoint(path.join(dir, 'm'), 'llama', { activation: 'relu', seed: 3, hidden: 16, heads: 2, layers: 4, intermediate: 24 });
  const ck = await loadCheckpoint(p);
  const d = ck.spec.hiddenSize;
  const F = ck.spec.intermediateSize;
  // the definition, in float64 from the stored [d, F] matrix (column i is neuron i's output direction)
  const want = Array.from({ length: ck.spec.numLayers }, (_, l) => {
    const w = ck.weights.get(`layers.${l}.mlp.down.weight`)!.toFloat32();
    return Float32Array.from({ length: F }, (_, i) => {
      let acc = 0;
      for (let r = 0; r < d; r++) acc += w[r * F + i] * w[r * F + i];
      return Math.sqrt(acc);
    });
  });
  // another task on the event loop: it runs between the layers (a synchronous loop would let it run once, after)
  let turns = 0;
  let on = true;
  const spin = () => {
    if (!on) return;
    turns++;
    setImmediate(spin);
  };
  setImmediate(spin);
  const got = await checkpointColumnNormsAsync(ck);
  on = false;
  expect(got).toEqual(want);
  expect(checkpointColumnNorms(ck)).toEqual(want);
  expect(turns).toBeGreaterThanOrEqual(ck.spec.numLayers - 1);
  const ac = new AbortController();
  ac.abort();
  await expect(checkpointColumnNormsAsync(ck, ac.signal)).rejects.toMatchObject({ code: 'CANCELLED' });
});
