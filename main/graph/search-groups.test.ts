/**
 * The fused search graph in groups of layers (issue 15: at 7B one [L, tokens, d_f] tensor was 23 GB of fp32 and at the
 * 2.4B shape it passed CUDA's 2^31-element limit): every output of a graph searched G layers at a time is bit for bit
 * that of the graph searching all layers at once (the CETT values to the last fp32 bit), for G = 1, 2 and L, fp32 and fp16, 1 and 2 bisection levels per
 * iteration, token chunks on and off. The group rule keeps one group's tensors within GROUP_ELEMENTS at 16,384 tokens.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { loadCheckpoint } from '../checkpoint/index';
import { writeTinyCheckpoint } from '../checkpoint/testing/tiny';
import { createRunner } from '../inference/index';
import { buildSearchGraph, GROUP_ELEMENTS, searchLayerGroup, type SearchTuning } from './search-graph';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-groups-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('fused search in groups of layers', () => {
  it('chooses groups that keep [G, 16384, d_f] within GROUP_ELEMENTS and every layer in one group when it fits', () => {
    expect(searchLayerGroup({ numLayers: 16, intermediateSize: 1920 })).toBe(16); // the paper's 0.1B: unchanged
    expect(searchLayerGroup({ numLayers: 32, intermediateSize: 11008 })).toBe(2); // LLaMA-2-7B
    expect(searchLayerGroup({ numLayers: 40, intermediateSize: 5760 })).toBe(5); // the paper's 2.4B
    expect(searchLayerGroup({ numLayers: 80, intermediateSize: 28672 })).toBe(1); // 70B
    for (const [L, F] of [[32, 11008], [40, 5760], [80, 28672], [16, 1920]]) {
      const G = searchLayerGroup({ numLayers: L, intermediateSize: F });
      expect(G * 16384 * F).toBeLessThanOrEqual(F > GROUP_ELEMENTS / 16384 ? 16384 * F : GROUP_ELEMENTS);
      expect(G * 16384 * F).toBeLessThan(2 ** 31);
    }
  });

  it('takes the same decisions, with the same outputs, for every group size', async () => {
    const dir = path.join(tmp, 'silu');
    writeTinyCheckpoint(dir, 'llama', { activation: 'silu', hidden: 32, layers: 4, heads: 4, intermediate: 40, vocab: 200, seed: 11, std: 0.2, maxPositions: 64 });
    const ckpt = await loadCheckpoint(dir);
    const runner = await createRunner(ckpt, { provider: 'cpu', maxSeq: 32 });
    const L = 4;
    const B = 2;
    const S = 16;
    let s = 12345;
    const ids = BigInt64Array.from({ length: B * S }, () => BigInt((s = (s * 1103515245 + 12345) >>> 0) % 200));
    const cs = [0.2, 0.04];
    const feeds = () => ({
      input_ids: new ort.Tensor('int64', ids, [B, S]),
      c: new ort.Tensor('float32', Float32Array.from(cs), [cs.length]),
      lo: new ort.Tensor('int64', new BigInt64Array(cs.length * L), [cs.length, L]),
      hi: new ort.Tensor('int64', new BigInt64Array(cs.length * L).fill(65535n), [cs.length, L]),
      iters: new ort.Tensor('int64', new BigInt64Array([16n]), []),
    });
    const tunings: SearchTuning[] = [
      { levels: 1, chunkTokens: 0, nInLoop: false, mask16: true },
      { levels: 2, chunkTokens: 7, nInLoop: false, mask16: true },
    ];
    try {
      for (const dtype of ['float32', 'float16'] as const)
        for (const tuning of tunings) {
          const outs: Record<string, ort.Tensor>[] = [];
          for (const layerGroup of [L, 1, 3]) {
            const model = buildSearchGraph(ckpt, { dtype, maxSeq: 32, colNorms: runner.colNorms, fused: false, tuning, layerGroup });
            const sess = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], logSeverityLevel: 3 });
            outs.push(await sess.run(feeds()));
            await sess.release();
          }
          const [all, ...grouped] = outs;
          // the search did real work: some layers moved off the initial interval
          expect(Array.from(all.lo_final.data as BigInt64Array).some((x) => x > 0n && x < 65535n)).toBe(true);
          for (const o of grouped)
            for (const name of Object.keys(all)) {
              expect(o[name].dims, `${dtype} ${JSON.stringify(tuning)} ${name}`).toEqual(all[name].dims);
              const what = `${dtype} ${JSON.stringify(tuning)} ${name}`;
              const [x, y] = [Array.from(o[name].data as ArrayLike<number | bigint>), Array.from(all[name].data as ArrayLike<number | bigint>)];
              // the CETT values may differ in the last fp32 bit (MLAS blocks a batched MatMul of G layers differently
              // from one of L); every decision taken from them, and everything else, is identical
              if (name === 'eval_cett') x.forEach((v, i) => expect(Math.abs((v as number) - (y[i] as number)), what).toBeLessThanOrEqual(4e-7 * Math.abs(y[i] as number)));
              else expect(x, what).toEqual(y);
            }
        }
    } finally {
      await runner.dispose();
    }
  }, 120_000);
});
