// Guards the demo-lab files that ship in resources/demo-lab/ (issue 9): the two bundled checkpoints are
// well-formed HF LLaMA folders whose safetensors match their config, the tokenizer loads in the app's
// tokenizer library and round-trips the shipped eval text, and LICENSES.md names the eval text's hash.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';

const ROOT = path.resolve(__dirname, '../../resources/demo-lab');

interface Header { [name: string]: { dtype: string; shape: number[]; data_offsets: [number, number] } }

function readHeader(file: string): { header: Header; dataStart: number; size: number } {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Header & { __metadata__?: unknown };
  delete header.__metadata__;
  return { header, dataStart: 8 + n, size: buf.length };
}

/** Tensor shapes an HF LlamaForCausalLM with tied embeddings must hold, derived from config.json alone. */
function expectedShapes(c: Record<string, number>): Record<string, number[]> {
  const d = c.hidden_size, f = c.intermediate_size, hd = c.head_dim;
  const q = c.num_attention_heads * hd, kv = c.num_key_value_heads * hd;
  const s: Record<string, number[]> = { 'model.embed_tokens.weight': [c.vocab_size, d], 'model.norm.weight': [d] };
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}.`;
    Object.assign(s, {
      [`${p}input_layernorm.weight`]: [d], [`${p}post_attention_layernorm.weight`]: [d],
      [`${p}self_attn.q_proj.weight`]: [q, d], [`${p}self_attn.k_proj.weight`]: [kv, d],
      [`${p}self_attn.v_proj.weight`]: [kv, d], [`${p}self_attn.o_proj.weight`]: [d, q],
      [`${p}mlp.gate_proj.weight`]: [f, d], [`${p}mlp.up_proj.weight`]: [f, d], [`${p}mlp.down_proj.weight`]: [d, f],
    });
  }
  return s;
}

describe('demo lab shipped models', () => {
  for (const act of ['relu', 'silu']) {
    it(`${act}: config and fp16 safetensors agree, file small enough`, () => {
      const dir = path.join(ROOT, 'models', act);
      const c = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      expect(c.model_type).toBe('llama');
      expect(c.hidden_act).toBe(act);
      expect(c.tie_word_embeddings).toBe(true);
      expect(c.intermediate_size).toBe(2.5 * c.hidden_size);
      const file = path.join(dir, 'model.safetensors');
      const { header, dataStart, size } = readHeader(file);
      expect(size).toBeLessThanOrEqual(1.5e6);
      const want = expectedShapes(c);
      expect(Object.keys(header).sort()).toEqual(Object.keys(want).sort());
      const spans: [number, number][] = [];
      for (const [name, t] of Object.entries(header)) {
        expect(t.dtype, name).toBe('F16');
        expect(t.shape, name).toEqual(want[name]);
        expect(t.data_offsets[1] - t.data_offsets[0], name).toBe(2 * t.shape.reduce((a, b) => a * b, 1));
        spans.push(t.data_offsets);
      }
      spans.sort((a, b) => a[0] - b[0]);
      spans.forEach((s, i) => expect(s[0]).toBe(i === 0 ? 0 : spans[i - 1][1]));
      expect(dataStart + spans[spans.length - 1][1]).toBe(size);
    });
  }
});

describe('demo lab tokenizer and eval text', () => {
  const evalText = fs.readFileSync(path.join(ROOT, 'eval.txt'), 'utf8');

  it('eval.txt is at most 2 MB and LICENSES.md names its sha256', () => {
    const bytes = fs.readFileSync(path.join(ROOT, 'eval.txt'));
    expect(bytes.length).toBeLessThanOrEqual(2 * 1024 * 1024);
    const sha = createHash('sha256').update(bytes).digest('hex');
    expect(fs.readFileSync(path.join(ROOT, 'LICENSES.md'), 'utf8')).toContain(sha);
  });

  it('tokenizer.json loads in @huggingface/tokenizers and round-trips text exactly', () => {
    const dir = path.join(ROOT, 'models', 'relu');
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
    expect(fs.readFileSync(path.join(ROOT, 'models', 'silu', 'tokenizer.json'), 'utf8')).toBe(JSON.stringify(json));
    const tok = new Tokenizer(json, cfg);
    expect(Object.keys(json.model.vocab)).toHaveLength(4096);
    for (const text of [evalText.slice(0, 40_000), evalText.slice(-20_000), 'Zoë’s “naïve” café — 日本 🙂\n\ttabs  and  spaces']) {
      const ids = tok.encode(text, { add_special_tokens: false }).ids;
      expect(Math.max(...ids)).toBeLessThan(4096);
      expect(tok.decode(ids, { skip_special_tokens: false })).toBe(text);
    }
    // BPE compresses English prose: fewer tokens than bytes/2.5 (measured 3.43 bytes/token on eval.txt).
    const sample = evalText.slice(0, 40_000);
    expect(tok.encode(sample, { add_special_tokens: false }).ids.length).toBeLessThan(Buffer.byteLength(sample) / 2.5);
    expect(tok.encode('<|endoftext|>', { add_special_tokens: false }).ids).toEqual([0]);
  });
});
