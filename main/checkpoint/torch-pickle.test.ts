// pytorch_model.bin: hostile pickles (built byte by byte here) are refused by name and nothing runs; a real
// torch.save file (fixture written by PyTorch 1.13, tools/fixtures/make_torch_fixture.py) loads to the same
// tensors as its safetensors twin and as the values torch printed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from './index';
import { readShardedTorchBin, readTorchBin } from './torch-pickle';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-pickle-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const FIX = path.resolve(__dirname, '../../test/fixtures/checkpoints');

// --- a tiny pickle assembler (protocol 2 opcodes) ---
const op = (...bytes: (number | string)[]) =>
  Buffer.concat(bytes.map((b) => (typeof b === 'number' ? Buffer.from([b]) : Buffer.from(b, 'latin1'))));
const uni = (s: string) => {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(b.length);
  return Buffer.concat([Buffer.from('X'), len, b]);
};
const global = (mod: string, name: string) => op(`c${mod}\n${name}\n`);
const int1 = (n: number) => {
  if (n >= 0 && n < 256) return op('K', n);
  const b = Buffer.alloc(5); // BININT: a signed 32-bit int (negative strides and sizes)
  b[0] = 0x4a;
  b.writeInt32LE(n, 1);
  return b;
};
const PROTO = op(0x80, 2);
const STOP = op('.');

/** A state dict {name: tensor(storage key, size, stride, offset)} as torch.save pickles it. */
function stateDictPickle(tensors: { name: string; key: string; size: number[]; stride: number[]; offset?: number; numel: number }[], storage = 'FloatStorage'): Buffer {
  const parts: Buffer[] = [PROTO, op('}'), op('(')];
  for (const t of tensors) {
    parts.push(uni(t.name));
    parts.push(global('torch._utils', '_rebuild_tensor_v2'));
    parts.push(op('('));
    // persistent id ('storage', torch.FloatStorage, key, 'cpu', numel)
    parts.push(op('('), uni('storage'), global('torch', storage), uni(t.key), uni('cpu'), int1(t.numel), op('t'), op('Q'));
    parts.push(int1(t.offset ?? 0));
    parts.push(op('('), ...t.size.map(int1), op('t'));
    parts.push(op('('), ...t.stride.map(int1), op('t'));
    parts.push(op(0x89)); // requires_grad False
    parts.push(global('collections', 'OrderedDict'), op(')'), op('R'));
    parts.push(op('t'), op('R'));
  }
  parts.push(op('u'), STOP);
  return Buffer.concat(parts);
}

function writeBin(file: string, pkl: Buffer, storages: Record<string, Float32Array> = {}): string {
  const files: Record<string, Uint8Array> = { 'archive/data.pkl': pkl };
  for (const [k, v] of Object.entries(storages)) files[`archive/data/${k}`] = new Uint8Array(v.buffer.slice(0));
  fs.writeFileSync(file, zipSync(files, { level: 0 }));
  return file;
}

describe('restricted unpickler', () => {
  it('reads a hand-built state dict, including a transposed (strided) view', () => {
    const f = writeBin(path.join(tmp, 'ok.bin'), stateDictPickle([
      { name: 'a', key: '0', size: [2, 3], stride: [3, 1], numel: 6 },
      { name: 'aT', key: '0', size: [3, 2], stride: [1, 3], numel: 6 },
      { name: 'tail', key: '0', size: [2], stride: [1], offset: 4, numel: 6 },
    ]), { '0': Float32Array.of(1, 2, 3, 4, 5, 6) });
    const t = new Map(readTorchBin(f).map((r) => [r.name, r]));
    const dec = (n: string) => Array.from(new Float32Array(Uint8Array.from(t.get(n)!.read()).buffer));
    expect(dec('a')).toEqual([1, 2, 3, 4, 5, 6]);
    expect(t.get('aT')!.shape).toEqual([3, 2]);
    expect(dec('aT')).toEqual([1, 4, 2, 5, 3, 6]);
    expect(dec('tail')).toEqual([5, 6]);
  });

  const marker = path.join(tmp, 'pwned');
  const hostile: [string, Buffer, RegExp][] = [
    ['os.system via GLOBAL', Buffer.concat([PROTO, global('posix', 'system'), uni(`touch ${marker}`), op(0x85), op('R'), STOP]), /'posix\.system'/],
    ['builtins.eval via STACK_GLOBAL', Buffer.concat([op(0x80, 4), op(0x8c, 8), 'builtins', op(0x8c, 4), 'eval', op(0x93), uni('1+1'), op(0x85), op('R'), STOP].map((x) => (typeof x === 'string' ? Buffer.from(x) : x))), /'builtins\.eval'/],
    ['subprocess inside a tensor rebuild', Buffer.concat([PROTO, op('}'), uni('w'), global('subprocess', 'Popen'), op(')'), op('R'), op('s'), STOP]), /'subprocess\.Popen'/],
    ['torch.load-looking but non-allowlisted torch global', Buffer.concat([PROTO, global('torch', 'load'), op(')'), op('R'), STOP]), /'torch\.load'/],
    ['INST opcode', Buffer.concat([PROTO, op('('), op('ios\nsystem\n'), STOP]), /opcode 0x69/],
    ['REDUCE of a storage type', Buffer.concat([PROTO, global('torch', 'FloatStorage'), op(')'), op('R'), STOP]), /REDUCE of something that is not an allowed function \(torch\.FloatStorage\)/],
  ];
  for (const [name, pkl, re] of hostile)
    it(`refuses ${name}`, () => {
      const f = writeBin(path.join(tmp, 'evil.bin'), pkl);
      expect(() => readTorchBin(f)).toThrow(re);
      expect(() => readTorchBin(f)).toThrow(f);
      expect(fs.existsSync(marker)).toBe(false);
    });

  it('a data.pkl referencing a storage missing from the archive', () => {
    const f = writeBin(path.join(tmp, 'nostorage.bin'), stateDictPickle([{ name: 'a', key: '7', size: [2], stride: [1], numel: 2 }]));
    expect(() => readTorchBin(f)).toThrow(/storage '7', which is missing from the archive/);
  });

  it('a storage shorter than the pickle claims, and a view past its end', () => {
    const f = writeBin(path.join(tmp, 'short.bin'), stateDictPickle([{ name: 'a', key: '0', size: [4], stride: [1], numel: 4 }]), { '0': Float32Array.of(1, 2) });
    expect(() => readTorchBin(f)).toThrow(/storage '0' holds 8 bytes, fewer than the 4 elements/);
    const g = writeBin(path.join(tmp, 'past.bin'), stateDictPickle([{ name: 'a', key: '0', size: [4], stride: [1], offset: 1, numel: 4 }]), { '0': Float32Array.of(1, 2, 3, 4) });
    expect(() => readTorchBin(g)[0].read()).toThrow(/tensor 'a' reaches element 4 of storage '0'/);
  });

  it('views that do not fit their storage are refused when the file is read (issue 19: a negative stride gave PPL 13,686)', () => {
    const six = { '0': Float32Array.of(1, 2, 3, 4, 5, 6) };
    const bin = (name: string, t: { size: number[]; stride: number[]; offset?: number }) => writeBin(path.join(tmp, `${name}.bin`), stateDictPickle([{ name: 'w', key: '0', numel: 6, ...t }]), six);
    const f = bin('negstride', { size: [2, 3], stride: [-3, 1], offset: 3 });
    expect(() => readTorchBin(f)).toThrow(`${f}: tensor 'w' has stride -3 in dimension 0: strides must be ≥ 0`);
    const g = bin('negsize', { size: [-2, 3], stride: [3, 1] });
    expect(() => readTorchBin(g)).toThrow(`${g}: tensor 'w' has size -2 in dimension 0: sizes must be ≥ 0`);
    const h = bin('overreach', { size: [3, 3], stride: [3, 1] });
    expect(() => readTorchBin(h)).toThrow(`${h}: tensor 'w' reaches element 8 of storage '0', which holds only 6 (offset 0, size [3, 3], stride [3, 1])`);
    const big = bin('bigstride', { size: [2, 3], stride: [100000, 1] });
    expect(() => readTorchBin(big)).toThrow(/reaches element 100002 of storage '0', which holds only 6/);
    // what fits is still read: an expanded view (stride 0) and an empty one
    const ok = new Map(readTorchBin(writeBin(path.join(tmp, 'expand.bin'), stateDictPickle([
      { name: 'rep', key: '0', size: [2, 3], stride: [0, 1], numel: 6 },
      { name: 'none', key: '0', size: [0, 3], stride: [3, 1], numel: 6 },
    ]), six)).map((r) => [r.name, r]));
    expect(Array.from(new Float32Array(Uint8Array.from(ok.get('rep')!.read()).buffer))).toEqual([1, 2, 3, 1, 2, 3]);
    expect(ok.get('none')!.read().byteLength).toBe(0);
  });

  it('decompression bombs are refused before or while inflating (issue 19: a 2 MB .bin inflating to 1 GiB was accepted)', () => {
    const MB8 = 2 ** 21; // 8 MiB of float32 zeros deflate to ~8 KB
    const zipped = (name: string, tensors: Parameters<typeof stateDictPickle>[0], storage: Float32Array) => {
      const f = path.join(tmp, `${name}.bin`);
      fs.writeFileSync(f, zipSync({ 'archive/data.pkl': stateDictPickle(tensors), 'archive/data/0': new Uint8Array(storage.buffer) }, { level: 9 }));
      return f;
    };
    // the storage the pickle declares is 8 MiB but its only tensor uses 2 elements
    const bomb = zipped('bomb', [{ name: 'w', key: '0', size: [2], stride: [1], numel: MB8 }], new Float32Array(MB8));
    expect(fs.statSync(bomb).size).toBeLessThan(64 * 1024);
    expect(() => readTorchBin(bomb)).toThrow(`${bomb}: compressed storage 'archive/data/0' inflates to ${4 * MB8} bytes but its tensors use only 8: refused (a decompression bomb?)`);
    // a compressed storage its tensor really uses is read (and equals what was written)
    const full = Float32Array.from({ length: 4096 }, (_, i) => i);
    const ok = zipped('deflated', [{ name: 'w', key: '0', size: [4096], stride: [1], numel: 4096 }], full);
    expect(new Float32Array(Uint8Array.from(readTorchBin(ok)[0].read()).buffer)).toEqual(full);
    // a zip directory that understates what the stream inflates to: the inflated bytes stop at the declared size
    const liar = zipped('liar', [{ name: 'w', key: '0', size: [2], stride: [1], numel: 2 }], new Float32Array(MB8));
    const b = fs.readFileSync(liar);
    for (let i = 0; i + 46 < b.length; i++)
      if (b.readUInt32LE(i) === 0x02014b50 && b.toString('latin1', i + 46, i + 46 + b.readUInt16LE(i + 28)) === 'archive/data/0') {
        b.writeUInt32LE(8, i + 24); // central directory: uncompressed size 8
        b.writeUInt32LE(8, b.readUInt32LE(i + 42) + 22); // and the local header
      }
    fs.writeFileSync(liar, b);
    expect(() => readTorchBin(liar)[0].read()).toThrow(`${liar}: zip entry 'archive/data/0' inflates to more than 8 bytes, but the zip directory declares 8: refused (damaged, or a decompression bomb)`);
    // data.pkl declaring more than any state dict's pickle needs
    const big = zipped('bigpkl', [{ name: 'w', key: '0', size: [2], stride: [1], numel: 2 }], new Float32Array(2));
    const c = fs.readFileSync(big);
    for (let i = 0; i + 46 < c.length; i++)
      if (c.readUInt32LE(i) === 0x02014b50 && c.toString('latin1', i + 46, i + 46 + c.readUInt16LE(i + 28)) === 'archive/data.pkl') c.writeUInt32LE(300 * 2 ** 20, i + 24);
    fs.writeFileSync(big, c);
    expect(() => readTorchBin(big)).toThrow(`${big}: data.pkl declares ${300 * 2 ** 20} bytes; a state dict's pickle is far smaller (limit 268435456): refused`);
  });

  it('a truncated pickle, a truncated zip and a file that is no zip at all', () => {
    const pkl = stateDictPickle([{ name: 'a', key: '0', size: [2], stride: [1], numel: 2 }]);
    const f = writeBin(path.join(tmp, 'cutpkl.bin'), pkl.subarray(0, pkl.length - 10), { '0': Float32Array.of(1, 2) });
    expect(() => readTorchBin(f)).toThrow(/pickle ends early/);
    const z = path.join(tmp, 'cutzip.bin');
    const whole = fs.readFileSync(path.join(FIX, 'torch-minicpm', 'pytorch_model.bin'));
    fs.writeFileSync(z, whole.subarray(0, whole.length >> 1));
    expect(() => readTorchBin(z)).toThrow(/cutzip\.bin: no zip end-of-directory record: the file is truncated/);
    const legacy = path.join(tmp, 'legacy.bin');
    fs.writeFileSync(legacy, Buffer.concat([PROTO, STOP]));
    expect(() => readTorchBin(legacy)).toThrow(/legacy .*non-zip/);
  });
});

describe('sharded pytorch_model.bin', () => {
  it('reads every shard of the index; a missing shard or an unlisted tensor is named', () => {
    const dir = path.join(tmp, 'sharded');
    fs.mkdirSync(dir);
    writeBin(path.join(dir, 'pytorch_model-00001-of-00002.bin'), stateDictPickle([{ name: 'a', key: '0', size: [2], stride: [1], numel: 2 }]), { '0': Float32Array.of(1, 2) });
    writeBin(path.join(dir, 'pytorch_model-00002-of-00002.bin'), stateDictPickle([{ name: 'b', key: '0', size: [1], stride: [1], numel: 1 }]), { '0': Float32Array.of(3) });
    const idx = path.join(dir, 'pytorch_model.bin.index.json');
    fs.writeFileSync(idx, JSON.stringify({ weight_map: { a: 'pytorch_model-00001-of-00002.bin', b: 'pytorch_model-00002-of-00002.bin' } }));
    const { tensors, files } = readShardedTorchBin(idx);
    expect(tensors.map((t) => [t.name, t.shape])).toEqual([['a', [2]], ['b', [1]]]);
    expect(files).toHaveLength(2);
    fs.writeFileSync(idx, JSON.stringify({ weight_map: { a: 'pytorch_model-00001-of-00002.bin', c: 'pytorch_model-00001-of-00002.bin' } }));
    expect(() => readShardedTorchBin(idx)).toThrow(/tensor 'c' is listed in the index but not found/);
    fs.writeFileSync(idx, JSON.stringify({ weight_map: { a: 'pytorch_model-00003-of-00003.bin' } }));
    expect(() => readShardedTorchBin(idx)).toThrow(/pytorch_model\.bin\.index\.json: shard 'pytorch_model-00003-of-00003\.bin' listed in the index is missing/);
  });
});

describe('real torch.save fixture', () => {
  const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'torch-minicpm.expected.json'), 'utf8')) as {
    tokenizer: { text: string; ids: number[] };
    tensors: Record<string, number[]>;
  };

  it('loads the same tensors as its safetensors twin and as torch computed', async () => {
    const bin = await loadCheckpoint(path.join(FIX, 'torch-minicpm'));
    const st = await loadCheckpoint(path.join(FIX, 'torch-minicpm-st'));
    expect(bin.spec).toEqual(st.spec);
    expect(bin.spec).toMatchObject({ family: 'minicpm', activation: 'relu', dtype: 'bfloat16', tieEmbeddings: false, vocabSize: 96 });
    expect([...bin.weights.keys()].sort()).toEqual([...st.weights.keys()].sort());
    for (const [name, t] of bin.weights) expect(Array.from(t.toFloat32()), name).toEqual(Array.from(st.weights.get(name)!.toFloat32()));
    const hf = (c: string) => c.replace(/^embed\.tokens$/, 'model.embed_tokens.weight').replace(/^lm_head\.weight$/, 'lm_head.weight');
    for (const canon of ['embed.tokens', 'lm_head.weight']) {
      const ref = expected.tensors[hf(canon)];
      const a = bin.weights.get(canon)!.toFloat32();
      expect(Array.from(a.subarray(0, 5))).toEqual(ref.slice(0, 5));
      expect(a.reduce((x, y) => x + y, 0)).toBeCloseTo(ref[5], 3);
    }
    const down = bin.weights.get('layers.1.mlp.down.weight')!.toFloat32();
    expect(Array.from(down.subarray(0, 5))).toEqual(expected.tensors['model.layers.1.mlp.down_proj.weight'].slice(0, 5));
    expect(bin.contentHash).not.toBe(st.contentHash);
    const viaFile = await loadCheckpoint(path.join(FIX, 'torch-minicpm', 'pytorch_model.bin'));
    expect(viaFile.spec).toEqual(bin.spec);
    expect(viaFile.contentHash).toBe(bin.contentHash);
  });

  it('tokenizer.model encodes like Python sentencepiece, with BOS/EOS from tokenizer_config.json', async () => {
    const c = await loadCheckpoint(path.join(FIX, 'torch-minicpm'));
    const tok = c.tokenizer!;
    expect(tok.source).toBe('tokenizer.model');
    expect(tok.encode(expected.tokenizer.text)).toEqual(expected.tokenizer.ids);
    expect(tok.decode(expected.tokenizer.ids)).toBe(expected.tokenizer.text);
    expect([tok.vocabSize, tok.bosTokenId, tok.eosTokenId]).toEqual([96, 1, 2]);
  });
});
