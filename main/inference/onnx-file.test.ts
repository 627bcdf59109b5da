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
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { DT, GraphBuilder } from '../graph/onnx-builder';
import type { LoadedCheckpoint } from '../checkpoint/types';
import { findFfnBlocks } from '../checkpoint/onnx-ffn';
import { batchStream } from '../metrics/data';
import { measureCettPpl } from '../metrics/cett-ppl';
import { downWeightsOf } from '../metrics/target';
import { f32ToF16 } from '../checkpoint/safetensors';

const PLAIN = { dtype: 'float32', mode: 'dense', capture: false, maxSeq: 64, plain: true } as const;
/** the checkpoint's plain decoder (input_ids → logits), as an exporter would write it, to be edited */
const plainModel = (hf: LoadedCheckpoint) => fromBinary(ModelProtoSchema, buildLlamaGraph(hf, PLAIN));
/** an export folder as optimum lays it out (the checkpoint's JSON files beside model.onnx); returns model.onnx's path */
function exportFolder(dir: string, hfDir: string, model: Uint8Array): string {
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(hfDir)) if (f.endsWith('.json')) fs.copyFileSync(path.join(hfDir, f), path.join(dir, f));
  fs.writeFileSync(path.join(dir, 'model.onnx'), model);
  return path.join(dir, 'model.onnx');
}

test('runner on an exported .onnx file matches the reference in dense and FAT modes', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-onnx-run-'));
  const hfDir = writeTinyCheckpoint(path.join(tmp, 'hf'), 'llama', { activation: 'relu', seed: 21 });
  const hf = await loadCheckpoint(hfDir);
  const ckpt = await loadCheckpoint(exportFolder(path.join(tmp, 'onnx'), hfDir, buildLlamaGraph(hf, PLAIN)));
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
  const bytes = buildLlamaGraph(hf, PLAIN, { file: path.join(onnxDir, 'model.onnx_data'), location: 'model.onnx_data' });
  for (const f of fs.readdirSync(hfDir)) if (f.endsWith('.json')) fs.copyFileSync(path.join(hfDir, f), path.join(onnxDir, f));
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
  const model = plainModel(hf);
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
  const ckpt = await loadCheckpoint(exportFolder(path.join(tmp, 'onnx'), hfDir, g.build()));
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

/**
 * optimum's decoder exports also take a KV cache (past_key_values.N.key/value, [batch, kv heads, past length, head
 * dim]), cache_position and, merged, use_cache_branch. The runner feeds an empty cache (past length 0), positions
 * 0…S−1 and use_cache_branch = false; an input it cannot fill is refused by name.
 */
test('an export with KV-cache, cache_position and use_cache_branch inputs runs with an empty cache; an unknown input is named', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-onnx-past-'));
  const hfDir = writeTinyCheckpoint(path.join(tmp, 'hf'), 'llama', { activation: 'relu', seed: 24 });
  const hf = await loadCheckpoint(hfDir);
  const write = (extra: (g: GraphBuilder, addToLogits: (x: string) => void) => void, name: string) => {
    const g = GraphBuilder.adopt(plainModel(hf), 'kv_');
    const head = g.graphNodes.find((n) => n.output.includes('logits'))!;
    head.output[head.output.indexOf('logits')] = 'logits_pre';
    const terms: string[] = [];
    extra(g, (x) => terms.push(x));
    // the terms shift one vocabulary entry's logit (a token that occurs as a target): any nonzero term changes the NLL
    const onehot = new Float32Array(hf.spec.vocabSize);
    onehot[ids[1]] = 1;
    const shift = g.op('Mul', [terms.reduce((a, b) => g.op('Add', [a, b])), g.f32(g.fresh('onehot'), onehot)]);
    g.op('Add', ['logits_pre', shift], {}, 'logits');
    return exportFolder(path.join(tmp, name), hfDir, g.build());
  };
  const { numKvHeads: kvh, headDim: hd } = hf.spec;
  const ids = Int32Array.from({ length: 16 }, (_, i) => (i * 29 + 3) % 256);
  const file = write((g, add) => {
    for (let l = 0; l < hf.spec.numLayers; l++)
      for (const kv of ['key', 'value']) {
        const past = g.input(`past_key_values.${l}.${kv}`, DT.FLOAT, ['batch_size', kvh, 'past_sequence_length', hd]);
        add(g.op('ReduceSum', [past], { keepdims: 0 })); // 0 for an empty cache (ORT checks the fixed dims kvh, hd)
      }
    // cache_position must be 0…7: Σ (i+1)·cache_position[i] − 168 is 0 only then
    const weights = g.i64(g.fresh('w'), [1, 2, 3, 4, 5, 6, 7, 8]);
    add(g.op('Cast', [g.op('Sub', [g.op('ReduceSum', [g.op('Mul', [g.input('cache_position', DT.INT64, ['sequence_length']), weights])], { keepdims: 0 }), g.i64(g.fresh('c'), [168], [])])], { to: DT.FLOAT }));
    add(g.op('Cast', [g.input('use_cache_branch', DT.BOOL, [1])], { to: DT.FLOAT }));
  }, 'past');
  const ckpt = await loadCheckpoint(file);
  const r = await createRunner(ckpt, { provider: 'cpu' });
  const ref = createReferenceRunner(hf);
  const a = await r.forward({ ids, batch: 2, seqLen: 8, mode: { kind: 'fat', eps: 0.02 } });
  const b = await ref.forward({ ids, batch: 2, seqLen: 8, mode: { kind: 'fat', eps: 0.02 } });
  a.nll.forEach((v, i) => expect(Math.abs(v - b.nll[i])).toBeLessThan(1e-4));
  await r.dispose();

  const odd = write((g, add) => add(g.op('ReduceSum', [g.input('pixel_values', DT.FLOAT, ['batch_size', 3, 8, 8])], { keepdims: 0 })), 'odd');
  const r2 = await createRunner(await loadCheckpoint(odd), { provider: 'cpu' });
  await expect(r2.forward({ ids, batch: 2, seqLen: 8, mode: { kind: 'dense' } })).rejects.toThrow(/odd\/model\.onnx: the graph needs input 'pixel_values' \(float32 \[batch_size, 3, 8, 8\]\), which Sparsity Lab cannot fill/);
  await r2.dispose();
});

test('a token input named otherwise or typed int32 is renamed and converted in the graph', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-onnx-ids-'));
  const hfDir = writeTinyCheckpoint(path.join(tmp, 'hf'), 'llama', { activation: 'silu', seed: 25 });
  const hf = await loadCheckpoint(hfDir);
  const ref = createReferenceRunner(hf);
  const ids = Int32Array.from({ length: 16 }, (_, i) => (i * 41 + 9) % 256);
  const want = await ref.forward({ ids, batch: 2, seqLen: 8, mode: { kind: 'fat', eps: 0.02 } });
  for (const [name, elem] of [['tokens', DT.INT64], ['input_ids', DT.INT32], ['ids32', DT.INT32]] as const) {
    const model = plainModel(hf);
    const inp = model.graph!.input.find((i) => i.name === 'input_ids')!;
    if (inp.type?.value.case === 'tensorType') inp.type.value.value.elemType = elem;
    inp.name = name;
    for (const n of model.graph!.node) n.input = n.input.map((x) => (x === 'input_ids' ? name : x));
    const r = await createRunner(await loadCheckpoint(exportFolder(path.join(tmp, `${name}-${elem}`), hfDir, toBinary(ModelProtoSchema, model))), { provider: 'cpu' });
    const got = await r.forward({ ids, batch: 2, seqLen: 8, mode: { kind: 'fat', eps: 0.02 } });
    got.nll.forEach((v, i) => expect(Math.abs(v - want.nll[i]), `${name} ${elem}`).toBeLessThan(1e-4));
    await r.dispose();
  }
});

/**
 * A gated (LLaMA, SiLU) decoder whose gate, up and down projections are all exported as Reshape → Gemm → Reshape →
 * Identity (TorchScript's 2-D linear, transB = 1 on even layers, weights stored [in, out] without transB on odd
 * ones): every block must be found gated, with the gate/up/down weights it really has, and the masks that act on
 * the activation output s (FAT, top-k) must give the HF folder's NLL and counts (main/graph/llama-graph.ts: s =
 * act(x·W_gate), a = s ⊙ x·W_up). Found non-gated, s was taken as a (the gated product) and FAT counted other neurons.
 */
test('gated projections wrapped as Reshape→Gemm→Reshape→Identity are found gated and measured as the HF folder', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-onnx-wrapped-'));
  const hfDir = writeTinyCheckpoint(path.join(tmp, 'hf'), 'llama', { activation: 'silu', seed: 26 });
  const hf = await loadCheckpoint(hfDir);
  const model = plainModel(hf);
  const g = GraphBuilder.adopt(model, 'wr_');
  const inits = new Map(model.graph!.initializer.map((t) => [t.name, t]));
  const want: { gate: string; up: string; down: string }[] = Array.from({ length: hf.spec.numLayers }, () => ({ gate: '', up: '', down: '' }));
  for (const n of [...g.graphNodes]) {
    const w = n.opType === 'MatMul' ? inits.get(n.input[1]) : undefined;
    const m = w && /layers\.(\d+)\.mlp\.(gate|up|down)\./.exec(w.name);
    if (!w || !m) continue;
    const l = Number(m[1]);
    const [rows, cols] = w.dims.map(Number); // [in, out]
    let wName = w.name;
    const transB = l % 2 === 0;
    if (transB) {
      const src = new Float32Array(Uint8Array.from(w.rawData).buffer);
      const t = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = src[r * cols + c];
      wName = g.init(g.fresh('wT'), DT.FLOAT, [cols, rows], t);
    }
    want[l][m[2] as 'gate' | 'up' | 'down'] = wName;
    const x = n.input[0];
    const y2 = g.op('Gemm', [g.op('Reshape', [x, g.i64(g.fresh('s'), [-1, rows])]), wName], transB ? { transB: 1 } : {});
    const lead = g.op('Slice', [g.op('Shape', [x]), g.i64(g.fresh('s'), [0]), g.i64(g.fresh('s'), [-1])]);
    n.opType = 'Identity';
    n.input = [g.op('Reshape', [y2, g.op('Concat', [lead, g.i64(g.fresh('s'), [cols])], { axis: 0 })])];
  }
  expect(want.every((b) => b.gate && b.up && b.down)).toBe(true);
  const bytes = g.build();
  const blocks = findFfnBlocks(fromBinary(ModelProtoSchema, bytes), 'wrapped.onnx');
  expect(blocks.map((b) => ({ gated: b.gated, gate: b.gate, up: b.up, down: b.downWeight, F: b.F }))).toEqual(want.map((w) => ({ gated: true, ...w, F: hf.spec.intermediateSize })));
  const ckpt = await loadCheckpoint(exportFolder(path.join(tmp, 'onnx'), hfDir, bytes));
  expect([ckpt.spec.numLayers, ckpt.spec.gated, ckpt.spec.activation]).toEqual([hf.spec.numLayers, true, 'silu']);
  const r = await createRunner(ckpt, { provider: 'cpu' });
  const rh = await createRunner(hf, { provider: 'cpu', maxSeq: 16 });
  try {
    const ids = Int32Array.from({ length: 16 }, (_, i) => (i * 43 + 7) % 256);
    for (const mode of [{ kind: 'fat', eps: 0.05 } as const, { kind: 'topk-token', k: 8 } as const]) {
      const a = await r.forward({ ids, batch: 2, seqLen: 8, mode });
      const b = await rh.forward({ ids, batch: 2, seqLen: 8, mode });
      a.nll.forEach((v, i) => expect(Math.abs(v - b.nll[i]), mode.kind).toBeLessThan(1e-4));
      // per layer: the fraction of neurons active, as the HF folder counts it
      const ratio = (c: Float32Array) => Array.from({ length: hf.spec.numLayers }, (_, l) => c.slice(l * 16, (l + 1) * 16).reduce((s, v) => s + v, 0) / (16 * hf.spec.intermediateSize));
      const [ra, rb] = [ratio(a.activeCounts), ratio(b.activeCounts)];
      ra.forEach((v, l) => expect(Math.abs(v - rb[l]), `${mode.kind} layer ${l}: ${ra.join(', ')} vs ${rb.join(', ')}`).toBeLessThan(2e-3));
    }
    // CETT-PPL-1% (its mask reads a, the gated product): the folder's CETT, thresholds, activation and PPL ratios
    let x = 11;
    const stream = Array.from({ length: 64 }, () => ((x = (x * 1103515245 + 12345) % 2 ** 31), 3 + (x % (hf.spec.vocabSize - 3))));
    const data = batchStream(stream, { seqLen: 16, batch: 2 }, 'ids');
    const o = { p: 1, tol: 1e-3, thresholdMode: 'authors' as const };
    const ca = await measureCettPpl({ id: ckpt.path, runner: r, downWeights: downWeightsOf(ckpt) }, data, o);
    const cb = await measureCettPpl({ id: hf.path, runner: rh, downWeights: downWeightsOf(hf) }, data, o);
    expect(Math.abs(ca.cett! - cb.cett!)).toBeLessThanOrEqual(o.tol);
    expect(Math.abs(ca.activationRatio - cb.activationRatio)).toBeLessThan(2e-3);
    expect(Math.abs(ca.pplRatio - cb.pplRatio)).toBeLessThan(1e-3);
  } finally {
    await r.dispose();
    await rh.dispose();
  }
});

/**
 * A Cast between the gated product and the down projection (mixed-precision exports cast a to W_out's type): the block
 * is still found gated (it was taken as non-gated, its "up" the gate projection: FAT and top-k then masked the product
 * instead of act(x·W_gate)), and measures as the same export without the Cast.
 */
test('a Cast between the gated product and the down projection: found gated, measured as without it', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-onnx-cast-'));
  const hfDir = writeTinyCheckpoint(path.join(tmp, 'hf'), 'llama', { activation: 'silu', seed: 27 });
  const hf = await loadCheckpoint(hfDir);
  const model = plainModel(hf);
  const g = GraphBuilder.adopt(model, 'cs_');
  const inits = new Map(model.graph!.initializer.map((t) => [t.name, t]));
  for (const n of [...g.graphNodes]) if (n.opType === 'MatMul' && /mlp\.down\./.test(inits.get(n.input[1])?.name ?? '')) n.input[0] = g.op('Cast', [n.input[0]], { to: DT.FLOAT });
  const bytes = g.build();
  const blocks = findFfnBlocks(fromBinary(ModelProtoSchema, bytes), 'cast.onnx');
  expect(blocks.map((b) => [b.gated, b.sOtherType])).toEqual(Array.from({ length: hf.spec.numLayers }, () => [true, true]));
  const ckpt = await loadCheckpoint(exportFolder(path.join(tmp, 'cast'), hfDir, bytes));
  const plain = await loadCheckpoint(exportFolder(path.join(tmp, 'plain'), hfDir, buildLlamaGraph(hf, PLAIN)));
  expect([ckpt.spec.gated, ckpt.spec.numLayers]).toEqual([true, hf.spec.numLayers]);
  const [r, rp] = [await createRunner(ckpt, { provider: 'cpu' }), await createRunner(plain, { provider: 'cpu' })];
  try {
    const ids = Int32Array.from({ length: 16 }, (_, i) => (i * 37 + 5) % 256);
    const tau = rp.colNorms.map((c) => c.map((x) => 0.02 / x));
    for (const mode of [{ kind: 'dense' } as const, { kind: 'fat', eps: 0.05 } as const, { kind: 'topk-token', k: 8 } as const, { kind: 'cett', tau } as const]) {
      const [a, b] = [await r.forward({ ids, batch: 2, seqLen: 8, mode }), await rp.forward({ ids, batch: 2, seqLen: 8, mode })];
      a.nll.forEach((v, i) => expect(Math.abs(v - b.nll[i]), mode.kind).toBeLessThan(1e-5));
      expect(Array.from(a.activeCounts), mode.kind).toEqual(Array.from(b.activeCounts));
      expect(Array.from(a.neuronActiveCounts), mode.kind).toEqual(Array.from(b.neuronActiveCounts));
    }
    // W_out stored fp16, the product cast to it and the result back (a mixed-precision export): the masks on s (fp32
    // here) count as without the Cast; CETT's on a (fp16) runs
    const m16 = plainModel(hf);
    const g16 = GraphBuilder.adopt(m16, 'h_');
    const inits16 = new Map(m16.graph!.initializer.map((t) => [t.name, t]));
    for (const n of [...g16.graphNodes]) {
      const w = inits16.get(n.input[1]);
      if (n.opType !== 'MatMul' || !w || !/mlp\.down\./.test(w.name)) continue;
      const w16 = g16.init(g16.fresh('w16'), DT.FLOAT16, w.dims.map(Number), Uint16Array.from(new Float32Array(Uint8Array.from(w.rawData).buffer), f32ToF16));
      const [out, mid] = [n.output[0], g16.fresh('m')];
      [n.input, n.output] = [[g16.op('Cast', [n.input[0]], { to: DT.FLOAT16 }), w16], [mid]];
      g16.op('Cast', [mid], { to: DT.FLOAT }, out);
    }
    const half = await loadCheckpoint(exportFolder(path.join(tmp, 'half'), hfDir, g16.build()));
    expect(half.spec.gated).toBe(true);
    const rh = await createRunner(half, { provider: 'cpu' });
    try {
      for (const mode of [{ kind: 'fat', eps: 0.05 } as const, { kind: 'topk-token', k: 8 } as const, { kind: 'cett', tau } as const]) {
        const [a, b] = [await rh.forward({ ids, batch: 2, seqLen: 8, mode, captureActivations: true }), await rp.forward({ ids, batch: 2, seqLen: 8, mode })];
        a.nll.forEach((v, i) => expect(Math.abs(v - b.nll[i]), mode.kind).toBeLessThan(1e-2));
        if (mode.kind !== 'cett') expect(Array.from(a.activeCounts), mode.kind).toEqual(Array.from(b.activeCounts));
        expect(a.activations?.length).toBe(hf.spec.numLayers);
      }
    } finally {
      await rh.dispose();
    }
  } finally {
    await r.dispose();
    await rp.dispose();
  }
});
