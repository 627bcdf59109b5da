// The instrumented ONNX graph against the independent float64 reference forward (test/reference), for every
// family (LLaMA-shaped, OPT, GPT-2, GPT-NeoX) and every mask mode: NLL within 1e-4 (fp32), active counts equal.
// Checkpoints stored as fp16/bf16 run the fp32 CPU graph with their weights kept 16-bit behind Casts (halfWeights).
import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataLocation, type ModelProto } from 'onnx-buf';
import { TINY_FAMILY_CASES, writeTinyCheckpoint, type TinyFamily } from '../checkpoint/testing/tiny';
import { everyMaskMode } from '../inference/testing';
import { loadCheckpoint } from '../checkpoint/index';
import type { LoadedCheckpoint } from '../checkpoint/types';
import { createRunner } from '../inference/index';
import { createReferenceRunner } from '../../test/reference/forward';
import { DT } from './onnx-builder';
import { GraphCache } from '../inference/graph-cache';
import { buildLlamaGraph, HALF_WEIGHTS_SESSION_EXTRA, storesHalfWeights, type GraphOptions } from './llama-graph';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-graph-'));
const B = 2;
const S = 12;
const ids = Int32Array.from({ length: B * S }, (_, i) => (i * 131 + 7) % 256);

/** The CPU fp32 runner against the reference in every mask mode (NLL within 1e-4, counts, captured activations). */
async function matchesReference(ckpt: LoadedCheckpoint, cacheDir: string): Promise<void> {
  const fast = await createRunner(ckpt, { provider: 'cpu', cacheDir });
  const ref = createReferenceRunner(ckpt);
  const F = ckpt.spec.intermediateSize;
  const modes = everyMaskMode(F, fast.colNorms, 0.015);
  for (const mode of modes) {
    const a = await fast.forward({ ids, batch: B, seqLen: S, mode, captureActivations: mode.kind === 'dense' });
    const b = await ref.forward({ ids, batch: B, seqLen: S, mode, captureActivations: mode.kind === 'dense' });
    let maxDiff = 0;
    for (let i = 0; i < a.nll.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a.nll[i] - b.nll[i]));
    expect(maxDiff, `${mode.kind} NLL`).toBeLessThan(1e-4);
    // counts can differ only where a value sits on a threshold within float error: allow ≤ 0.5% of decisions
    let diff = 0;
    for (let i = 0; i < a.activeCounts.length; i++) diff += Math.abs(a.activeCounts[i] - b.activeCounts[i]);
    expect(diff, `${mode.kind} active counts`).toBeLessThanOrEqual(Math.ceil(0.005 * a.activeCounts.length * F));
    if (mode.kind === 'dense') {
      let md = 0;
      for (let l = 0; l < a.activations!.length; l++)
        for (let i = 0; i < a.activations![l].length; i++) md = Math.max(md, Math.abs(a.activations![l][i] - b.activations![l][i]));
      expect(md).toBeLessThan(1e-4);
    }
    if (mode.kind === 'topk-token') for (const c of a.activeCounts) expect(c).toBeLessThanOrEqual(Math.floor(F / 4));
  }
  // the masks actually change the model (a mask wired to nothing would pass the comparisons above)
  const dense = await fast.forward({ ids, batch: B, seqLen: S, mode: { kind: 'dense' } });
  const sparse = await fast.forward({ ids, batch: B, seqLen: S, mode: { kind: 'topk-token', k: 2 } });
  expect(Math.abs(dense.nll.reduce((x, y) => x + y) - sparse.nll.reduce((x, y) => x + y))).toBeGreaterThan(1e-3);
  await fast.dispose();
}

describe.each(TINY_FAMILY_CASES)('%s (%s)', (family, activation) => {
  test('NLL and active counts match the reference in every mask mode', async () => {
    const dir = writeTinyCheckpoint(path.join(tmp, `${family}-${activation}`), family, { activation, seed: 3 });
    await matchesReference(await loadCheckpoint(dir), path.join(tmp, 'cache'));
  });
});

test('gpt_neox with sequential residual and full rotary, llama with llama3 rope scaling', async () => {
  const cases2: [string, () => string][] = [
    ['neox-seq', () => writeTinyCheckpoint(path.join(tmp, 'neox-seq'), 'gpt_neox', { activation: 'gelu', seed: 4, parallelResidual: false, rotaryPct: 1 })],
    ['llama3', () => {
      const dir = writeTinyCheckpoint(path.join(tmp, 'llama3'), 'llama', { activation: 'silu', seed: 6 });
      const cfgFile = path.join(dir, 'config.json');
      const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
      // tiny original_max_position_embeddings so all three llama3 bands (scaled, blended, kept) occur
      cfg.rope_scaling = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 };
      cfg.rope_theta = 500;
      fs.writeFileSync(cfgFile, JSON.stringify(cfg));
      return dir;
    }],
  ];
  for (const [name, make] of cases2) {
    const ckpt = await loadCheckpoint(make());
    const fast = await createRunner(ckpt, { provider: 'cpu' });
    const ref = createReferenceRunner(ckpt);
    const a = await fast.forward({ ids, batch: B, seqLen: S, mode: { kind: 'dense' } });
    const b = await ref.forward({ ids, batch: B, seqLen: S, mode: { kind: 'dense' } });
    for (let i = 0; i < a.nll.length; i++) expect(Math.abs(a.nll[i] - b.nll[i]), name).toBeLessThan(1e-4);
    await fast.dispose();
  }
});

test('fp16 graph stays within 2e-2 relative of fp32', async () => {
  const dir = writeTinyCheckpoint(path.join(tmp, 'fp16'), 'llama', { activation: 'silu', seed: 5 });
  const ckpt = await loadCheckpoint(dir);
  const r32 = await createRunner(ckpt, { provider: 'cpu', dtype: 'float32' });
  const r16 = await createRunner(ckpt, { provider: 'cpu', dtype: 'float16' });
  const a = await r32.forward({ ids, batch: B, seqLen: S, mode: { kind: 'dense' } });
  const b = await r16.forward({ ids, batch: B, seqLen: S, mode: { kind: 'dense' } });
  for (let i = 0; i < a.nll.length; i++) expect(Math.abs(a.nll[i] - b.nll[i]) / Math.abs(a.nll[i])).toBeLessThan(2e-2);
});

test('the head and its NLL in row chunks (headRows, padding the last chunk) give the whole-batch NLL', async () => {
  for (const [family, tie] of [['llama', false], ['gpt2', true]] as const) {
    const dir = writeTinyCheckpoint(path.join(tmp, `head-${family}`), family, { activation: family === 'gpt2' ? 'gelu_tanh' : 'silu', seed: 9, tie });
    const ckpt = await loadCheckpoint(dir);
    const run = async (headRows?: number) => {
      const o: GraphOptions = { dtype: 'float32', mode: 'dense', capture: false, maxSeq: 32, ...(headRows ? { headRows } : {}) };
      const sess = await ort.InferenceSession.create(buildLlamaGraph(ckpt, o), { executionProviders: ['cpu'], logSeverityLevel: 3 });
      const out = await sess.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, (x) => BigInt(x)), [B, S]) });
      await sess.release();
      return out.nll.data as Float32Array;
    };
    // the NLL from the definition: the plain export's logits, log-softmax in float64
    const plain = await ort.InferenceSession.create(buildLlamaGraph(ckpt, { dtype: 'float32', mode: 'dense', capture: false, maxSeq: 32, plain: true }), { executionProviders: ['cpu'], logSeverityLevel: 3 });
    const logits = (await plain.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, (x) => BigInt(x)), [B, S]) })).logits.data as Float32Array;
    await plain.release();
    const V = ckpt.spec.vocabSize;
    const want = new Float64Array(B * (S - 1));
    for (let b = 0; b < B; b++)
      for (let t = 0; t < S - 1; t++) {
        const row = logits.subarray((b * S + t) * V, (b * S + t + 1) * V);
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((acc, x) => acc + Math.exp(x - m), 0));
        want[b * (S - 1) + t] = lse - row[ids[b * S + t + 1]];
      }
    const whole = await run();
    expect(whole.length).toBe(B * (S - 1));
    whole.forEach((x, i) => expect(Math.abs(x - want[i])).toBeLessThan(1e-4));
    // 1, 5 (B·S = 24 rows: the last chunk padded) and 24 rows per chunk: the same NLL
    for (const rows of [1, 5, 24]) expect(Array.from(await run(rows)), `${family} headRows ${rows}`).toEqual(Array.from(whole));
  }
});

/** initializer name → ONNX data type, of a model */
const initTypes = (m: ModelProto) => new Map(m.graph!.initializer.map((t) => [t.name, t.dataType]));
/** the canonical names of the matrices halfWeights keeps 16-bit: embeddings and the layers' projections, not lm_head */
const bigNames = (ckpt: LoadedCheckpoint) => [...ckpt.weights.keys()].filter((n) => /^(embed\.(tokens|positions)|layers\.\d+\.(attn\.[qkvo]|mlp\.(gate|up|down))\.weight)$/.test(n));

const stored: [string, TinyFamily, string, 'F16' | 'BF16', boolean][] = [
  ['llama relu, fp16, untied', 'llama', 'relu', 'F16', false],
  ['llama silu, fp16, tied', 'llama', 'silu', 'F16', true],
  ['llama silu, bf16, untied', 'llama', 'silu', 'BF16', false],
  ['mistral silu (GQA), bf16, tied', 'mistral', 'silu', 'BF16', true],
  ['gpt2 gelu_tanh, fp16, tied', 'gpt2', 'gelu_tanh', 'F16', true],
  ['gpt2 gelu_tanh, bf16, untied', 'gpt2', 'gelu_tanh', 'BF16', false],
  ['opt relu, fp16 (positions from row 2)', 'opt', 'relu', 'F16', true],
];

describe.each(stored)('%s: fp32 CPU graph with the weights kept 16-bit', (name, family, activation, dtype, tie) => {
  test('the cached graphs hold the big matrices in the stored dtype; NLL and counts match the reference', async () => {
    const dir = writeTinyCheckpoint(path.join(tmp, name.replace(/\W+/g, '-')), family, { activation: activation as never, seed: 3, dtype, tie });
    const ckpt = await loadCheckpoint(dir);
    expect(ckpt.spec.tieEmbeddings).toBe(tie);
    expect(storesHalfWeights(ckpt, { dtype: 'float32', halfWeights: true })).toBe(true);
    expect(storesHalfWeights(ckpt, { dtype: 'float16', halfWeights: true })).toBe(false);
    const cacheDir = path.join(tmp, `cache-${name.replace(/\W+/g, '-')}`);
    await matchesReference(ckpt, cacheDir);
    const want = dtype === 'F16' ? DT.FLOAT16 : DT.BFLOAT16;
    const graphs = new GraphCache(cacheDir).entries().map((e) => path.join(e.dir, 'graph.onnx')).filter((f) => fs.existsSync(f));
    expect(graphs.length).toBeGreaterThan(0);
    for (const f of graphs) {
      const types = initTypes(fromBinary(ModelProtoSchema, fs.readFileSync(f)));
      const names = bigNames(ckpt);
      expect(names.length).toBeGreaterThan(ckpt.spec.numLayers * 4);
      for (const n of names) expect(types.get(n), `${f}: ${n}`).toBe(want);
      // norms and the output projection (pre-packed, see lmHead) stay fp32
      expect(types.get('layers.0.attn_norm.weight')).toBe(DT.FLOAT);
      expect(types.get(tie ? 'lm_head.tied' : 'lm_head.weight')).toBe(DT.FLOAT);
    }
  });
});

test('onnxruntime keeps the 16-bit weights with HALF_WEIGHTS_SESSION_EXTRA (and folds them back without it)', async () => {
  for (const dtype of ['F16', 'BF16'] as const) {
    const dir = writeTinyCheckpoint(path.join(tmp, `ort-keeps-${dtype}`), 'llama', { activation: 'silu', seed: 8, dtype });
    const ckpt = await loadCheckpoint(dir);
    const bytes = buildLlamaGraph(ckpt, { dtype: 'float32', mode: 'dense', capture: false, maxSeq: 32, halfWeights: true });
    const want = dtype === 'F16' ? DT.FLOAT16 : DT.BFLOAT16;
    const optimized = async (extra?: Record<string, unknown>) => {
      const file = path.join(tmp, `ort-keeps-${dtype}-${extra ? 'kept' : 'folded'}.onnx`);
      const sess = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', logSeverityLevel: 3, optimizedModelFilePath: file, ...(extra ? { extra } : {}) });
      const out = await sess.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.subarray(0, S), BigInt), [1, S]) });
      await sess.release();
      return { types: initTypes(fromBinary(ModelProtoSchema, fs.readFileSync(file))), nll: out.nll.data as Float32Array };
    };
    const kept = await optimized(HALF_WEIGHTS_SESSION_EXTRA);
    const folded = await optimized();
    const names = bigNames(ckpt).filter((n) => n !== 'embed.tokens'); // the table feeds a Gather, never folded
    for (const n of names) expect(kept.types.get(n), `${dtype} ${n}`).toBe(want);
    // without the option onnxruntime replaces Cast(weight) by fp32 initializers: the option is what keeps the memory down
    expect(names.filter((n) => kept.types.get(n) === want && folded.types.get(n) === want)).toEqual([]);
    for (let i = 0; i < kept.nll.length; i++) expect(Math.abs(kept.nll[i] - folded.nll[i])).toBeLessThan(1e-5);
  }
});

test('weights written as external data equal the in-memory initializers', async () => {
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    const dir = writeTinyCheckpoint(path.join(tmp, `ext-${dtype}`), 'llama', { activation: 'relu', seed: 9, dtype, tie: true, hidden: 48, intermediate: 96 });
    const ckpt = await loadCheckpoint(dir);
    const o: GraphOptions = { dtype: 'float32', mode: 'cett', capture: false, maxSeq: 32, halfWeights: true };
    const inMemory = fromBinary(ModelProtoSchema, buildLlamaGraph(ckpt, o));
    const file = path.join(tmp, `ext-${dtype}.onnx.data`);
    const external = fromBinary(ModelProtoSchema, buildLlamaGraph(ckpt, o, { file, location: path.basename(file) }));
    const data = fs.readFileSync(file);
    const mem = new Map(inMemory.graph!.initializer.map((t) => [t.name, t]));
    let n = 0;
    for (const t of external.graph!.initializer) {
      if (t.dataLocation !== TensorProto_DataLocation.EXTERNAL) continue;
      const kv = Object.fromEntries(t.externalData.map((e) => [e.key, e.value]));
      const bytes = data.subarray(Number(kv.offset), Number(kv.offset) + Number(kv.length));
      expect(Buffer.compare(bytes, Buffer.from(mem.get(t.name)!.rawData)), `${dtype} ${t.name}`).toBe(0);
      expect(t.dataType).toBe(mem.get(t.name)!.dataType);
      n++;
    }
    expect(n, dtype).toBeGreaterThan(10);
  }
});
