// One mapping of the measure flags to a run config (measure.ts measureFlagsConfig) serves `measure`, `measure-series`
// and `cluster submit`; the cluster contract's shape calls bosPerSequence `bos`, adapted in one place (cluster.ts).
import { expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { measureFlagsConfig } from './measure';
import { submitRequest } from './cluster';
import { clusterMeasureSchema } from '../api/domains/cluster';

const flags = { method: 'cett-ppl', p: '5', param: '0.25', tokens: '4096', 'seq-len': '128', batch: '8', tol: '0.001', 'threshold-mode': 'exact', provider: 'cpu', bos: true };

test('the measure flags become run-config fields, numbers parsed, in the order configs are written', () => {
  const cfg = measureFlagsConfig({ ...flags, 'device-memory': '2e9', execution: 'streamed' });
  expect(cfg).toEqual({ method: 'cett-ppl', p: 5, param: 0.25, tokens: 4096, seqLen: 128, batch: 8, tol: 0.001, thresholdMode: 'exact', provider: 'cpu', deviceMemory: 2e9, execution: 'streamed', bosPerSequence: true });
  expect(Object.keys(cfg)).toEqual(['method', 'p', 'param', 'tokens', 'seqLen', 'batch', 'tol', 'thresholdMode', 'provider', 'deviceMemory', 'execution', 'bosPerSequence']);
  expect(measureFlagsConfig({ bos: false })).toEqual({});
  expect(() => measureFlagsConfig({ tokens: '12abc' })).toThrow(/tokens/);
});

test('cluster submit maps the same flags; bos is named as the cluster contract names it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-flags-'));
  try {
    const data = path.join(dir, 'eval.txt');
    const req = submitRequest({ ...flags, data } as never, [path.join(dir, 'step-100'), path.join(dir, 'step-200')]);
    const { bosPerSequence, ...same } = measureFlagsConfig(flags);
    expect(bosPerSequence).toBe(true);
    expect(req.measure).toEqual({ data, ...same, bos: true });
    expect(clusterMeasureSchema.safeParse(req.measure).success).toBe(true);
    expect(submitRequest({ data } as never, [path.join(dir, 'a'), path.join(dir, 'b')]).measure).toEqual({ data });
    expect(() => submitRequest({ data, batch: 'x' } as never, [path.join(dir, 'a'), path.join(dir, 'b')])).toThrow(/batch/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
