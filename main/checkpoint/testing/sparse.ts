/**
 * Large checkpoints for tests, made at test time without using the disk: real safetensors headers and config.json,
 * the tensor data a hole (ftruncate), so a gigabyte-sized folder costs a few kilobytes and reads as zeros. Delete the
 * folder after.
 */
import fs from 'node:fs';
import path from 'node:path';

/** A safetensors file (F32 unless told) whose header is real and whose data are a hole of the right length; returns its size. */
export function writeSparseSafetensors(file: string, tensors: { name: string; shape: number[] }[], dtype: 'F32' | 'F16' | 'BF16' = 'F32'): number {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1) * (dtype === 'F32' ? 4 : 2);
    header[t.name] = { dtype, shape: t.shape, data_offsets: [off, off + n] };
    off += n;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8);
  const head = Buffer.alloc(8 + json.length);
  head.writeBigUInt64LE(BigInt(json.length), 0);
  head.write(json, 8, 'utf8');
  fs.writeFileSync(file, head);
  fs.truncateSync(file, head.length + off);
  return head.length + off;
}

/** The tensors of llama layer `l` (attention, gated FFN, both norms) for hidden size h and FFN width F, HF names. */
export function llamaLayerTensors(l: number, h: number, F: number): { name: string; shape: number[] }[] {
  return [
    ...['q', 'k', 'v', 'o'].map((x) => ({ name: `model.layers.${l}.self_attn.${x}_proj.weight`, shape: [h, h] })),
    { name: `model.layers.${l}.mlp.gate_proj.weight`, shape: [F, h] },
    { name: `model.layers.${l}.mlp.up_proj.weight`, shape: [F, h] },
    { name: `model.layers.${l}.mlp.down_proj.weight`, shape: [h, F] },
    { name: `model.layers.${l}.input_layernorm.weight`, shape: [h] },
    { name: `model.layers.${l}.post_attention_layernorm.weight`, shape: [h] },
  ];
}

/** config.json of a float32 silu llama of this shape (heads = KV heads, 16 unless given) */
export function llamaConfig(o: { hidden: number; intermediate: number; layers: number; vocab: number; heads?: number; maxPositions?: number; tied?: boolean }): Record<string, unknown> {
  const H = o.heads ?? 16;
  return { model_type: 'llama', hidden_size: o.hidden, intermediate_size: o.intermediate, num_hidden_layers: o.layers, num_attention_heads: H, num_key_value_heads: H, vocab_size: o.vocab, max_position_embeddings: o.maxPositions ?? 2048, hidden_act: 'silu', rms_norm_eps: 1e-5, tie_word_embeddings: o.tied ?? true, torch_dtype: 'float32' };
}

/** A llama folder (config.json + model.safetensors, tied embeddings, no tokenizer) of this shape; returns its bytes. */
export function writeSparseLlama(dir: string, o: { hidden: number; intermediate: number; layers: number; vocab: number; heads?: number; dtype?: 'F32' | 'F16' | 'BF16' }): number {
  const { hidden: h, intermediate: F, layers: L, vocab: V } = o;
  fs.mkdirSync(dir, { recursive: true });
  const tensors = [{ name: 'model.embed_tokens.weight', shape: [V, h] }, { name: 'model.norm.weight', shape: [h] }];
  for (let l = 0; l < L; l++) tensors.push(...llamaLayerTensors(l, h, F));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(llamaConfig(o)));
  return writeSparseSafetensors(path.join(dir, 'model.safetensors'), tensors, o.dtype);
}

/**
 * Writes `bytes` (a serialised model, say) leaving every all-zero MiB a hole: an .onnx file whose large initializer is
 * zeros costs the disk only its non-zero parts. Returns its size.
 */
export function writeSparseBytes(file: string, bytes: Uint8Array): number {
  const B = 2 ** 20;
  const fd = fs.openSync(file, 'w');
  try {
    for (let at = 0; at < bytes.length; at += B) {
      const block = bytes.subarray(at, Math.min(bytes.length, at + B));
      if (block.some((x) => x !== 0)) fs.writeSync(fd, block, 0, block.length, at);
    }
    fs.ftruncateSync(fd, bytes.length);
  } finally {
    fs.closeSync(fd);
  }
  return bytes.length;
}
