// The bad-input corpus of issue 3: each damaged checkpoint gives a LabError that names the file and the problem.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from './index';
import { readSafetensorsHeader, writeSafetensors } from './safetensors';
import { writeTinyCheckpoint } from './testing/tiny';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-bad-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = () => writeTinyCheckpoint(path.join(tmp, `c${n++}`), 'llama', { seed: 1, layers: 2 });

/** Rewrites model.safetensors with a header edited by `edit` (data bytes kept). */
function editHeader(dir: string, edit: (h: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void): string {
  const f = path.join(dir, 'model.safetensors');
  const buf = fs.readFileSync(f);
  const n = Number(buf.readBigUInt64LE(0));
  const h = JSON.parse(buf.toString('utf8', 8, 8 + n));
  edit(h);
  const hb = Buffer.from(JSON.stringify(h));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hb.length));
  fs.writeFileSync(f, Buffer.concat([len, hb, buf.subarray(8 + n)]));
  return f;
}

async function fails(dir: string, re: RegExp, file = 'model.safetensors'): Promise<void> {
  const err = await loadCheckpoint(dir).then(
    () => undefined,
    (e: Error & { code?: string }) => e,
  );
  expect(err, 'expected an error').toBeDefined();
  expect(err!.name).toBe('LabError');
  expect(err!.message).toContain(file);
  expect(err!.message).toMatch(re);
}

describe('safetensors', () => {
  it('truncated file', async () => {
    const dir = fresh();
    const f = path.join(dir, 'model.safetensors');
    fs.truncateSync(f, fs.statSync(f).size - 100);
    await fails(dir, /truncated/);
  });

  it('header length larger than the file', async () => {
    const dir = fresh();
    const f = path.join(dir, 'model.safetensors');
    const buf = fs.readFileSync(f);
    buf.writeBigUInt64LE(BigInt(buf.length * 4), 0);
    fs.writeFileSync(f, buf);
    await fails(dir, /header length \d+ is larger than the file/);
  });

  it('file shorter than the 8-byte length', async () => {
    const dir = fresh();
    fs.writeFileSync(path.join(dir, 'model.safetensors'), Buffer.from([1, 2, 3]));
    await fails(dir, /too short/);
  });

  it('header that lies about a shape', async () => {
    const dir = fresh();
    editHeader(dir, (h) => (h['model.norm.weight'].shape = [64]));
    await fails(dir, /model\.norm\.weight.*\[64\].*256 bytes.*128 bytes/);
  });

  it('header with overlapping offsets', async () => {
    const dir = fresh();
    editHeader(dir, (h) => {
      const a = h['model.layers.0.input_layernorm.weight'];
      h['model.norm.weight'].data_offsets = [...a.data_offsets];
    });
    await fails(dir, /overlap/);
  });

  it('offsets past the end of the data', async () => {
    const dir = fresh();
    editHeader(dir, (h) => (h['model.norm.weight'].data_offsets = [1e9, 1e9 + 128]));
    await fails(dir, /data ends at byte .* holds only/);
  });

  it('header that is not JSON', async () => {
    const dir = fresh();
    const f = path.join(dir, 'model.safetensors');
    const buf = fs.readFileSync(f);
    buf.write('@@@@', 8);
    fs.writeFileSync(f, buf);
    await fails(dir, /not valid JSON/);
  });

  it('unknown dtype, and a non-float dtype where a weight is expected', async () => {
    const dir = fresh();
    editHeader(dir, (h) => (h['model.norm.weight'].dtype = 'F99'));
    await fails(dir, /unknown dtype 'F99'/);
    const dir2 = fresh();
    editHeader(dir2, (h) => (h['model.norm.weight'].dtype = 'I32'));
    await fails(dir2, /model\.norm\.weight.*dtype I32.*F32, F16 or BF16/);
  });

  it('missing tensor', async () => {
    const dir = fresh();
    editHeader(dir, (h) => delete h['model.layers.1.mlp.down_proj.weight']);
    await fails(dir, /missing tensor for 'layers\.1\.mlp\.down\.weight'.*\[32,80\]/);
  });

  it('tensor whose shape disagrees with config.json', async () => {
    const dir = fresh();
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    cfg.intermediate_size = 96;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
    // the tensor as the file names it, not the adapter's internal name ('layers.0.mlp.gate.weight')
    await fails(dir, /tensor 'model\.layers\.0\.mlp\.(gate|up)_proj\.weight' has shape \[80,32\] but config\.json implies \[96,32\]/);
  });

  it('NaN/Inf weights give a notice, not an error', async () => {
    const dir = fresh();
    const f = path.join(dir, 'model.safetensors');
    const entries = readSafetensorsHeader(f);
    const e = entries.find((x) => x.name === 'model.layers.0.mlp.up_proj.weight')!;
    const buf = fs.readFileSync(f);
    buf.writeFloatLE(NaN, e.offset);
    buf.writeFloatLE(Infinity, e.offset + 8);
    fs.writeFileSync(f, buf);
    const c = await loadCheckpoint(dir);
    expect(c.notices.join('\n')).toMatch(/layers\.0\.mlp\.up\.weight' holds 2 NaN\/Inf values/);
  });

  it('sharded index pointing at a missing shard or a file outside the folder', async () => {
    const dir = writeTinyCheckpoint(path.join(tmp, 'sh'), 'llama', { format: 'sharded' });
    fs.rmSync(path.join(dir, 'model-00002-of-00002.safetensors'));
    await fails(dir, /shard 'model-00002-of-00002\.safetensors' listed in the index is missing/, 'model.safetensors.index.json');
    const idx = path.join(dir, 'model.safetensors.index.json');
    fs.writeFileSync(idx, JSON.stringify({ weight_map: { a: '../../etc/passwd' } }));
    await fails(dir, /not a plain file name/, 'model.safetensors.index.json');
  });
});

describe('config.json', () => {
  const cases: [string, (c: Record<string, unknown>) => void, RegExp][] = [
    ['missing hidden_size', (c) => delete c.hidden_size, /field 'hidden_size' is missing/],
    ['negative layers', (c) => (c.num_hidden_layers = -3), /field 'num_hidden_layers' is -3, outside/],
    ['absurd vocab', (c) => (c.vocab_size = 1e12), /field 'vocab_size' is 1000000000000, outside/],
    ['string heads', (c) => (c.num_attention_heads = 'four'), /field 'num_attention_heads' must be an integer/],
    ['unknown activation', (c) => (c.hidden_act = 'swiglu_magic'), /field 'hidden_act' is 'swiglu_magic'/],
    ['heads not a multiple of kv heads', (c) => (c.num_key_value_heads = 3), /num_attention_heads \(4\) is not a multiple of num_key_value_heads \(3\)/],
    ['fatrelu without its threshold', (c) => (c.hidden_act = 'fatrelu'), /field 'hidden_act_param' is missing/],
    ['NaN rope theta', (c) => (c.rope_theta = 'NaN'), /field 'rope_theta' must be a finite number/],
    // these were ignored: the model ran unscaled, or with rope_theta 10000, and said nothing
    ['rope_scaling a string', (c) => (c.rope_scaling = 'yes'), /field 'rope_scaling' must be an object or null, got "yes"/],
    ['rope_parameters a list', (c) => (c.rope_parameters = [1]), /field 'rope_parameters' must be an object or null, got \[1\]/],
    ['rope_parameters.rope_theta a string', (c) => (c.rope_parameters = { rope_type: 'default', rope_theta: '500000' }), /field 'rope_parameters.rope_theta' must be a finite number, got "500000"/],
  ];
  for (const [name, edit, re] of cases)
    it(name, async () => {
      const dir = fresh();
      const f = path.join(dir, 'config.json');
      const c = JSON.parse(fs.readFileSync(f, 'utf8'));
      edit(c);
      fs.writeFileSync(f, JSON.stringify(c));
      await fails(dir, re, 'config.json');
    });

  it('config.json that is not JSON, and a folder without one', async () => {
    const dir = fresh();
    fs.writeFileSync(path.join(dir, 'config.json'), '{ nope');
    await fails(dir, /not valid JSON/, 'config.json');
    fs.rmSync(path.join(dir, 'config.json'));
    await fails(dir, /no config\.json/, dir);
  });

  it('a JSON file that is a device, a named pipe, a folder or far too large is refused before it is read', async () => {
    // /dev/zero was read for ever (memory until the process died), a FIFO blocked the open until a writer came, a
    // 17 MiB config.json was read whole into one string
    const dir = fresh();
    const cfg = path.join(dir, 'config.json');
    const text = fs.readFileSync(cfg, 'utf8');
    fs.rmSync(cfg);
    fs.symlinkSync('/dev/zero', cfg);
    await fails(dir, /config\.json: is a device, not a JSON file$/, 'config.json');
    fs.rmSync(cfg);
    execFileSync('mkfifo', [cfg]);
    await fails(dir, /config\.json: is a named pipe \(FIFO\), not a JSON file$/, 'config.json');
    fs.rmSync(cfg);
    fs.writeFileSync(cfg, text + ' '.repeat(17 * 2 ** 20));
    await fails(dir, /config\.json: 17\d{6} bytes, far larger than such a file is \(limit 16777216\): not a checkpoint's JSON file$/, 'config.json');
    fs.writeFileSync(cfg, text);
    const tok = path.join(dir, 'tokenizer.json');
    fs.rmSync(tok);
    fs.mkdirSync(tok);
    await fails(dir, /tokenizer\.json: is a folder, not a JSON file$/, 'tokenizer.json');
  });

  it('weight files and tokenizer.model that are named pipes are refused before they are opened (the open blocked for ever)', async () => {
    const dir = fresh();
    const st = path.join(dir, 'model.safetensors');
    fs.rmSync(st);
    execFileSync('mkfifo', [st]);
    await fails(dir, /model\.safetensors: is a named pipe \(FIFO\), not a safetensors file$/);
    fs.rmSync(st);
    const bin = path.join(dir, 'pytorch_model.bin');
    execFileSync('mkfifo', [bin]);
    await fails(dir, /pytorch_model\.bin: is a named pipe \(FIFO\), not a PyTorch checkpoint file$/, 'pytorch_model.bin');
    const ok = fresh();
    fs.rmSync(path.join(ok, 'tokenizer.json'));
    execFileSync('mkfifo', [path.join(ok, 'tokenizer.model')]);
    await fails(ok, /tokenizer\.model: is a named pipe \(FIFO\), not a SentencePiece model$/, 'tokenizer.model');
  });

  it('a folder without weights', async () => {
    const dir = fresh();
    fs.rmSync(path.join(dir, 'model.safetensors'));
    await fails(dir, /no weights found/, dir);
  });
});

describe('tokenizer files', () => {
  // a tokenizer_config.json that was a list was reported as tokenizer.json's fault; a bos_token of another type was
  // taken as "no BOS token"
  const cases: [string, string, unknown, RegExp][] = [
    ['tokenizer_config.json a list', 'tokenizer_config.json', [1, 2], /tokenizer_config\.json: not a JSON object \(got a list\)$/],
    ['tokenizer.json a number', 'tokenizer.json', 5, /tokenizer\.json: not a JSON object \(got number\)$/],
    ['bos_token a number', 'tokenizer_config.json', { bos_token: 5 }, /tokenizer_config\.json: field 'bos_token' must be a token \(a string, or an object with a string 'content'\), got 5$/],
    ['eos_token content not a string', 'tokenizer_config.json', { eos_token: { content: 7 } }, /tokenizer_config\.json: field 'eos_token' must be a token .*got \{"content":7\}$/],
  ];
  for (const [name, file, value, re] of cases)
    it(name, async () => {
      const dir = fresh();
      fs.writeFileSync(path.join(dir, file), JSON.stringify(value));
      await fails(dir, re, file);
    });
  it('a special token given as a string, an object with content, or null is read', async () => {
    for (const bos of ['<s>', { content: '<s>', lstrip: false }, null]) {
      const dir = fresh();
      fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: bos }));
      await expect(loadCheckpoint(dir)).resolves.toBeDefined();
    }
  });
});

describe('writer round trip', () => {
  it('writeSafetensors → header offsets are contiguous and 8-aligned', () => {
    const f = path.join(tmp, 'w.safetensors');
    writeSafetensors(f, [{ name: 'a', shape: [3], data: Float32Array.of(1, 2, 3) }, { name: 'b', shape: [2, 2], data: Float32Array.of(1, -2, 0.5, 4) }], 'F16');
    const e = readSafetensorsHeader(f);
    expect(e.map((x) => [x.name, x.dtype, x.length])).toEqual([['a', 'F16', 6], ['b', 'F16', 8]]);
    expect((e[0].offset - 8) % 8).toBe(0);
  });
});
