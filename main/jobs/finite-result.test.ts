// Issue 19: NaN/Inf weights measured "activation 100%, PPL NaN" with no warning. A checkpoint whose scan finds
// NaN/Inf is refused before compute; a result with a non-finite measured number is refused after it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeTinyCheckpoint } from '../checkpoint/testing/tiny';
import { readSafetensorsHeader } from '../checkpoint/safetensors';
import { measureConfigSchema } from '../api/domains/runs';
import { runMeasure } from './measure-job';
import { defaultModelSource } from './models';
import { checkFiniteResult, nonFiniteFields, refuseNonFiniteWeights } from './finite-result';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-finite-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function nanCheckpoint(): string {
  const ck = writeTinyCheckpoint(path.join(tmp, 'ck'), 'llama', { layers: 1, hidden: 16, intermediate: 32 });
  const f = path.join(ck, 'model.safetensors');
  const e = readSafetensorsHeader(f).find((x) => x.name === 'model.layers.0.mlp.up_proj.weight')!;
  const buf = fs.readFileSync(f);
  for (let i = 0; i < 32; i++) buf.writeFloatLE(NaN, e.offset + 4 * i);
  buf.writeFloatLE(Infinity, e.offset + 4 * 40);
  fs.writeFileSync(f, buf);
  fs.writeFileSync(path.join(tmp, 'e.txt'), 'the quick brown fox jumps over the lazy dog. '.repeat(60));
  return ck;
}

describe('non-finite weights and results', () => {
  const ck = nanCheckpoint();
  const cfg = measureConfigSchema.parse({ kind: 'measure', checkpoint: ck, data: path.join(tmp, 'e.txt'), seqLen: 32, tokens: 128, batch: 2 });

  it('a checkpoint whose scan found NaN/Inf is refused before any compute, naming the tensor', async () => {
    await expect(runMeasure(cfg, {}, { onStep: async () => {} })).rejects.toThrow(
      `${ck}: weights hold NaN/Inf values, so no measurement of it can be a number: ${path.join(ck, 'model.safetensors')}: tensor 'layers.0.mlp.up.weight' holds 33 NaN/Inf values`,
    );
  });

  it('when the scan did not run (a large checkpoint), the NaN result itself is refused, naming the field', async () => {
    const unscanned = { ...defaultModelSource, loadCheckpoint: async (p: string) => ({ ...(await defaultModelSource.loadCheckpoint(p)), notices: [] }) };
    const base = measureConfigSchema.parse({ kind: 'measure', method: 'fat', param: 0, checkpoint: ck, data: path.join(tmp, 'e.txt'), seqLen: 32, tokens: 128, batch: 2, provider: 'cpu' });
    await expect(runMeasure(base, {}, { onStep: async () => {} }, unscanned)).rejects.toThrow(/: the measurement gave non-finite numbers \(pplDense = NaN.*no result is reported/);
  }, 60_000);

  it('nonFiniteFields finds measured fields at any depth and ignores settings and records', () => {
    const r = {
      pplDense: 10, pplSparse: NaN, perLayerActivation: [0.1, Infinity], tau: [[Infinity]], timingsMs: { a: NaN }, options: { p: NaN },
      checkpoints: [{ pplRatio: 1 }, { pplRatio: null, cett: 'x', sparsity: undefined }],
      points: [{ param: 1, pplRatio: 1.01, activationRatio: 0.3 }],
    };
    expect(nonFiniteFields(r)).toEqual(['pplSparse = NaN', 'perLayerActivation[1] = Infinity', 'checkpoints[1].pplRatio = null', 'checkpoints[1].cett = x']);
    expect(() => checkFiniteResult(r, 'ck')).toThrow('ck: the measurement gave non-finite numbers (pplSparse = NaN, perLayerActivation[1] = Infinity, checkpoints[1].pplRatio = null, checkpoints[1].cett = x)');
    const ok = { pplDense: 10, pplSparse: 11, pplRatio: 1.1, activationRatio: 0.2 };
    expect(checkFiniteResult(ok, 'ck')).toBe(ok);
    expect(() => refuseNonFiniteWeights({ path: 'ck', notices: ['weights not scanned for NaN/Inf (5.0 GiB; the scan runs up to 4 GiB)'] })).not.toThrow();
  });
});
