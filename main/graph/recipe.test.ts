// What a graph build converts itself (recipe.ts convertedByBuild, which decides whether it goes to the graph worker):
// every converted tensor of the plan when nothing is prepared, none when the cache's converted copies hold them all,
// and exactly the bytes the builder reports converting (Decoder.weightBytes through the builder's own counters).
import { expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCheckpoint } from '../checkpoint/load';
import { writeTinyCheckpoint } from '../checkpoint/testing/tiny';
import { DT, GraphBuilder } from './onnx-builder';
import { makeDecoder } from './llama-graph';
import { buildGraph, convertedByBuild, type GraphRecipe } from './recipe';
import { planWeights } from './weights';

test('convertedByBuild: the plan’s conversions the build makes itself, none of those prepared on disk', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-recipe-'));
  try {
    const ckpt = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'bf16'), 'qwen2', { seed: 7, layers: 2, dtype: 'BF16' }));
    const options = { dtype: 'float16' as const, mode: 'dense' as const, capture: false, maxSeq: 16 };
    const r: GraphRecipe = { kind: 'decoder', options };
    const plan = planWeights(ckpt, options);
    expect(plan.convertedBytes).toBeGreaterThan(0);
    const ext = { base: tmp };
    expect(convertedByBuild(ckpt, r, ext)).toBe(plan.convertedBytes);
    // what the decoder itself counts as converted while building every layer and the head
    const g = new GraphBuilder();
    g.refsFrom(tmp);
    const dec = makeDecoder(g, ckpt, options);
    const ids = g.input('ids', DT.INT64, ['B', 'S']);
    dec.headNll(dec.stream(ids, (_l, _s, a) => a, true).final!, ids);
    expect(dec.weightBytes.converted).toBe(plan.convertedBytes);
    // with every converted tensor prepared on disk (the graph cache's copies) the build converts nothing
    const converted = new Map([...plan.tensors.values()].filter((p) => p.reason).map((p) => [p.name, { file: path.join(tmp, 'w.data'), offset: 0, length: p.bytes, dtype: 'float16' as const, transposed: false }]));
    expect(convertedByBuild(ckpt, r, { base: tmp, converted })).toBe(0);
    // without a folder for references everything is converted
    expect(convertedByBuild(ckpt, r)).toBe(planWeights(ckpt, options, false).convertedBytes);
    expect(buildGraph(ckpt, r, ext).length).toBeGreaterThan(0);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
