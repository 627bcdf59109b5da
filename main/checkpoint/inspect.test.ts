// inspect / loadCheckpoint on every family's tiny checkpoint. Expected numbers come from the parameter
// formula of each architecture (written out here from the HF modelling code), not from the loader.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inspectCheckpoint, loadCheckpoint } from './index';
import { readSafetensorsHeader, rawFromEntry, decodeToFloat32 } from './safetensors';
import { writeTinyCheckpoint, type TinyFamily } from './testing/tiny';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-inspect-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const h = 32, L = 2, H = 4, F = 80, V = 260, P = 128, hd = 8;

function expected(f: TinyFamily): { total: number; embed: number; kv: number; gated: boolean; activation: string } {
  const lin = (o: number, i: number, b = false) => o * i + (b ? o : 0);
  if (f === 'opt' || f === 'gpt2' || f === 'gpt_neox') {
    const layer = 2 * 2 * h + 4 * lin(h, h, true) + lin(F, h, true) + lin(h, F, true);
    const pos = f === 'opt' ? (P + 2) * h : f === 'gpt2' ? P * h : 0;
    const lm = f === 'gpt_neox' ? V * h : 0; // embed_out is untied
    const embed = V * h + pos + lm;
    return { total: embed + 2 * h + L * layer, embed, kv: H, gated: false, activation: { opt: 'relu', gpt2: 'gelu_tanh', gpt_neox: 'gelu' }[f] };
  }
  const K = f === 'mistral' || f === 'qwen2' ? 2 : H;
  let layer = 2 * h + lin(H * hd, h) + 2 * lin(K * hd, h) + lin(h, H * hd) + 3 * F * h;
  if (f === 'qwen2') layer += H * hd + 2 * K * hd;
  if (f === 'qwen3') layer += 2 * hd;
  const embed = f === 'minicpm' ? V * h : 2 * V * h;
  return { total: embed + h + L * layer, embed, kv: K, gated: true, activation: 'silu' };
}

describe('inspect every family', () => {
  for (const f of ['llama', 'mistral', 'qwen2', 'qwen3', 'minicpm', 'opt', 'gpt2', 'gpt_neox'] as TinyFamily[]) {
    it(f, async () => {
      const dir = writeTinyCheckpoint(path.join(tmp, f), f, { seed: 2 });
      const s = await inspectCheckpoint(dir);
      const e = expected(f);
      expect(s).toMatchObject({
        family: f,
        modelType: f,
        activation: e.activation,
        layers: L,
        hiddenSize: h,
        intermediateSize: F,
        heads: H,
        kvHeads: e.kv,
        vocabSize: V,
        parameters: e.total,
        nonEmbeddingParameters: e.total - e.embed,
        widthDepthRatio: h / L,
        dtype: 'float32',
        gated: e.gated,
        tokenizer: 'tokenizer.json',
        notices: [],
      });
      expect(s.contentHash).toMatch(/^[0-9a-f]{64}$/);
    });
  }

  it('family-specific spec fields', async () => {
    const neox = (await loadCheckpoint(path.join(tmp, 'gpt_neox'))).spec;
    expect([neox.rotaryDim, neox.parallelResidual, neox.norm, neox.tieEmbeddings]).toEqual([2, true, 'layer', false]); // int(8 * 0.25)
    const opt = (await loadCheckpoint(path.join(tmp, 'opt'))).spec;
    expect([opt.positional, opt.positionOffset, opt.maxPositions, opt.mlpBias, opt.tieEmbeddings]).toEqual(['learned', 2, P, true, true]);
    const mini = (await loadCheckpoint(path.join(tmp, 'minicpm'))).spec;
    expect(mini.embedScale).toBe(12);
    expect(mini.residualScale).toBeCloseTo(1.4 / Math.sqrt(2), 12);
    expect(mini.logitScale).toBeCloseTo(1 / (32 / 8), 12);
    const q3 = (await loadCheckpoint(path.join(tmp, 'qwen3'))).spec;
    expect([q3.qkNorm, q3.qkvBias]).toEqual([true, false]);
    const q2 = (await loadCheckpoint(path.join(tmp, 'qwen2'))).spec;
    expect([q2.qkNorm, q2.qkvBias, q2.numKvHeads]).toEqual([false, true, 2]);
  });
});

function rawTensor(file: string, name: string): { shape: number[]; data: Float32Array } {
  const e = readSafetensorsHeader(file).find((x) => x.name === name)!;
  return { shape: e.shape, data: decodeToFloat32(e.dtype, rawFromEntry(e).read(), e.length / 4, name) };
}

describe('fused and transposed layouts', () => {
  it('gpt2: Conv1D [in,out] is transposed and c_attn split into q|k|v columns', async () => {
    const c = await loadCheckpoint(path.join(tmp, 'gpt2'));
    const st = path.join(tmp, 'gpt2', 'model.safetensors');
    const attn = rawTensor(st, 'transformer.h.1.attn.c_attn.weight'); // [h, 3h]
    for (const [i, x] of ['q', 'k', 'v'].entries()) {
      const w = c.weights.get(`layers.1.attn.${x}.weight`)!;
      expect(w.shape).toEqual([h, h]);
      const a = w.toFloat32();
      for (const [o, inp] of [[0, 0], [3, 17], [31, 31], [20, 5]]) expect(a[o * h + inp]).toBe(attn.data[inp * 3 * h + i * h + o]);
    }
    const bias = rawTensor(st, 'transformer.h.1.attn.c_attn.bias').data;
    expect(Array.from(c.weights.get('layers.1.attn.v.bias')!.toFloat32())).toEqual(Array.from(bias.subarray(2 * h, 3 * h)));
    const fc = rawTensor(st, 'transformer.h.0.mlp.c_fc.weight'); // [h, F]
    const up = c.weights.get('layers.0.mlp.up.weight')!;
    expect(up.shape).toEqual([F, h]);
    expect(up.toFloat32()[7 * h + 3]).toBe(fc.data[3 * F + 7]);
  });

  it('gpt_neox: query_key_value rows are per-head [q k v] blocks', async () => {
    const c = await loadCheckpoint(path.join(tmp, 'gpt_neox'));
    const qkv = rawTensor(path.join(tmp, 'gpt_neox', 'model.safetensors'), 'gpt_neox.layers.0.attention.query_key_value.weight'); // [3h, h]
    for (const [which, x] of ['q', 'k', 'v'].entries()) {
      const a = c.weights.get(`layers.0.attn.${x}.weight`)!.toFloat32();
      for (const [head, r, col] of [[0, 0, 0], [1, 3, 9], [3, 7, 31]]) expect(a[(head * hd + r) * h + col]).toBe(qkv.data[(head * 3 * hd + which * hd + r) * h + col]);
    }
  });

  it('opt: fc1/fc2 become mlp.up/mlp.down', async () => {
    const c = await loadCheckpoint(path.join(tmp, 'opt'));
    const fc2 = rawTensor(path.join(tmp, 'opt', 'model.safetensors'), 'model.decoder.layers.1.fc2.weight');
    expect(Array.from(c.weights.get('layers.1.mlp.down.weight')!.toFloat32())).toEqual(Array.from(fc2.data));
    expect(c.weights.has('layers.1.mlp.gate.weight')).toBe(false);
  });
});

describe('storage variants', () => {
  it('fp16, bf16 and sharded files give the fp32 weights (to the precision of the format)', async () => {
    const ref = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'v32'), 'qwen2', { seed: 9 }));
    const sh = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'vsh'), 'qwen2', { seed: 9, format: 'sharded' }));
    expect(fs.existsSync(path.join(tmp, 'vsh', 'model.safetensors.index.json'))).toBe(true);
    for (const [dtype, rel] of [['float16', 2 ** -11], ['bfloat16', 2 ** -8]] as const) {
      const c = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'v' + dtype), 'qwen2', { seed: 9, dtype }));
      expect(c.spec.dtype).toBe(dtype);
      for (const [name, t] of ref.weights) {
        const a = t.toFloat32();
        const b = c.weights.get(name)!.toFloat32();
        let bad = 0;
        for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i] - b[i]) <= Math.abs(a[i]) * rel + 1e-7)) bad++;
        expect(bad, `${dtype} ${name}`).toBe(0);
      }
    }
    expect([...sh.weights.keys()].sort()).toEqual([...ref.weights.keys()].sort());
    for (const [name, t] of ref.weights) expect(Array.from(sh.weights.get(name)!.toFloat32())).toEqual(Array.from(t.toFloat32()));
    expect(sh.spec.parameters).toBe(ref.spec.parameters);
  });
});

function editConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
  const f = path.join(dir, 'config.json');
  const c = JSON.parse(fs.readFileSync(f, 'utf8'));
  edit(c);
  fs.writeFileSync(f, JSON.stringify(c));
}

describe('config.json styles and custom types', () => {
  it('transformers 5.x rope_parameters and text_config nesting', async () => {
    const dir = writeTinyCheckpoint(path.join(tmp, 'v5'), 'llama', { seed: 4 });
    editConfig(dir, (c) => {
      delete c.rope_theta;
      c.rope_parameters = { rope_type: 'llama3', rope_theta: 500000, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 };
    });
    const s = (await loadCheckpoint(dir)).spec;
    expect(s.ropeTheta).toBe(500000);
    expect(s.ropeScaling).toMatchObject({ type: 'llama3', factor: 8, low_freq_factor: 1 });
    editConfig(dir, (c) => {
      const inner = { ...c };
      for (const k of Object.keys(c)) delete c[k];
      Object.assign(c, { model_type: 'llava_like', text_config: inner });
    });
    expect((await loadCheckpoint(dir)).spec).toMatchObject({ family: 'llama', hiddenSize: 32, ropeTheta: 500000 });
  });

  it('gpt_neox in the 5.x layout: rope_parameters with partial_rotary_factor', async () => {
    const dir = writeTinyCheckpoint(path.join(tmp, 'neox5'), 'gpt_neox', { seed: 4 });
    editConfig(dir, (c) => {
      delete c.rotary_pct;
      delete c.rotary_emb_base;
      c.rope_parameters = { rope_type: 'default', rope_theta: 20000, partial_rotary_factor: 0.5 };
    });
    expect((await loadCheckpoint(dir)).spec).toMatchObject({ ropeTheta: 20000, rotaryDim: 4, ropeScaling: undefined });
  });

  it('ProSparse sparsellama with fatrelu loads as llama with a notice; --family forces', async () => {
    const dir = writeTinyCheckpoint(path.join(tmp, 'prosparse'), 'llama', { seed: 4, activation: 'fatrelu', activationParam: 0.01 });
    editConfig(dir, (c) => (c.model_type = 'sparsellama'));
    const c = await loadCheckpoint(dir);
    expect(c.spec).toMatchObject({ family: 'llama', modelType: 'sparsellama', activation: 'fatrelu', activationParam: 0.01 });
    expect(c.notices.join(' ')).toMatch(/sparsellama.*llama/);
    editConfig(dir, (c) => (c.model_type = 'my_sparse_thing'));
    const u = await loadCheckpoint(dir);
    expect(u.spec.family).toBe('llama');
    expect(u.notices.join(' ')).toMatch(/my_sparse_thing.*LLaMA-shaped/);
    const forced = await loadCheckpoint(dir, { family: 'mistral' });
    expect(forced.spec.family).toBe('mistral');
    expect(forced.notices.join(' ')).toMatch(/forced/);
  });

  it('relu2 and gelu_pytorch_tanh activations are read', async () => {
    const a = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'r2'), 'llama', { activation: 'relu2' }));
    expect(a.spec.activation).toBe('relu2');
    const b = await loadCheckpoint(writeTinyCheckpoint(path.join(tmp, 'gt'), 'llama', { activation: 'gelu_tanh' }));
    expect(b.spec.activation).toBe('gelu_tanh');
  });

  it('an unknown architecture names the supported families', async () => {
    const dir = writeTinyCheckpoint(path.join(tmp, 'unk'), 'gpt2');
    editConfig(dir, (c) => (c.model_type = 'bert'));
    await expect(loadCheckpoint(dir)).rejects.toThrow(/model_type 'bert' is not supported.*llama, mistral, qwen2, qwen3, minicpm, opt, gpt2, gpt_neox/);
  });
});
