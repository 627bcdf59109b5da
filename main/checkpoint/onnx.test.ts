// .onnx checkpoints: a decoder-shaped graph is described (shapes from the graph, parameters counted from
// its initializers), a graph that is not a decoder or has no FFN pattern is refused with what was seen, and
// external data outside the model's folder is refused.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fromBinary, toBinary, create } from '@bufbuild/protobuf';
import { ModelProtoSchema, NodeProtoSchema, StringStringEntryProtoSchema, TensorProtoSchema } from 'onnx-buf';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder, DT } from '../graph/onnx-builder';
import { inspectCheckpoint, loadCheckpoint } from './index';
import { byteLevelTokenizerJson } from './testing/tiny';
import { findFfnBlocks } from './onnx-ffn';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-onnx-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const d = 8, F = 20, V = 30, L = 3;
const zeros = (n: number) => new Float32Array(n);

type Wrap = (g: GraphBuilder, y: string, l: number) => string;
/**
 * embed → L × (gate/up MatMul → act (→ Mul) → down MatMul + residual) → lm_head MatMul. `gated` may differ by layer;
 * 'Silu' non-gated is h·sigmoid(h) of one projection h; `wrap` rewrites each gate/up projection's output (the
 * exporters' Reshape/Identity/Cast wrappers).
 */
function decoder(gated: boolean | ((l: number) => boolean), act: 'Relu' | 'Sigmoid' | 'Silu', wrap: Wrap = (_g, y) => y): Uint8Array {
  const g = new GraphBuilder('tiny');
  const ids = g.input('input_ids', DT.INT64, ['b', 't']);
  let x = g.op('Gather', [g.init('embed', DT.FLOAT, [V, d], zeros(V * d)), ids]);
  for (let l = 0; l < L; l++) {
    const up = wrap(g, g.op('MatMul', [x, g.init(`up${l}`, DT.FLOAT, [d, F], zeros(d * F))]), l);
    let a: string;
    if (typeof gated === 'function' ? gated(l) : gated) {
      const gate = wrap(g, g.op('MatMul', [x, g.init(`gate${l}`, DT.FLOAT, [d, F], zeros(d * F))]), l);
      const s = act === 'Relu' ? g.op('Relu', [gate]) : g.op('Mul', [gate, g.op('Sigmoid', [gate])]);
      a = g.op('Mul', [s, up]);
    } else {
      const h = g.op('Add', [up, g.init(`b${l}`, DT.FLOAT, [F], zeros(F))]);
      a = act === 'Silu' ? g.op('Mul', [h, g.op('Sigmoid', [h])]) : g.op(act, [h]);
    }
    x = g.op('Add', [x, g.op('MatMul', [a, g.init(`down${l}`, DT.FLOAT, [F, d], zeros(F * d))])]);
  }
  g.op('MatMul', [x, g.init('lm_head', DT.FLOAT, [d, V], zeros(d * V))], {}, 'logits');
  g.output('logits', DT.FLOAT, ['b', 't', V]);
  return g.build();
}

function save(name: string, bytes: Uint8Array, withTokenizer = true): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  const f = path.join(dir, 'model.onnx');
  fs.writeFileSync(f, bytes);
  if (withTokenizer) fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(byteLevelTokenizerJson(256)));
  return f;
}

describe('onnx checkpoints', () => {
  it('a gated SiLU decoder: shapes, layers and parameters from the graph', async () => {
    const s = await inspectCheckpoint(save('gated', decoder(true, 'Sigmoid')));
    const params = 2 * V * d + L * 3 * d * F; // embed + lm_head + per layer gate, up, down
    expect(s).toMatchObject({ family: 'llama', activation: 'silu', layers: L, hiddenSize: d, intermediateSize: F, vocabSize: V, gated: true, parameters: params, nonEmbeddingParameters: params - 2 * V * d, dtype: 'float32', tokenizer: 'tokenizer.json' });
    expect(s.notices.join(' ')).toMatch(/no config\.json/);
  });

  it('initializers the outputs never read are not parameters: an unused large one, one read only by a dead node', async () => {
    const m = fromBinary(ModelProtoSchema, decoder(true, 'Sigmoid'));
    const big = 50_000; // fp16, more elements than the whole model: counted, it would also make the dtype float16
    m.graph!.initializer.push(create(TensorProtoSchema, { name: 'unused', dims: [BigInt(big)], dataType: DT.FLOAT16, rawData: new Uint8Array(2 * big) }));
    m.graph!.initializer.push(create(TensorProtoSchema, { name: 'dead_w', dims: [BigInt(d), 7n], dataType: DT.FLOAT, rawData: new Uint8Array(4 * d * 7) }));
    m.graph!.node.push(create(NodeProtoSchema, { opType: 'MatMul', input: [m.graph!.node[0].output[0], 'dead_w'], output: ['dead_out'], name: 'dead' }));
    const s = await inspectCheckpoint(save('unused-init', toBinary(ModelProtoSchema, m)));
    const params = 2 * V * d + L * 3 * d * F; // as the same decoder without them
    expect(s).toMatchObject({ layers: L, parameters: params, nonEmbeddingParameters: params - 2 * V * d, dtype: 'float32' });
  });

  it('layers are the FFN blocks found (those W_out comes from): another [F, d] projection that no activation feeds is not one', async () => {
    const m = fromBinary(ModelProtoSchema, decoder(true, 'Sigmoid'));
    const gr = m.graph!;
    const up0 = gr.node.find((n) => n.opType === 'MatMul' && n.input[1] === 'up0')!.output[0];
    const logits = gr.node.find((n) => n.output[0] === 'logits')!;
    // x_L + up0 · W_side [F, d] into the LM head: an [F, d] MatMul whose input is a projection, not an activation
    gr.initializer.push(create(TensorProtoSchema, { name: 'side', dims: [BigInt(F), BigInt(d)], dataType: DT.FLOAT, rawData: new Uint8Array(4 * F * d) }));
    gr.node.splice(gr.node.indexOf(logits), 0, create(NodeProtoSchema, { opType: 'MatMul', input: [up0, 'side'], output: ['side_out'] }), create(NodeProtoSchema, { opType: 'Add', input: [logits.input[0], 'side_out'], output: ['x_side'] }));
    logits.input[0] = 'x_side';
    const c = await loadCheckpoint(save('side-proj', toBinary(ModelProtoSchema, m)));
    expect(c.spec).toMatchObject({ numLayers: L, intermediateSize: F, gated: true, parameters: 2 * V * d + L * 3 * d * F + F * d });
    expect([...c.weights.keys()]).toEqual(Array.from({ length: L }, (_, l) => `layers.${l}.mlp.down.weight`));
  });

  it('gated or not is what the FFN blocks found say (the card and the instrumented graph): wrappers seen through, x·sigmoid(x) is not gated', () => {
    const blocks = (bytes: Uint8Array) => findFfnBlocks(fromBinary(ModelProtoSchema, bytes), 'model.onnx').map((b) => ({ gated: b.gated, up: b.up, gate: b.gate }));
    const gatedBlocks = Array.from({ length: L }, (_, l) => ({ gated: true, up: `up${l}`, gate: `gate${l}` }));
    // each projection's output through Cast (to float and back), Identity, Reshape to 2-D and back: still gated
    const wrapped: Wrap = (g, y) => {
      const back = g.op('Shape', [y]);
      const flat = g.op('Reshape', [g.op('Identity', [g.op('Cast', [g.op('Cast', [y], { to: DT.FLOAT16 })], { to: DT.FLOAT })]), g.i64(g.fresh('s'), [-1, F])]);
      return g.op('Identity', [g.op('Reshape', [flat, back])]);
    };
    for (const act of ['Sigmoid', 'Relu'] as const) {
      expect(blocks(decoder(true, act))).toEqual(gatedBlocks);
      expect(blocks(decoder(true, act, wrapped)), act).toEqual(gatedBlocks);
    }
    // one projection h, activation h·sigmoid(h): the Mul's factors both come from the up projection — not gated
    const silu = Array.from({ length: L }, (_, l) => ({ gated: false, up: `up${l}`, gate: undefined }));
    expect(blocks(decoder(false, 'Silu'))).toEqual(silu);
    expect(blocks(decoder(false, 'Silu', wrapped))).toEqual(silu);
  });

  it('the card is gated exactly when every block is; blocks of both kinds are refused by name', async () => {
    const wrapped: Wrap = (g, y) => g.op('Identity', [y]);
    expect((await inspectCheckpoint(save('gated-wrapped', decoder(true, 'Sigmoid', wrapped)))).gated).toBe(true);
    expect((await inspectCheckpoint(save('silu-plain', decoder(false, 'Silu')))).gated).toBe(false);
    await expect(loadCheckpoint(save('mixed', decoder((l) => l !== 1, 'Sigmoid')))).rejects.toThrow(/mixed\/model\.onnx: FFN blocks differ in kind: layers 0, 2 are gated .*the other 1 of 3 are not/);
  });

  it('a non-gated ReLU decoder with a config.json beside it takes heads from the config', async () => {
    const f = save('relu', decoder(false, 'Relu'));
    fs.writeFileSync(path.join(path.dirname(f), 'config.json'), JSON.stringify({ model_type: 'opt', hidden_size: d, ffn_dim: F, num_hidden_layers: L, num_attention_heads: 2, vocab_size: V, max_position_embeddings: 64, activation_function: 'relu' }));
    const c = await loadCheckpoint(f);
    expect(c.format).toBe('onnx');
    expect(c.spec).toMatchObject({ family: 'opt', activation: 'relu', numHeads: 2, numLayers: L, intermediateSize: F, gated: false, parameters: 2 * V * d + L * (2 * d * F + F) });
    expect(c.notices).toEqual([]);
  });

  it('bytes that are not ONNX', async () => {
    const f = save('junk', new Uint8Array([0xff, 0xff, 0xff, 0x07, 1, 2, 3]));
    await expect(loadCheckpoint(f)).rejects.toThrow(/model\.onnx: not a readable ONNX model/);
  });

  it('an ONNX model that is not a decoder says what it saw', async () => {
    const g = new GraphBuilder('cnn');
    const img = g.input('pixels', DT.FLOAT, [1, 3, 8, 8]);
    g.op('Relu', [g.op('Conv', [img, g.init('k', DT.FLOAT, [4, 3, 3, 3], zeros(108))])], {}, 'y');
    g.output('y', DT.FLOAT);
    await expect(loadCheckpoint(save('cnn', g.build()))).rejects.toThrow(/not a decoder language model: no integer token-id input \(inputs: pixels\)/);
    const h = new GraphBuilder('nofnn');
    const ids = h.input('input_ids', DT.INT64, ['b', 't']);
    h.op('Gather', [h.init('embed', DT.FLOAT, [V, d], zeros(V * d)), ids], {}, 'e');
    h.output('e', DT.FLOAT);
    await expect(loadCheckpoint(save('nofnn', h.build()))).rejects.toThrow(/no feed-forward block found\. Expected MatMul\/Gemm \[d,F\].*node types seen: Gather$/);
    // optimum's merged decoder: the layers live inside an If's branches
    const m = new GraphBuilder('merged');
    const mids = m.input('input_ids', DT.INT64, ['b', 't']);
    m.op('Gather', [m.init('embed', DT.FLOAT, [V, d], zeros(V * d)), mids], {}, 'e');
    m.op('If', [m.input('use_cache_branch', DT.BOOL, [1])], {}, 'logits');
    m.output('logits', DT.FLOAT);
    await expect(loadCheckpoint(save('merged', m.build()))).rejects.toThrow(/node types seen: Gather, If\. This looks like a merged decoder .*decoder_model\.onnx/);
  });

  it('external data outside the folder is refused; inside, a short file is caught', async () => {
    const model = fromBinary(ModelProtoSchema, decoder(true, 'Relu'));
    const t = model.graph!.initializer.find((x) => x.name === 'down1')!;
    t.rawData = new Uint8Array(0);
    t.dataLocation = 1;
    const ext = (loc: string, length = F * d * 4) => [
      create(StringStringEntryProtoSchema, { key: 'location', value: loc }),
      create(StringStringEntryProtoSchema, { key: 'offset', value: '0' }),
      create(StringStringEntryProtoSchema, { key: 'length', value: String(length) }),
    ];
    t.externalData = ext('../../../etc/passwd');
    const f = save('ext-out', toBinary(ModelProtoSchema, model));
    await expect(loadCheckpoint(f)).rejects.toThrow(/external data '\.\.\/\.\.\/\.\.\/etc\/passwd', outside the model's folder: refused/);
    t.externalData = ext('/etc/passwd');
    await expect(loadCheckpoint(save('ext-abs', toBinary(ModelProtoSchema, model)))).rejects.toThrow(/outside the model's folder/);
    t.externalData = ext('weights.bin');
    const g = save('ext-ok', toBinary(ModelProtoSchema, model));
    fs.writeFileSync(path.join(path.dirname(g), 'weights.bin'), Buffer.alloc(10));
    await expect(loadCheckpoint(g)).rejects.toThrow(/claims bytes 0\.\.640 of 'weights\.bin', which holds 10/);
    fs.writeFileSync(path.join(path.dirname(g), 'weights.bin'), Buffer.alloc(F * d * 4));
    const c = await loadCheckpoint(g);
    expect(c.spec.numLayers).toBe(L);
  });
});
