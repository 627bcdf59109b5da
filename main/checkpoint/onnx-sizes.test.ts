// Issue 19: an initializer's declared shape must match the bytes it holds (a [16, 2^40] initializer over 2 KB
// made the card say 3.5e13 parameters).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, type ModelProto } from 'onnx-buf';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder, DT } from '../graph/onnx-builder';
import { inspectCheckpoint } from './index';
import { checkInitializerSizes } from './onnx';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-sizes-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const d = 8, F = 16, V = 30;

function decoder(): ModelProto {
  const g = new GraphBuilder('tiny');
  const ids = g.input('input_ids', DT.INT64, ['b', 't']);
  let x = g.op('Gather', [g.init('embed', DT.FLOAT, [V, d], new Float32Array(V * d)), ids]);
  for (let l = 0; l < 2; l++) {
    const a = g.op('Relu', [g.op('MatMul', [x, g.init(`up${l}`, DT.FLOAT, [d, F], new Float32Array(d * F))])]);
    x = g.op('Add', [x, g.op('MatMul', [a, g.init(`down${l}`, DT.FLOAT, [F, d], new Float32Array(F * d))])]);
  }
  g.op('MatMul', [x, g.init('lm_head', DT.FLOAT, [d, V], new Float32Array(d * V))], {}, 'logits');
  g.output('logits', DT.FLOAT, ['b', 't', V]);
  return fromBinary(ModelProtoSchema, g.build());
}
function save(name: string, m: ModelProto): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  const f = path.join(dir, 'model.onnx');
  fs.writeFileSync(f, toBinary(ModelProtoSchema, m));
  return f;
}

describe('ONNX initializer sizes', () => {
  it('the valid graph passes and counts its parameters', async () => {
    const m = decoder();
    expect(() => checkInitializerSizes(m, 'model.onnx')).not.toThrow();
    expect((await inspectCheckpoint(save('ok', m))).parameters).toBe(2 * V * d + 2 * 2 * d * F);
  });
  it('[16, 2^40] over 2 KB is refused, naming the file, the initializer and both sizes', async () => {
    const m = decoder();
    const up = m.graph!.initializer.find((t) => t.name === 'up0')!;
    up.dims = [16n, 2n ** 40n];
    const f = save('lying', m);
    await expect(inspectCheckpoint(f)).rejects.toThrow(`${f}: initializer 'up0' declares shape [16, 1099511627776] (17592186044416 elements) but holds 512 bytes of raw_data (128 elements)`);
  });
  it('negative dims, typed data of the wrong length, and external data whose length disagrees', () => {
    const m = decoder();
    const t = m.graph!.initializer[0];
    t.dims = [-1n, 8n];
    expect(() => checkInitializerSizes(m, 'm.onnx')).toThrow("m.onnx: initializer 'embed' declares shape [-1, 8]: dims must be whole numbers ≥ 0");
    t.dims = [V, d].map(BigInt);
    t.rawData = new Uint8Array(0);
    t.floatData = [1, 2, 3];
    expect(() => checkInitializerSizes(m, 'm.onnx')).toThrow(`m.onnx: initializer 'embed' declares shape [30, 8] (240 elements) but holds 3 typed value(s) (3 elements)`);
    t.floatData = [];
    expect(() => checkInitializerSizes(m, 'm.onnx')).toThrow(`holds 0 typed value(s) (0 elements)`);
    t.dataLocation = 1;
    t.externalData = [{ key: 'location', value: 'w.bin' }, { key: 'length', value: '100' }] as never;
    expect(() => checkInitializerSizes(m, 'm.onnx')).toThrow(`m.onnx: initializer 'embed' declares shape [30, 8] (240 elements) but holds 100 bytes of external data (25 elements)`);
  });
});
