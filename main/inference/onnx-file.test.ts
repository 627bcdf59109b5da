// An .onnx decoder through loadCheckpoint + createRunner: same NLL, counts and column norms as the reference
// forward of the HF checkpoint it was exported from.
import { expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeTinyCheckpoint } from '../checkpoint/testing/tiny';
import { loadCheckpoint } from '../checkpoint/index';
import { buildLlamaGraph } from '../graph/llama-graph';
import { createReferenceRunner } from '../../test/reference/forward';
import { createRunner } from './index';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { DT, GraphBuilder } from '../graph/onnx-builder';

test('runner on an exported .onnx file matches the reference in dense and FAT modes', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-onnx-run-'));
  const hfDir = writeTinyCheckpoint(path.join(tmp, 'hf'), 'llama', { activation: 'relu', seed: 21 });
  const hf = await loadCheckpoint(hfDir);
  const onnxDir = path.join(tmp, 'onnx');
  fs.mkdirSync(onnxDir);
  for (const f of fs.readdirSync(hfDir)) if (f.endsWith('.json')) fs.copyFileSync(path.join(hfDir, f), path.join(onnxDir, f));
  fs.writeFileSync(path.join(onnxDir, 'model.onnx'), buildLlamaGraph(hf, { dtype: 'float32', mode: 'dense', capture: false, maxSeq: 64, plain: true }));
  const ckpt = await loadCheckpoint(path.join(onnxDir, 'model.onnx'));
  expect(ckpt.format).toBe('onnx');
  const r = await createRunner(ckpt, { provider: 'cpu' });
  const ref = createReferenceRunner(hf);
  for (let l = 0; l < ref.colNorms.length; l++) ref.colNorms[l].forEach((c, i) => expect(Math.abs(c - r.colNorms[l][i])).toBeLessThan(1e-5));
  const ids = Int32Array.from({ length: 16 }, (_, i) => (i * 53 + 1) % 256);
  for (const mode of [{ kind: 'dense' } as const, { kind: 'fat', eps: 0.02 } as const]) {
    const a = await r.forward({ ids, batch: 2, seqLen: 8, mode });
    const b = await ref.forward({ ids, batch: 2, seqLen: 8, mode });
    a.nll.forEach((v, i) => expect(Math.abs(v - b.nll[i]), mode.kind).toBeLessThan(1e-4));
    let diff = 0;
    a.activeCounts.forEach((v, i) => (diff += Math.abs(v - b.activeCounts[i])));
    expect(diff).toBeLessThanOrEqual(Math.ceil(0.005 * a.activeCounts.length * hf.spec.intermediateSize));
  }
  await r.dispose();
});

test('an .onnx file with external data (inside its folder) runs and matches the reference; the CETT column norms come from the data file', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-onnx-ext-'));
  const hfDir = writeTinyCheckpoint(path.join(tmp, 'hf'), 'llama', { activation: 'silu', seed: 22 });
  const hf = await loadCheckpoint(hfDir);
  const onnxDir = path.join(tmp, 'onnx');
  fs.mkdirSync(onnxDir);
  for (const f of fs.readdirSync(hfDir)) if (f.endsWith('.json')) fs.copyFileSync(path.join(hfDir, f), path.join(onnxDir, f));
  const bytes = buildLlamaGraph(hf, { dtype: 'float32', mode: 'dense', capture: false, maxSeq: 64, plain: true }, { file: path.join(onnxDir, 'model.onnx_data'), location: 'model.onnx_data' });
  fs.writeFileSync(path.join(onnxDir, 'model.onnx'), bytes);
  expect(fs.statSync(path.join(onnxDir, 'model.onnx_data')).size).toBeGreaterThan(bytes.length); // the weights really are outside
  const ckpt = await loadCheckpoint(path.join(onnxDir, 'model.onnx'));
  const r = await createRunner(ckpt, { provider: 'cpu' });
  const ref = createReferenceRunner(hf);
  for (let l = 0; l < ref.colNorms.length; l++) ref.colNorms[l].forEach((c, i) => expect(Math.abs(c - r.colNorms[l][i])).toBeLessThan(1e-5));
  const ids = Int32Array.from({ length: 16 }, (_, i) => (i * 31 + 5) % 256);
  const a = await r.forward({ ids, batch: 2, seqLen: 8, mode: { kind: 'dense' } });
  const b = await ref.forward({ ids, batch: 2, seqLen: 8, mode: { kind: 'dense' } });
  a.nll.forEach((v, i) => expect(Math.abs(v - b.nll[i])).toBeLessThan(1e-4));
  await r.dispose();
  // a data file moved out of the folder is refused by name, never read
  fs.renameSync(path.join(onnxDir, 'model.onnx_data'), path.join(tmp, 'model.onnx_data'));
  await expect(loadCheckpoint(path.join(onnxDir, 'model.onnx'))).rejects.toThrow(/model\.onnx_data/);
});

/**
 * The other ways exporters write a linear layer: MatMul(x, Transpose(W[out,in])) (torch.onnx dynamo before its
 * optimiser folds the transpose) and Gemm(x2d, W[out,in], transB=1) between Reshapes. Layer 0's projections are
 * rewritten to the first form, layer 1's to the second; the file must still be found, instrumented and give the
 * reference's NLL, counts and W_out column norms (read here from [d,F]-stored weights).
 */
test('linear layers as Transpose(W) or Gemm(transB) between Reshapes are found and instrumented', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-onnx-gemm-'));
  const hfDir = writeTinyCheckpoint(path.join(tmp, 'hf'), 'llama', { activation: 'silu', seed: 23 });
  const hf = await loadCheckpoint(hfDir);
  const model = fromBinary(ModelProtoSchema, buildLlamaGraph(hf, { dtype: 'float32', mode: 'dense', capture: false, maxSeq: 64, plain: true }));
  const g = GraphBuilder.adopt(model, 'rw_');
  const inits = new Map(model.graph!.initializer.map((t) => [t.name, t]));
  const rewritten = { transpose: 0, gemm: 0 };
  for (const n of [...g.graphNodes]) {
    const w = n.opType === 'MatMul' ? inits.get(n.input[1]) : undefined;
    const layer = w && /layers\.(\d+)\./.exec(w.name)?.[1];
    if (!w || layer === undefined || w.dims.length !== 2) continue;
    const [rows, cols] = w.dims.map(Number); // [in, out]
    const src = new Float32Array(Uint8Array.from(w.rawData).buffer);
    const t = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = src[r * cols + c];
    const wT = g.init(g.fresh('wT'), DT.FLOAT, [cols, rows], t);
    if (layer === '0') {
      n.input[1] = g.op('Transpose', [wT], { perm: [1, 0] });
      rewritten.transpose++;
    } else {
      const x = n.input[0];
      const x2 = g.op('Reshape', [x, g.i64(g.fresh('s'), [-1, rows])]);
      const y2 = g.op('Gemm', [x2, wT], { transB: 1 });
      const lead = g.op('Slice', [g.op('Shape', [x]), g.i64(g.fresh('s'), [0]), g.i64(g.fresh('s'), [-1])]);
      const y = g.op('Reshape', [y2, g.op('Concat', [lead, g.i64(g.fresh('s'), [cols])], { axis: 0 })]);
      n.opType = 'Identity';
      n.input = [y];
      rewritten.gemm++;
    }
  }
  expect(rewritten.transpose).toBeGreaterThanOrEqual(7);
  expect(rewritten.gemm).toBeGreaterThanOrEqual(7);
  const dir = path.join(tmp, 'onnx');
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(hfDir, 'config.json'), path.join(dir, 'config.json'));
  fs.writeFileSync(path.join(dir, 'model.onnx'), g.build());
  const ckpt = await loadCheckpoint(path.join(dir, 'model.onnx'));
  expect([ckpt.spec.numLayers, ckpt.spec.intermediateSize, ckpt.spec.gated, ckpt.spec.activation]).toEqual([hf.spec.numLayers, hf.spec.intermediateSize, true, 'silu']);
  const r = await createRunner(ckpt, { provider: 'cpu' });
  const ref = createReferenceRunner(hf);
  ref.colNorms.forEach((c, l) => c.forEach((x, i) => expect(Math.abs(x - r.colNorms[l][i])).toBeLessThan(1e-5)));
  const ids = Int32Array.from({ length: 16 }, (_, i) => (i * 37 + 5) % 256);
  for (const mode of [{ kind: 'dense' } as const, { kind: 'cett', tau: ref.colNorms.map((c) => c.map((x) => 0.03 / x)) } as const]) {
    const a = await r.forward({ ids, batch: 2, seqLen: 8, mode });
    const b = await ref.forward({ ids, batch: 2, seqLen: 8, mode });
    a.nll.forEach((v, i) => expect(Math.abs(v - b.nll[i]), mode.kind).toBeLessThan(1e-4));
    let diff = 0;
    a.activeCounts.forEach((v, i) => (diff += Math.abs(v - b.activeCounts[i])));
    expect(diff, mode.kind).toBeLessThanOrEqual(Math.ceil(0.005 * a.activeCounts.length * hf.spec.intermediateSize));
    if (mode.kind === 'cett') expect(Math.max(...a.activeCounts)).toBeLessThan(hf.spec.intermediateSize);
  }
  await r.dispose();
});
