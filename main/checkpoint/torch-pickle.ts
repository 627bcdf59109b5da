/**
 * pytorch_model.bin: a zip of `<archive>/data.pkl` (a pickle of the state dict) and `<archive>/data/<key>`
 * raw storages. The pickle is read by a restricted unpickler: only the opcodes a state dict needs, and only
 * the globals of PyTorch's own weights_only allowlist (tensor/parameter rebuild functions, storage types,
 * OrderedDict). Any other GLOBAL / STACK_GLOBAL is refused with its name; nothing is ever called except
 * the few rebuild functions re-implemented here as plain data constructors.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';
import type { RawTensor } from './raw';
import { readZipDirectory, readZipEntry, storedEntryOffset, type ZipEntry } from './zip';
import { badCheckpoint, JSON_LIMITS, readCheckpointJson } from './json-file';
import { checkRegularFile } from '../base/regular-file';

const STORAGE_DTYPES: Record<string, { dtype: string; bytes: number }> = {
  FloatStorage: { dtype: 'F32', bytes: 4 },
  HalfStorage: { dtype: 'F16', bytes: 2 },
  BFloat16Storage: { dtype: 'BF16', bytes: 2 },
  DoubleStorage: { dtype: 'F64', bytes: 8 },
  LongStorage: { dtype: 'I64', bytes: 8 },
  IntStorage: { dtype: 'I32', bytes: 4 },
  ShortStorage: { dtype: 'I16', bytes: 2 },
  CharStorage: { dtype: 'I8', bytes: 1 },
  ByteStorage: { dtype: 'U8', bytes: 1 },
  BoolStorage: { dtype: 'BOOL', bytes: 1 },
};
const FUNCS = new Set(['collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_parameter', 'torch._utils._rebuild_parameter_with_state']);

interface Global {
  kind: 'global';
  name: string;
}
interface Storage {
  kind: 'storage';
  key: string;
  dtype: string;
  bytes: number;
  numel: number;
}
interface Tensor {
  kind: 'tensor';
  storage: Storage;
  offset: number;
  size: number[];
  stride: number[];
}
const MARK = Symbol('mark');

function allowGlobal(module: string, name: string, file: string): Global {
  const full = `${module}.${name}`;
  if (module === 'torch' && STORAGE_DTYPES[name]) return { kind: 'global', name: full };
  if (FUNCS.has(full)) return { kind: 'global', name: full };
  throw new LabError(
    'BAD_CHECKPOINT',
    `${file}: the pickle refers to '${full}', which a state dict never needs; refused (only tensor rebuild functions, storage types and OrderedDict are allowed, and nothing is executed)`,
  );
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isIntList = (v: unknown): v is number[] => Array.isArray(v) && v.every(isInt);

function call(fn: Global, args: unknown, file: string): unknown {
  const a = Array.isArray(args) ? args : [];
  const fail = (why: string): never => {
    throw new LabError('BAD_CHECKPOINT', `${file}: ${fn.name} called with ${why}`);
  };
  switch (fn.name) {
    case 'collections.OrderedDict':
      return new Map();
    case 'torch._utils._rebuild_tensor_v2': {
      const [storage, offset, size, stride] = a as [Storage, unknown, unknown, unknown];
      if (!storage || (storage as { kind?: string }).kind !== 'storage') fail('a first argument that is not a storage');
      if (!isInt(offset) || offset < 0 || !isIntList(size) || !isIntList(stride) || size.length !== stride.length) fail('malformed offset/size/stride');
      return { kind: 'tensor', storage, offset: offset as number, size: size as number[], stride: stride as number[] } satisfies Tensor;
    }
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state':
      return a[0];
  }
  return fail('no implementation'); // unreachable: allowGlobal admits only the above
}

/** Runs the restricted unpickler; returns the top-level object. */
export function unpickle(data: Uint8Array, file: string, persistentLoad: (pid: unknown) => unknown): unknown {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let p = 0;
  const fail = (why: string): never => {
    throw new LabError('BAD_CHECKPOINT', `${file}: ${why} (pickle byte ${p})`);
  };
  const need = (n: number) => {
    if (p + n > buf.length) fail('pickle ends early (truncated file?)');
  };
  const pop = () => (stack.length ? stack.pop() : fail('pickle stack underflow'));
  const popMark = (): unknown[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail('pickle MARK missing');
    const items = stack.slice(i + 1);
    stack.length = i;
    return items;
  };
  const str = (n: number) => {
    need(n);
    const s = buf.toString('utf8', p, p + n);
    p += n;
    return s;
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (!(target instanceof Map)) fail('SETITEM(S) on something that is not a dict');
    for (let i = 0; i + 1 < items.length; i += 2) (target as Map<unknown, unknown>).set(items[i], items[i + 1]);
  };
  for (;;) {
    need(1);
    const op = buf[p++];
    switch (op) {
      case 0x80: // PROTO
        need(1);
        p++;
        break;
      case 0x95: // FRAME
        need(8);
        p += 8;
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: // DICT
        stack.push(new Map());
        setItems(stack[stack.length - 1], popMark());
        break;
      case 0x5d: // EMPTY_LIST
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x6c: // LIST
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const l = stack[stack.length - 1];
        if (!Array.isArray(l)) fail('APPEND to something that is not a list');
        (l as unknown[]).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const l = stack[stack.length - 1];
        if (!Array.isArray(l)) fail('APPENDS to something that is not a list');
        (l as unknown[]).push(...items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(stack[stack.length - 1], [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(stack[stack.length - 1], items);
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88:
        stack.push(true);
        break;
      case 0x89:
        stack.push(false);
        break;
      case 0x4b: // BININT1
        need(1);
        stack.push(buf[p++]);
        break;
      case 0x4d: // BININT2
        need(2);
        stack.push(buf.readUInt16LE(p));
        p += 2;
        break;
      case 0x4a: // BININT
        need(4);
        stack.push(buf.readInt32LE(p));
        p += 4;
        break;
      case 0x8a: {
        // LONG1
        need(1);
        const n = buf[p++];
        need(n);
        if (n > 8) fail(`integer of ${n} bytes`);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[p + i]);
        if (n && buf[p + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        p += n;
        stack.push(Number(v));
        break;
      }
      case 0x47: // BINFLOAT
        need(8);
        stack.push(buf.readDoubleBE(p));
        p += 8;
        break;
      case 0x58: {
        // BINUNICODE
        need(4);
        const n = buf.readUInt32LE(p);
        p += 4;
        stack.push(str(n));
        break;
      }
      case 0x8c: {
        // SHORT_BINUNICODE
        need(1);
        const n = buf[p++];
        stack.push(str(n));
        break;
      }
      case 0x55: {
        // SHORT_BINSTRING
        need(1);
        const n = buf[p++];
        stack.push(str(n));
        break;
      }
      case 0x54: {
        // BINSTRING
        need(4);
        const n = buf.readUInt32LE(p);
        p += 4;
        stack.push(str(n));
        break;
      }
      case 0x43: {
        // SHORT_BINBYTES
        need(1);
        const n = buf[p++];
        need(n);
        stack.push(buf.subarray(p, p + n));
        p += n;
        break;
      }
      case 0x71: // BINPUT
        need(1);
        memo.set(buf[p++], stack[stack.length - 1]);
        break;
      case 0x72: // LONG_BINPUT
        need(4);
        memo.set(buf.readUInt32LE(p), stack[stack.length - 1]);
        p += 4;
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, stack[stack.length - 1]);
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const long = op === 0x6a;
        need(long ? 4 : 1);
        const k = long ? buf.readUInt32LE(p) : buf[p];
        p += long ? 4 : 1;
        if (!memo.has(k)) fail(`memo entry ${k} missing`);
        stack.push(memo.get(k));
        break;
      }
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(stack[stack.length - 1]);
        break;
      case 0x63: {
        // GLOBAL "module\nname\n"
        const nl1 = buf.indexOf(0x0a, p);
        const nl2 = nl1 < 0 ? -1 : buf.indexOf(0x0a, nl1 + 1);
        if (nl2 < 0) fail('pickle ends early inside a GLOBAL name (truncated file?)');
        const module = buf.toString('utf8', p, nl1);
        const name = buf.toString('utf8', nl1 + 1, nl2);
        p = nl2 + 1;
        stack.push(allowGlobal(module, name, file));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof name !== 'string' || typeof module !== 'string') fail('STACK_GLOBAL with non-string names');
        stack.push(allowGlobal(module as string, name as string, file));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop() as Global;
        if (!fn || fn.kind !== 'global' || !FUNCS.has(fn.name)) fail(`REDUCE of something that is not an allowed function (${fn && fn.kind === 'global' ? fn.name : typeof fn})`);
        stack.push(call(fn, args, file));
        break;
      }
      case 0x62: {
        // BUILD: OrderedDict state (`_metadata`) is dropped; nothing else may be built
        pop();
        const target = stack[stack.length - 1];
        if (!(target instanceof Map)) fail('BUILD on an object other than a dict');
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistentLoad(pop()));
        break;
      default:
        fail(`opcode 0x${op.toString(16)} ('${String.fromCharCode(op)}') is not allowed in a state dict`);
    }
  }
}

/**
 * A tensor view must lie inside its storage (issue 19: a negative stride loaded and read bytes from the storage's
 * end, PPL 13,686 where the valid copy gives 82): sizes and strides ≥ 0 (PyTorch has no negative strides), a safe
 * element count, and offset + Σ (size − 1)·stride inside the storage's declared elements.
 */
export function checkTensorView(view: { offset: number; size: readonly number[]; stride: readonly number[] }, storage: { key: string; numel: number }, file: string, name: string): void {
  const { offset, size, stride } = view;
  const where = `${file}: tensor '${name}'`;
  const neg = size.findIndex((v) => v < 0);
  if (neg >= 0) throw new LabError('BAD_CHECKPOINT', `${where} has size ${size[neg]} in dimension ${neg}: sizes must be ≥ 0`);
  const negS = stride.findIndex((v) => v < 0);
  if (negS >= 0) throw new LabError('BAD_CHECKPOINT', `${where} has stride ${stride[negS]} in dimension ${negS}: strides must be ≥ 0`);
  if (size.length !== stride.length) throw new LabError('BAD_CHECKPOINT', `${where} has ${size.length} sizes but ${stride.length} strides`);
  const numel = size.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(numel)) throw new LabError('BAD_CHECKPOINT', `${where} declares shape [${size.join(', ')}]: too many elements`);
  if (numel === 0) return;
  let last = offset;
  for (let i = 0; i < size.length; i++) last += (size[i] - 1) * stride[i];
  if (!Number.isSafeInteger(last) || last >= storage.numel)
    throw new LabError('BAD_CHECKPOINT', `${where} reaches element ${last} of storage '${storage.key}', which holds only ${storage.numel} (offset ${offset}, size [${size.join(', ')}], stride [${stride.join(', ')}])`);
}

/** Whether a view is row-major contiguous in its storage (then its bytes are one range of it). */
function isContiguous(t: Tensor): boolean {
  let expect = 1;
  for (let i = t.size.length - 1; i >= 0; i--) {
    if (t.size[i] !== 1 && t.stride[i] !== expect) return false;
    expect *= t.size[i];
  }
  return true;
}

/** Bytes of a (possibly strided) tensor view, contiguous row-major. */
function gather(t: Tensor, storageBytes: Uint8Array, file: string, name: string): Uint8Array {
  const eb = t.storage.bytes;
  const numel = t.size.reduce((a, b) => a * b, 1);
  if (numel === 0) return new Uint8Array(0);
  let maxIndex = t.offset;
  for (let i = 0; i < t.size.length; i++) maxIndex += (t.size[i] - 1) * t.stride[i];
  if ((maxIndex + 1) * eb > storageBytes.length)
    throw new LabError('BAD_CHECKPOINT', `${file}: tensor '${name}' reaches element ${maxIndex} of storage '${t.storage.key}', which holds only ${storageBytes.length / eb}`);
  if (isContiguous(t)) return storageBytes.subarray(t.offset * eb, (t.offset + numel) * eb);
  const out = new Uint8Array(numel * eb);
  const idx = new Array(t.size.length).fill(0);
  for (let n = 0; n < numel; n++) {
    let src = t.offset;
    for (let i = 0; i < idx.length; i++) src += idx[i] * t.stride[i];
    out.set(storageBytes.subarray(src * eb, (src + 1) * eb), n * eb);
    for (let i = idx.length - 1; i >= 0; i--) {
      if (++idx[i] < t.size[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

/** data.pkl holds names, shapes and storage references only (a 7B model's is ~100 KB); 256 MiB bounds an inflated one. */
const MAX_PICKLE_BYTES = 256 * 2 ** 20;

/**
 * Issue 19 (decompression bombs): a compressed storage may inflate to no more bytes than the tensors that use it
 * reach (a 2 MB .bin declaring a 1 GiB storage for a 2-element tensor is refused before anything is inflated);
 * readZipEntry then holds the inflated bytes to the directory's size. Stored (uncompressed) entries are read as they
 * lie on disk, so they need no cap.
 */
export function checkInflatedStorage(entry: { name: string; method: number; size: number }, usedBytes: number, file: string): void {
  if (entry.method !== 0 && entry.size > usedBytes)
    throw new LabError('BAD_CHECKPOINT', `${file}: compressed storage '${entry.name}' inflates to ${entry.size} bytes but its tensors use only ${usedBytes}: refused (a decompression bomb?)`);
}

/** Reads one pytorch_model.bin (zip format) into lazy raw tensors. */
export function readTorchBin(file: string): RawTensor[] {
  checkRegularFile(file, 'a PyTorch checkpoint file', badCheckpoint);
  const head = Buffer.alloc(4);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, head, 0, 4, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (head.readUInt32LE(0) !== 0x04034b50) {
    if (head[0] === 0x80) throw new LabError('UNSUPPORTED', `${file}: legacy (pre-1.6, non-zip) torch.save format; re-save it with a current PyTorch or convert it to safetensors`);
    throw new LabError('BAD_CHECKPOINT', `${file}: not a PyTorch zip checkpoint (no zip signature)`);
  }
  const entries = readZipDirectory(file);
  const pkl = entries.find((e) => e.name === 'data.pkl' || e.name.endsWith('/data.pkl'));
  if (!pkl) throw new LabError('BAD_CHECKPOINT', `${file}: no data.pkl inside the archive`);
  if (pkl.size > MAX_PICKLE_BYTES) throw new LabError('BAD_CHECKPOINT', `${file}: data.pkl declares ${pkl.size} bytes; a state dict's pickle is far smaller (limit ${MAX_PICKLE_BYTES}): refused`);
  const prefix = pkl.name.slice(0, pkl.name.length - 'data.pkl'.length);
  const byName = new Map<string, ZipEntry>(entries.map((e) => [e.name, e]));
  const storages = new Map<string, Storage>();
  const persistentLoad = (pid: unknown): Storage => {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) throw new LabError('BAD_CHECKPOINT', `${file}: unexpected persistent id ${JSON.stringify(pid)?.slice(0, 80)}`);
    const [, type, key, , numel] = pid as [string, Global, unknown, unknown, unknown];
    const st = type && type.kind === 'global' ? STORAGE_DTYPES[type.name.replace(/^torch\./, '')] : undefined;
    if (!st) throw new LabError('BAD_CHECKPOINT', `${file}: persistent id names no storage type`);
    if (typeof key !== 'string' || !/^[\w.-]+$/.test(key) || !isInt(numel)) throw new LabError('BAD_CHECKPOINT', `${file}: malformed storage reference`);
    if (!byName.has(`${prefix}data/${key}`)) throw new LabError('BAD_CHECKPOINT', `${file}: the pickle references storage '${key}', which is missing from the archive (${prefix}data/${key})`);
    const s = storages.get(key) ?? { kind: 'storage' as const, key, dtype: st.dtype, bytes: st.bytes, numel };
    storages.set(key, s);
    return s;
  };
  const root = unpickle(readZipEntry(file, pkl), file, persistentLoad);
  let dict = root;
  if (dict instanceof Map && !([...dict.values()].some(isTensor)) && dict.get('state_dict') instanceof Map) dict = dict.get('state_dict');
  if (!(dict instanceof Map)) throw new LabError('BAD_CHECKPOINT', `${file}: the pickle does not hold a state dict (a name → tensor mapping)`);
  const used = new Map<string, number>(); // storage key → bytes its views reach
  for (const [name, v] of dict as Map<unknown, unknown>) {
    if (typeof name !== 'string' || !isTensor(v)) continue;
    checkTensorView(v, v.storage, file, name);
    const numel = v.size.reduce((a, b) => a * b, 1);
    const reach = numel === 0 ? 0 : (v.offset + v.size.reduce((a, s, i) => a + (s - 1) * v.stride[i], 0) + 1) * v.storage.bytes;
    used.set(v.storage.key, Math.max(used.get(v.storage.key) ?? 0, reach));
  }
  for (const [key, bytes] of used) checkInflatedStorage(byName.get(`${prefix}data/${key}`)!, bytes, file);
  const out: RawTensor[] = [];
  const cache = new Map<string, Uint8Array>();
  const starts = new Map<string, number | undefined>();
  for (const [name, v] of dict as Map<unknown, unknown>) {
    if (typeof name !== 'string' || !isTensor(v)) continue;
    const t = v;
    const entry = byName.get(`${prefix}data/${t.storage.key}`)!;
    if (entry.size < t.storage.numel * t.storage.bytes)
      throw new LabError('BAD_CHECKPOINT', `${file}: storage '${t.storage.key}' holds ${entry.size} bytes, fewer than the ${t.storage.numel} elements the pickle declares`);
    out.push({
      name,
      file,
      dtype: t.storage.dtype,
      shape: t.size,
      byteLength: t.size.reduce((a, b) => a * b, 1) * t.storage.bytes,
      read() {
        // storages are shared (tied weights, views): keep the last one read, not all of them
        let bytes = cache.get(t.storage.key);
        if (!bytes) {
          cache.clear();
          bytes = readZipEntry(file, entry);
          cache.set(t.storage.key, bytes);
        }
        return gather(t, bytes, file, name);
      },
      // an uncompressed storage (what torch.save writes) holds a contiguous view's bytes as they are: usable in place
      locate() {
        const numel = t.size.reduce((a, b) => a * b, 1);
        if (!isContiguous(t) || (t.offset + numel) * t.storage.bytes > entry.size) return undefined;
        if (!starts.has(t.storage.key)) starts.set(t.storage.key, storedEntryOffset(file, entry));
        const start = starts.get(t.storage.key);
        return start === undefined ? undefined : start + t.offset * t.storage.bytes;
      },
    });
  }
  return out;
}

function isTensor(v: unknown): v is Tensor {
  return !!v && typeof v === 'object' && (v as Tensor).kind === 'tensor';
}

/** pytorch_model.bin.index.json + shards. */
export function readShardedTorchBin(indexFile: string): { tensors: RawTensor[]; files: string[] } {
  const idx = readCheckpointJson(indexFile, JSON_LIMITS.index, 'cannot read the shard index') as { weight_map?: Record<string, unknown> } | null;
  if (!idx || typeof idx.weight_map !== 'object' || !idx.weight_map) throw new LabError('BAD_CHECKPOINT', `${indexFile}: no weight_map`);
  const dir = path.dirname(indexFile);
  const tensors: RawTensor[] = [];
  const files: string[] = [];
  for (const s of new Set(Object.values(idx.weight_map))) {
    if (typeof s !== 'string' || s !== path.basename(s) || s.startsWith('.')) throw new LabError('BAD_CHECKPOINT', `${indexFile}: shard name '${String(s)}' is not a plain file name`);
    const f = path.join(dir, s);
    if (!fs.existsSync(f)) throw new LabError('BAD_CHECKPOINT', `${indexFile}: shard '${s}' listed in the index is missing`);
    files.push(f);
    tensors.push(...readTorchBin(f));
  }
  const have = new Set(tensors.map((t) => t.name));
  for (const name of Object.keys(idx.weight_map))
    if (!have.has(name)) throw new LabError('BAD_CHECKPOINT', `${indexFile}: tensor '${name}' is listed in the index but not found in its shard`);
  return { tensors, files: files.sort() };
}
