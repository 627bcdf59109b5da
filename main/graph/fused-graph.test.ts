// The fused graph form (issue 10: com.microsoft MultiHeadAttention with unidirectional=1, RotaryEmbedding,
// SimplifiedLayerNormalization) on ORT's CPU kernels, against the float64 reference forward and the plain graph,
// for every family/activation of llama-graph.test.ts, GQA (mistral, qwen2 and an 8-head/2-kv llama), qk-norm
// (qwen3), partial rotary and parallel residual (gpt_neox), llama3 rope scaling and sequence lengths that are not
// powers of two.
import { describe, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { TINY_FAMILY_CASES, writeTinyCheckpoint, type TinyFamily, type TinyOptions } from '../checkpoint/testing/tiny';
import { maxAbs } from '../inference/testing';
import { loadCheckpoint } from '../checkpoint/index';
import type { LoadedCheckpoint } from '../checkpoint/types';
import { createReferenceRunner } from '../../test/reference/forward';
import { buildLlamaGraph, type GraphDType } from './llama-graph';
import { ModelProtoSchema } from 'onnx-buf';
import { fromBinary } from '@bufbuild/protobuf';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-fused-'));
const B = 2;
const MAX_SEQ = 64;

function idsFor(S: number): Int32Array {
  return Int32Array.from({ length: B * S }, (_, i) => (i * 131 + 7) % 256);
}

async function graphNll(ckpt: LoadedCheckpoint, fused: boolean, ids: Int32Array, S: number, dtype: GraphDType = 'float32'): Promise<Float32Array> {
  const model = buildLlamaGraph(ckpt, { dtype, mode: 'dense', capture: false, maxSeq: MAX_SEQ, fused });
  const sess = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  try {
    const out = await sess.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, (x) => BigInt(x)), [B, S]) });
    return out.nll.data as Float32Array;
  } finally {
    await sess.release();
  }
}

async function checkFused(name: string, dir: string, lengths = [12, 7, 37]) {
  const ckpt = await loadCheckpoint(dir);
  const ref = createReferenceRunner(ckpt);
  for (const S of lengths) {
    const ids = idsFor(S);
    const fused = await graphNll(ckpt, true, ids, S);
    const plain = await graphNll(ckpt, false, ids, S);
    const want = (await ref.forward({ ids, batch: B, seqLen: S, mode: { kind: 'dense' } })).nll;
    expect(fused.length).toBe(B * (S - 1));
    expect(maxAbs(fused, want), `${name} S=${S} fused vs reference`).toBeLessThan(1e-4);
    expect(maxAbs(fused, plain), `${name} S=${S} fused vs plain`).toBeLessThan(1e-4);
  }
}

describe.each(TINY_FAMILY_CASES)('fused %s (%s)', (family, activation) => {
  test('per-token NLL matches the reference forward and the plain graph', async () => {
    const dir = writeTinyCheckpoint(path.join(tmp, `${family}-${activation}`), family, { activation, seed: 3 });
    await checkFused(`${family}/${activation}`, dir);
  });
});

test('fused: GQA with 4 query heads per kv head, gpt_neox sequential full rotary, llama3 rope scaling', async () => {
  const extra: [string, TinyFamily, TinyOptions, ((cfg: Record<string, unknown>) => void)?][] = [
    ['gqa-8-2', 'llama', { activation: 'silu', seed: 7, hidden: 64, heads: 8, kvHeads: 2 }],
    ['neox-seq', 'gpt_neox', { activation: 'gelu', seed: 4, parallelResidual: false, rotaryPct: 1 }],
    ['llama3', 'llama', { activation: 'silu', seed: 6 }, (cfg) => {
      cfg.rope_scaling = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 };
      cfg.rope_theta = 500;
    }],
  ];
  for (const [name, family, opts, patch] of extra) {
    const dir = writeTinyCheckpoint(path.join(tmp, name), family, opts);
    if (patch) {
      const cfgFile = path.join(dir, 'config.json');
      const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
      patch(cfg);
      fs.writeFileSync(cfgFile, JSON.stringify(cfg));
    }
    await checkFused(name, dir, [12, 45]);
  }
});

test('fused fp16 graph runs on CPU and stays within 2e-2 relative of the fp32 plain graph', async () => {
  const dir = writeTinyCheckpoint(path.join(tmp, 'fp16'), 'mistral', { activation: 'silu', seed: 5 });
  const ckpt = await loadCheckpoint(dir);
  const S = 19;
  const ids = idsFor(S);
  const a = await graphNll(ckpt, false, ids, S, 'float32');
  const b = await graphNll(ckpt, true, ids, S, 'float16');
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i]) / Math.abs(a[i])).toBeLessThan(2e-2);
});

test('fused graph: contrib ops imported from com.microsoft v1, no Transpose or causal table left', async () => {
  const dir = writeTinyCheckpoint(path.join(tmp, 'ops'), 'qwen2', { activation: 'silu', seed: 2 });
  const ckpt = await loadCheckpoint(dir);
  const m = fromBinary(ModelProtoSchema, buildLlamaGraph(ckpt, { dtype: 'float32', mode: 'dense', capture: false, maxSeq: MAX_SEQ, fused: true }));
  expect(m.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 17], ['com.microsoft', 1]]);
  const ops = m.graph!.node.map((n) => `${n.domain}:${n.opType}`);
  expect(ops.filter((o) => o === 'com.microsoft:MultiHeadAttention')).toHaveLength(ckpt.spec.numLayers);
  expect(ops.filter((o) => o === 'com.microsoft:RotaryEmbedding')).toHaveLength(2 * ckpt.spec.numLayers);
  expect(ops.filter((o) => o === ':SimplifiedLayerNormalization')).toHaveLength(2 * ckpt.spec.numLayers + 1);
  expect(ops).not.toContain(':Transpose');
  expect(m.graph!.initializer.map((t) => t.name)).not.toContain('causal');
  // the plain graph imports only the default domain
  const plain = fromBinary(ModelProtoSchema, buildLlamaGraph(ckpt, { dtype: 'float32', mode: 'dense', capture: false, maxSeq: MAX_SEQ }));
  expect(plain.opsetImport.map((o) => o.domain)).toEqual(['']);
});
