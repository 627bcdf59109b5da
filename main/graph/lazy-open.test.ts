// Issue 15: a checkpoint over 4 GiB (7B-wide layers, two safetensors shards) is opened lazily — headers, config, the
// weights' on-disk plan and the graph's protobuf — without reading its weights: the files are generated sparse (valid
// headers, ftruncate'd data: holes), bytes read are counted by the kernel (/proc/self/io), host RSS must grow < 1 GiB,
// and the files are deleted after.
import { afterAll, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataLocation } from 'onnx-buf';
import { loadCheckpoint } from '../checkpoint/index';
import { llamaConfig, llamaLayerTensors, writeSparseSafetensors } from '../checkpoint/testing/sparse';
import { planWeights } from './weights';
import { buildLlamaGraph } from './llama-graph';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-sparse-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** bytes this process has read through read() calls so far (Linux), undefined elsewhere */
function bytesRead(): number | undefined {
  try {
    return Number(/rchar:\s+(\d+)/.exec(fs.readFileSync('/proc/self/io', 'utf8'))![1]);
  } catch {
    return undefined;
  }
}

test('a > 4 GiB sharded checkpoint opens and gets its graph without reading its weights', () => {
  const [h, F, L, V, H] = [4096, 11008, 5, 32000, 32];
  const layer = (l: number) => llamaLayerTensors(l, h, F);
  const shards = [
    [{ name: 'model.embed_tokens.weight', shape: [V, h] }, ...layer(0), ...layer(1), ...layer(2)],
    [...layer(3), ...layer(4), { name: 'model.norm.weight', shape: [h] }, { name: 'lm_head.weight', shape: [V, h] }],
  ];
  const dir = path.join(tmp, 'big');
  fs.mkdirSync(dir);
  const weightMap: Record<string, string> = {};
  let total = 0;
  shards.forEach((ts, i) => {
    const name = `model-0000${i + 1}-of-00002.safetensors`;
    total += writeSparseSafetensors(path.join(dir, name), ts);
    for (const t of ts) weightMap[t.name] = name;
  });
  expect(total).toBeGreaterThan(4 * 2 ** 30);
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(llamaConfig({ hidden: h, intermediate: F, layers: L, vocab: V, heads: H, maxPositions: 4096, tied: false })));

  const rss0 = process.memoryUsage().rss;
  const read0 = bytesRead();
  return (async () => {
    // hash: false — the content hash is the one step of an open that streams every byte (checkpoint/hf.ts)
    const ckpt = await loadCheckpoint(dir, { hash: false });
    expect([ckpt.spec.numLayers, ckpt.spec.hiddenSize, ckpt.spec.intermediateSize, ckpt.contentHash]).toEqual([L, h, F, '']);
    expect(ckpt.spec.parameters).toBe(shards.flat().reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0));
    expect(ckpt.spec.parameters * 4).toBeGreaterThan(4 * 2 ** 30);
    expect(ckpt.notices.join(' ')).toMatch(/not scanned for NaN\/Inf/);
    // every tensor in place (fp32 graph on the CPU, fp16 for a GPU needs a copy: the plan says so, and how big)
    const cpu = planWeights(ckpt, { dtype: 'float32', halfWeights: true });
    expect(cpu.convertedBytes).toBe(0);
    expect(cpu.inPlaceBytes).toBe(ckpt.spec.parameters * 4);
    const gpu = planWeights(ckpt, { dtype: 'float16' });
    expect(gpu.convertedBytes).toBe(ckpt.spec.parameters * 2);
    expect(gpu.conversions.map((c) => c.reason)).toContain('fp32 → fp16');
    // the graph: protobuf only, every weight an external reference into the shards
    const bytes = buildLlamaGraph(ckpt, { dtype: 'float32', mode: 'dense', capture: false, maxSeq: 64 }, { base: dir });
    expect(bytes.length).toBeLessThan(4 << 20);
    const refs = fromBinary(ModelProtoSchema, bytes).graph!.initializer.filter((t) => t.dataLocation === TensorProto_DataLocation.EXTERNAL);
    expect(refs.reduce((a, t) => a + Number(t.externalData.find((e) => e.key === 'length')!.value), 0)).toBe(ckpt.spec.parameters * 4);
    expect(new Set(refs.map((t) => t.externalData.find((e) => e.key === 'location')!.value))).toEqual(new Set(Object.values(weightMap)));
    const read = bytesRead();
    if (read !== undefined && read0 !== undefined) expect(read - read0).toBeLessThan(64 << 20); // headers, config: not the 5 GB
    expect(process.memoryUsage().rss - rss0).toBeLessThan(2 ** 30);
  })();
}, 60_000);
