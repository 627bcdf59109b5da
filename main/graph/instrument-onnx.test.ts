// ONNX-file input: a plain decoder exported by our own builder (input_ids → logits, no instrumentation) is
// found, instrumented and checked against the float64 reference forward in several mask modes.
import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { writeTinyCheckpoint, type TinyFamily } from '../checkpoint/testing/tiny';
import { loadCheckpoint } from '../checkpoint/index';
import { createReferenceRunner } from '../../test/reference/forward';
import { buildLlamaGraph } from './llama-graph';
import { instrumentOnnx } from './instrument-onnx';
import { findFfnBlocks } from '../checkpoint/onnx-ffn';
import { DT, GraphBuilder } from './onnx-builder';
import type { MaskMode } from '../inference/runner-types';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-onnx-in-'));
const B = 2;
const S = 10;
const ids = Int32Array.from({ length: B * S }, (_, i) => (i * 89 + 3) % 256);

describe.each([
  ['llama', 'silu'],
  ['llama', 'relu'],
  ['gpt2', 'gelu_tanh'],
  ['opt', 'relu'],
] as [TinyFamily, string][])('%s (%s) exported plain', (family, activation) => {
  test('FFN blocks found and instrumented; NLL and counts match the reference', async () => {
    const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, `${family}-${activation}`), family, { activation: activation as never, seed: 2 }));
    const plain = buildLlamaGraph(ckpt, { dtype: 'float32', mode: 'dense', capture: false, maxSeq: 64, plain: true });
    const file = path.join(tmp, `${family}-${activation}.onnx`);
    fs.writeFileSync(file, plain);
    const model = fromBinary(ModelProtoSchema, fs.readFileSync(file));
    const blocks = findFfnBlocks(model, file);
    expect(blocks).toHaveLength(ckpt.spec.numLayers);
    expect(blocks.every((b) => b.gated === ckpt.spec.gated && b.F === ckpt.spec.intermediateSize)).toBe(true);
    const ref = createReferenceRunner(ckpt);
    const F = ckpt.spec.intermediateSize;
    const modes: MaskMode[] = [{ kind: 'dense' }, { kind: 'fat', eps: 0.03 }, { kind: 'cett', tau: ref.colNorms.map((c) => c.map((x) => 0.02 / x)) }, { kind: 'topk-token', k: 5 }];
    for (const mode of modes) {
      const { bytes } = instrumentOnnx(fromBinary(ModelProtoSchema, fs.readFileSync(file)), file, { mode: mode.kind, capture: mode.kind === 'dense' });
      const sess = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], logSeverityLevel: 3 });
      const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [B, S]) };
      if (mode.kind === 'fat') feeds.eps = new ort.Tensor('float32', new Float32Array([mode.eps + 1e-18]), [1]);
      if (mode.kind === 'cett') {
        const tau = new Float32Array(mode.tau.length * F);
        mode.tau.forEach((t, l) => tau.set(t, l * F));
        feeds.tau = new ort.Tensor('float32', tau, [mode.tau.length, F]);
      }
      if (mode.kind === 'topk-token') feeds.k = new ort.Tensor('int64', new BigInt64Array([BigInt(mode.k)]), [1]);
      const out = await sess.run(feeds);
      expect(Object.keys(out)).not.toContain('logits');
      const want = await ref.forward({ ids, batch: B, seqLen: S, mode, captureActivations: mode.kind === 'dense' });
      const nll = out.nll.data as Float32Array;
      for (let i = 0; i < nll.length; i++) expect(Math.abs(nll[i] - want.nll[i]), `${mode.kind} nll`).toBeLessThan(1e-4);
      const counts = out.active_counts.data as Float32Array;
      let diff = 0;
      for (let i = 0; i < counts.length; i++) diff += Math.abs(counts[i] - want.activeCounts[i]);
      expect(diff, `${mode.kind} counts`).toBeLessThanOrEqual(Math.ceil(0.005 * counts.length * F));
      if (mode.kind === 'dense') {
        const a0 = out['act.0'].data as Float32Array;
        for (let i = 0; i < a0.length; i++) expect(Math.abs(a0[i] - want.activations![0][i])).toBeLessThan(1e-4);
      }
      await sess.release();
    }
  });
});

test('an ONNX file without an FFN pattern: the error names the node types seen and what was expected', () => {
  const g = new GraphBuilder('not-a-decoder');
  const x = g.input('x', DT.FLOAT, [2]);
  g.op('Relu', [g.op('Add', [x, g.f32('b', [1, 2])])], {}, 'y');
  g.output('y', DT.FLOAT, [2]);
  const model = fromBinary(ModelProtoSchema, g.build());
  expect(() => findFfnBlocks(model, '/m/model.onnx')).toThrow(/\/m\/model\.onnx: no feed-forward block found\. Expected MatMul.*node types seen: Add×1, Relu×1/);
});
