// The hostile-input corpus of issue 19, generated at test time (small files in a temp folder). Every case must end
// in its own clear error — the expected code and message below, naming the file where there is one — never a
// TypeError, a crash or an INTERNAL error; and nothing on disk may change (every file's sha256 before = after).
// Groups: browser-mode HTTP and WebSocket, session files (structure, stored results, saved job states, locks),
// safetensors headers, config.json, pickles, .onnx files, points files, CLI arguments.
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import WebSocket from 'ws';
import { startServer, type RunningServer } from '../../main/server/server';
import { Engine } from '../../main/engine/engine';
import { SessionStore } from '../../main/store/session';
import { lockFileOf } from '../../main/store/lock';
import { readSafetensorsHeader } from '../../main/checkpoint/safetensors';
import { loadCheckpoint, openCheckpoint } from '../../main/checkpoint/index';
import { buildLlamaGraph } from '../../main/graph/llama-graph';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, StringStringEntryProtoSchema, TensorProto_DataLocation, type ModelProto } from 'onnx-buf';
import { readTorchBin } from '../../main/checkpoint/torch-pickle';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';
import { readPointsFile } from '../../main/laws/import';
import { main as cli } from '../../main/cli/index';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-corpus-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** sha256 of every file under dir (the "nothing on disk changed" check). SQLite's -wal/-shm sidecars, which a
 * read-only open of a WAL database creates empty, are not the user's data and are left out. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/-(wal|shm)$/.test(e.name)) continue;
      else out[path.relative(dir, p)] = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

interface Failure {
  code: string;
  message: string;
}
async function failureOf(f: () => unknown): Promise<Failure | undefined> {
  try {
    await f();
    return undefined;
  } catch (e) {
    return { code: (e as { code?: string }).code ?? (e as Error).name, message: (e as Error).message };
  }
}
/** The message is one clear sentence: no JS runtime error text, no stack, no echoed secret */
function clear(msg: string): void {
  expect(msg).not.toMatch(/TypeError|ReferenceError|Cannot read prop|is not a function|undefined is|\n\s+at /);
  expect(msg).not.toContain('SECRET');
}

let caseNo = 0;
const dirFor = () => {
  const d = path.join(root, `case${caseNo++}`);
  fs.mkdirSync(d);
  return d;
};

// ---------------------------------------------------------------------------------------------------------------
describe('safetensors headers', () => {
  type H = Record<string, unknown>;
  const t = (dtype: string, shape: unknown, off: unknown) => ({ dtype, shape, data_offsets: off });
  const file = (dir: string, header: string | H, dataBytes = 64, lenOverride?: bigint) => {
    const hb = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(lenOverride ?? BigInt(hb.length));
    const f = path.join(dir, 'model.safetensors');
    fs.writeFileSync(f, Buffer.concat([len, hb, Buffer.alloc(dataBytes)]));
    return f;
  };
  const cases: [string, (dir: string) => string, RegExp][] = [
    ['empty file', (d) => (fs.writeFileSync(path.join(d, 'model.safetensors'), ''), path.join(d, 'model.safetensors')), /file is 0 bytes: too short for a safetensors header/],
    ['7 bytes', (d) => (fs.writeFileSync(path.join(d, 'model.safetensors'), Buffer.alloc(7)), path.join(d, 'model.safetensors')), /file is 7 bytes: too short/],
    ['header length beyond the file', (d) => file(d, {}, 0, 1n << 40n), /header length 1099511627776 is larger than the file/],
    ['header length 2^64-1', (d) => file(d, {}, 0, (1n << 64n) - 1n), /header length 18446744073709551615 is larger than the file/],
    ['header not JSON', (d) => file(d, '{"a": [1, 2'), /header is not valid JSON/],
    ['header binary garbage', (d) => file(d, '\u0000\u0001\u00ff\u00fe'), /header is not valid JSON/],
    ['header a JSON array', (d) => file(d, '[1,2,3]'), /header is not a JSON object/],
    ['header JSON null', (d) => file(d, 'null'), /header is not a JSON object/],
    ['header a JSON string', (d) => file(d, '"model"'), /header is not a JSON object/],
    ['entry a number', (d) => file(d, { w: 5 }), /tensor 'w': entry is not an object/],
    ['entry null', (d) => file(d, { w: null }), /tensor 'w': entry is not an object/],
    ['unknown dtype', (d) => file(d, { w: t('F128', [2], [0, 8]) }), /tensor 'w': unknown dtype 'F128'/],
    ['dtype missing', (d) => file(d, { w: { shape: [2], data_offsets: [0, 8] } }), /tensor 'w': unknown dtype 'undefined'/],
    ['dtype __proto__', (d) => file(d, { w: t('__proto__', [2], [0, 8]) }), /tensor 'w': unknown dtype '__proto__'/],
    ['dtype toString', (d) => file(d, { w: t('toString', [2], [0, 8]) }), /tensor 'w': unknown dtype 'toString'/],
    ['negative dimension', (d) => file(d, { w: t('F32', [-1, 2], [0, 8]) }), /tensor 'w': invalid shape \[-1,2\]/],
    ['fractional dimension', (d) => file(d, { w: t('F32', [1.5], [0, 6]) }), /tensor 'w': invalid shape \[1\.5\]/],
    ['string dimension', (d) => file(d, { w: t('F32', ['2'], [0, 8]) }), /tensor 'w': invalid shape \["2"\]/],
    ['shape not a list', (d) => file(d, { w: t('F32', 4, [0, 16]) }), /tensor 'w': invalid shape 4/],
    ['dimension 1e300', (d) => file(d, { w: t('F32', [1e300], [0, 8]) }), /tensor 'w': invalid shape \[1e\+300\]/],
    ['offsets reversed', (d) => file(d, { w: t('F32', [2], [8, 0]) }), /tensor 'w': invalid data_offsets \[8,0\]/],
    ['three offsets', (d) => file(d, { w: t('F32', [2], [0, 4, 8]) }), /tensor 'w': invalid data_offsets \[0,4,8\]/],
    ['negative offset', (d) => file(d, { w: t('F32', [2], [-8, 0]) }), /tensor 'w': invalid data_offsets \[-8,0\]/],
    ['offsets missing', (d) => file(d, { w: { dtype: 'F32', shape: [2] } }), /tensor 'w': invalid data_offsets undefined/],
    ['offsets span too few bytes', (d) => file(d, { w: t('F32', [2, 2], [0, 8]) }), /header says shape \[2,2\] F32 \(16 bytes\) but its offsets span 8 bytes/],
    ['sizes beyond the bytes (2^40)', (d) => file(d, { w: t('F32', [16, 2 ** 40], [0, 64]) }), /header says shape \[16,1099511627776\] F32 \(70368744177664 bytes\) but its offsets span 64 bytes/],
    ['data past the end', (d) => file(d, { w: t('F32', [32], [0, 128]) }, 64), /tensor 'w': data ends at byte 128 but the file holds only 64 data bytes/],
    ['overlapping tensors', (d) => file(d, { a: t('F32', [4], [0, 16]), b: t('F32', [4], [8, 24]) }), /tensors 'a' and 'b' overlap/],
  ];
  test.each(cases)('%s', async (_name, make, re) => {
    const dir = dirFor();
    const f = make(dir);
    const before = snapshot(dir);
    const err = await failureOf(() => readSafetensorsHeader(f));
    expect(err?.code).toBe('BAD_CHECKPOINT');
    expect(err!.message).toContain(f);
    expect(err!.message).toMatch(re);
    clear(err!.message);
    expect(snapshot(dir)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('config.json', () => {
  const cases: [string, (cfg: Record<string, unknown>) => unknown, RegExp][] = [
    ['not JSON', () => '{"hidden_size": 32,', /config\.json.*(not valid JSON|JSON)/i],
    ['a JSON array', () => [1, 2], /config\.json/],
    ['JSON null', () => null, /config\.json/],
    ['hidden_size negative', (c) => ({ ...c, hidden_size: -32 }), /hidden_size/],
    ['hidden_size a string', (c) => ({ ...c, hidden_size: '32' }), /hidden_size/],
    ['hidden_size fractional', (c) => ({ ...c, hidden_size: 32.5 }), /hidden_size/],
    ['hidden_size huge', (c) => ({ ...c, hidden_size: 2 ** 40 }), /hidden_size/],
    ['intermediate_size 0', (c) => ({ ...c, intermediate_size: 0 }), /intermediate_size/],
    ['num_hidden_layers huge', (c) => ({ ...c, num_hidden_layers: 1e9 }), /num_hidden_layers|layers/],
    ['num_hidden_layers smaller than the tensors present', (c) => ({ ...c, num_hidden_layers: 1 }), /config\.json: num_hidden_layers is 1 but the weights hold layers up to 1 .*config and tensors disagree/],
    ['num_hidden_layers larger than the tensors present', (c) => ({ ...c, num_hidden_layers: 3 }), /layer/],
    ['heads do not divide hidden', (c) => ({ ...c, num_attention_heads: 5 }), /head/],
    ['vocab_size disagrees with the embedding', (c) => ({ ...c, vocab_size: 999 }), /vocab|embed/],
  ];
  test.each(cases)('%s', async (_name, edit, re) => {
    const dir = dirFor();
    const ck = writeTinyCheckpoint(path.join(dir, 'ck'), 'llama', { seed: 3, layers: 2 });
    const cfgFile = path.join(ck, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
    const v = edit(cfg);
    fs.writeFileSync(cfgFile, typeof v === 'string' ? v : JSON.stringify(v));
    const before = snapshot(dir);
    const err = await failureOf(() => loadCheckpoint(ck));
    expect(err, 'expected a refusal').toBeDefined();
    expect(['BAD_CHECKPOINT', 'UNSUPPORTED']).toContain(err!.code);
    expect(err!.message).toMatch(re);
    clear(err!.message);
    expect(snapshot(dir)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('pickles (.bin)', () => {
  const zipOf = async (entries: Record<string, Uint8Array>) => {
    const { zipSync } = await import('fflate');
    return zipSync(entries, { level: 0 });
  };
  const P = (...bytes: (number | string)[]) => Buffer.concat(bytes.map((b) => (typeof b === 'number' ? Buffer.from([b]) : Buffer.from(b, 'latin1'))));
  const cases: [string, () => Promise<Uint8Array> | Uint8Array, RegExp][] = [
    ['empty file', () => new Uint8Array(0), /\.bin/],
    ['random bytes', () => crypto.createHash('sha512').update('x').digest(), /\.bin/],
    ['a zip without data.pkl', () => zipOf({ 'archive/version': Buffer.from('3') }), /data\.pkl|pickle/i],
    ['os.system via GLOBAL', () => zipOf({ 'archive/data.pkl': P(0x80, 2, 'cos\nsystem\n', 'X', 2, 0, 0, 0, 'id', 0x85, 'R', '.') }), /os|system|not allowed|refus/i],
    ['builtins.eval via STACK_GLOBAL', () => zipOf({ 'archive/data.pkl': P(0x80, 4, 0x8c, 8, 'builtins', 0x8c, 4, 'eval', 0x93, 0x8c, 1, '1', 0x85, 'R', '.') }), /builtins|eval|not allowed|refus/i],
    ['truncated pickle', () => zipOf({ 'archive/data.pkl': P(0x80, 2, '}', 'q') }), /pickle|truncat|end/i],
    ['unknown opcode', () => zipOf({ 'archive/data.pkl': P(0x80, 2, 0xff, '.') }), /opcode|pickle/i],
    ['a pickle that is not a dict of tensors', () => zipOf({ 'archive/data.pkl': P(0x80, 2, 'K', 7, '.') }), /\.bin/],
  ];
  test.each(cases)('%s', async (_name, make, re) => {
    const dir = dirFor();
    const f = path.join(dir, 'pytorch_model.bin');
    fs.writeFileSync(f, await make());
    const before = snapshot(dir);
    const err = await failureOf(() => readTorchBin(f));
    expect(err, 'expected a refusal').toBeDefined();
    expect(err!.code).toBe('BAD_CHECKPOINT');
    expect(err!.message).toContain('pytorch_model.bin');
    expect(err!.message).toMatch(re);
    clear(err!.message);
    expect(snapshot(dir)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('.onnx files (opened here and in the checkpoint reader\'s worker: the same error)', () => {
  let exported: Uint8Array;
  beforeAll(async () => {
    const hf = await loadCheckpoint(writeTinyCheckpoint(path.join(root, 'onnx-src'), 'llama', { activation: 'relu', seed: 8 }));
    exported = buildLlamaGraph(hf, { dtype: 'float32', mode: 'dense', capture: false, maxSeq: 32, plain: true });
  });
  const edit = (f: (m: ModelProto) => void) => () => {
    const m = fromBinary(ModelProtoSchema, exported);
    f(m);
    return toBinary(ModelProtoSchema, m);
  };
  const ext = (loc: string) => edit((m) => {
    const t = m.graph!.initializer.find((x) => x.dims.length === 2)!;
    t.dataLocation = TensorProto_DataLocation.EXTERNAL;
    t.externalData = [create(StringStringEntryProtoSchema, { key: 'location', value: loc })];
    t.rawData = new Uint8Array(0);
  });
  const cases: [string, () => Uint8Array, string, RegExp][] = [
    ['empty file', () => new Uint8Array(0), 'BAD_CHECKPOINT', /ONNX model has no graph/],
    ['random bytes', () => crypto.createHash('sha512').update('onnx').digest(), 'BAD_CHECKPOINT', /not a readable ONNX model/],
    ['a model cut in half', () => exported.subarray(0, exported.length >> 1), 'BAD_CHECKPOINT', /not a readable ONNX model/],
    ['an initializer declaring [16, 2^40] over its bytes', edit((m) => (m.graph!.initializer.find((x) => x.dims.length === 2)!.dims = [16n, 2n ** 40n])), 'BAD_CHECKPOINT', /declares shape \[16, 1099511627776\] .* but holds/],
    ['external data outside the folder', ext('../outside.bin'), 'BAD_CHECKPOINT', /outside the model's folder: refused/],
    ['external data that is missing', ext('weights.bin'), 'BAD_CHECKPOINT', /external data file 'weights.bin' .* is missing/],
    ['no integer token-id input', edit((m) => (m.graph!.input = m.graph!.input.filter((i) => i.name !== 'input_ids'))), 'UNSUPPORTED', /not a decoder language model/],
    ['no feed-forward block', edit((m) => (m.graph!.node = m.graph!.node.filter((n) => n.opType !== 'MatMul' && n.opType !== 'Gemm'))), 'UNSUPPORTED', /no feed-forward block found/],
  ];
  test.each(cases)('%s', async (_name, make, code, re) => {
    const dir = dirFor();
    const f = path.join(dir, 'model.onnx');
    fs.writeFileSync(f, make());
    const before = snapshot(dir);
    const here = await failureOf(() => openCheckpoint(f, { offThread: 'never' }));
    const there = await failureOf(() => openCheckpoint(f, { offThread: 'always' }));
    expect(here, 'expected a refusal').toBeDefined();
    expect(here!.code).toBe(code);
    expect(here!.message).toContain(f);
    expect(here!.message).toMatch(re);
    clear(here!.message);
    expect(there).toEqual(here);
    expect(snapshot(dir)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('browser mode: HTTP, upgrade and WebSocket messages', () => {
  let srv: RunningServer;
  let dir: string;
  let before: Record<string, string>;
  const logs: string[] = [];
  beforeAll(async () => {
    dir = dirFor();
    const stat = path.join(dir, 'renderer');
    fs.mkdirSync(stat);
    fs.writeFileSync(path.join(stat, 'index.html'), '<!doctype html><title>lab</title>');
    fs.writeFileSync(path.join(dir, 'secret.txt'), 'SECRET-OUTSIDE');
    fs.writeFileSync(path.join(dir, 'passwd'), 'root:x:0:0:SECRET-LINE:/root:/bin/bash\n');
    fs.writeFileSync(path.join(dir, 'not-a-session.sparsitylab'), 'SECRET plain text');
    srv = await startServer({ staticDir: stat, engine: new Engine({ paths: { userData: path.join(dir, 'home'), cache: path.join(dir, 'home', 'cache') }, log: { info() {}, warn() {}, error() {} } }), log: (m) => logs.push(m) });
    before = snapshot(dir);
  });
  afterAll(async () => {
    await srv.close();
    // nothing the hostile requests did wrote, replaced or removed a file (the engine's own home aside)
    const after = snapshot(dir);
    for (const k of Object.keys(after)) if (k.startsWith('home')) delete after[k];
    for (const k of Object.keys(before)) if (k.startsWith('home')) delete before[k];
    expect(after).toEqual(before);
  });
  const get = (p: string, headers: Record<string, string> = {}, method = 'GET') =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: srv.port, path: p, headers, method }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });

  const httpCases: [string, string, Record<string, string>, string, number][] = [
    ...['/%E0%A4%A', '/%', '/%zz', '/%C0%AF', '/%ED%A0%80', '/%FF', '/a%00.js', '/%2'].map((p): [string, string, Record<string, string>, string, number] => [`malformed escape ${p}`, p, {}, 'GET', 400]),
    ...['/../secret.txt', '/..%2fsecret.txt', '/%2e%2e/secret.txt', '/%2e%2e%2fsecret.txt', '/..%5csecret.txt', '/x.js/../../secret.txt'].map((p): [string, string, Record<string, string>, string, number] => [`traversal ${p}`, p, {}, 'GET', 404]),
    ['rebinding host', '/index.html', { Host: `evil.example:${0}` }, 'GET', 421],
    ['host without port', '/index.html', { Host: '127.0.0.1' }, 'GET', 421],
    ['foreign origin', '/index.html', { Origin: 'https://evil.example' }, 'GET', 403],
    ['null origin', '/index.html', { Origin: 'null' }, 'GET', 403],
    ['POST', '/index.html', {}, 'POST', 405],
    ['PUT', '/index.html', {}, 'PUT', 405],
    ['DELETE', '/index.html', {}, 'DELETE', 405],
  ];
  test.each(httpCases)('HTTP %s', async (_n, p, headers, method, status) => {
    const r = await get(p, headers, method);
    expect(r.status).toBe(status);
    expect(r.body).not.toContain('SECRET');
    expect((await get('/index.html')).status).toBe(200); // still serving
  });

  const upgrade = (q: string, headers: Record<string, string> = {}) =>
    new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${srv.port}${q}`, { headers });
      ws.once('unexpected-response', (_r, res) => (resolve(res.statusCode ?? 0), ws.terminate()));
      ws.once('open', () => (ws.close(), resolve(101)));
      ws.once('error', (e) => (e.message.includes('Unexpected server response') ? undefined : reject(e)));
    });
  const upgradeCases: [string, () => string, Record<string, string>, number][] = [
    ['no token', () => '/ws', {}, 401],
    ['empty token', () => '/ws?token=', {}, 401],
    ['token prefix', () => `/ws?token=${srv.token.slice(0, 10)}`, {}, 401],
    ['token twice, first wrong', () => `/ws?token=x&token=${srv.token}`, {}, 401],
    ['foreign origin with the token', () => `/ws?token=${srv.token}`, { Origin: 'https://evil.example' }, 403],
    ['another port’s origin', () => `/ws?token=${srv.token}`, { Origin: 'http://127.0.0.1:1' }, 403],
    ['rebinding host with the token', () => `/ws?token=${srv.token}`, { Host: 'evil.example' }, 421],
    ['not the contract path', () => `/socket?token=${srv.token}`, {}, 404],
  ];
  test.each(upgradeCases)('upgrade: %s', async (_n, q, headers, status) => {
    expect(await upgrade(q(), headers)).toBe(status);
  });

  let ws: WebSocket;
  const ask = (raw: string) =>
    new Promise<{ id: unknown; ok: boolean; error?: { code: string; message: string } }>((resolve) => {
      ws.once('message', (d) => resolve(JSON.parse(d.toString())));
      ws.send(raw);
    });
  const msgCases: [string, () => string, string, RegExp][] = [
    ['not JSON', () => 'not json{', 'BAD_REQUEST', /^Message is not valid JSON\.$/],
    ['a JSON array', () => '[]', 'BAD_REQUEST', /^Message must be \{id, cmd, payload\}\.$/],
    ['JSON null', () => 'null', 'BAD_REQUEST', /^Message must be/],
    ['a number', () => '42', 'BAD_REQUEST', /^Message must be/],
    ['negative id', () => JSON.stringify({ id: -1, cmd: 'engine.info', payload: {} }), 'BAD_REQUEST', /^Message must be/],
    ['fractional id', () => JSON.stringify({ id: 1.5, cmd: 'engine.info', payload: {} }), 'BAD_REQUEST', /^Message must be/],
    ['a 300-character command', () => JSON.stringify({ id: 1, cmd: 'x'.repeat(300), payload: {} }), 'BAD_REQUEST', /^Message must be/],
    ['__proto__ command', () => JSON.stringify({ id: 1, cmd: '__proto__', payload: {} }), 'UNKNOWN_COMMAND', /__proto__/],
    ['constructor command', () => JSON.stringify({ id: 1, cmd: 'constructor', payload: {} }), 'UNKNOWN_COMMAND', /constructor/],
    ['toString command', () => JSON.stringify({ id: 1, cmd: 'toString', payload: {} }), 'UNKNOWN_COMMAND', /toString/],
    ['payload of the wrong type', () => JSON.stringify({ id: 1, cmd: 'engine.info', payload: { refresh: 'yes' } }), 'BAD_REQUEST', /refresh/],
    ['payload with a __proto__ key', () => '{"id":1,"cmd":"engine.info","payload":{"__proto__":{"polluted":true}}}', 'BAD_REQUEST', /__proto__|Unrecognized/],
    ['runs.start choosing where state files go', () => JSON.stringify({ id: 1, cmd: 'runs.start', payload: { config: { kind: 'measure', checkpoint: '/x', data: '/y', stateDir: '/etc' } } }), 'BAD_REQUEST', /stateDir is not a client option/],
    ['importPoints on a system file', () => JSON.stringify({ id: 1, cmd: 'laws.importPoints', payload: { path: path.join(dir, 'passwd') } }), 'BAD_DATA', /passwd:1: missing column 'tokens' .*none of them a known column/],
    ['sessions.open on a text file', () => JSON.stringify({ id: 1, cmd: 'sessions.open', payload: { path: path.join(dir, 'not-a-session.sparsitylab') } }), 'SESSION_ERROR', /not-a-session\.sparsitylab: is not a Sparsity Lab session \(not an SQLite database\)/],
    ['sessions.open on a missing file', () => JSON.stringify({ id: 1, cmd: 'sessions.open', payload: { path: path.join(dir, 'nope.sparsitylab') } }), 'NOT_FOUND', /nope\.sparsitylab: no such session file/],
  ];
  test.each(msgCases)('message: %s', async (_n, raw, code, re) => {
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws?token=${srv.token}`);
      await new Promise((r) => ws.once('open', r));
    }
    const r = await ask(raw());
    expect(r.ok).toBe(false);
    expect(r.error!.code).toBe(code);
    expect(r.error!.message).toMatch(re);
    clear(r.error!.message);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('session files', () => {
  function session(dir: string): string {
    const f = path.join(dir, 'lab.sparsitylab');
    const s = SessionStore.create(f);
    s.createRun({ id: 'r1', kind: 'measure', method: 'cett-ppl', p: 1, config: {} });
    s.saveResult('r1', { cett: 0.2, activationRatio: 0.3 });
    s.close();
    return f;
  }
  const structural: [string, (dir: string) => string, string, RegExp][] = [
    ['a text file', (d) => (fs.writeFileSync(path.join(d, 'a.sparsitylab'), 'hello'), path.join(d, 'a.sparsitylab')), 'SESSION_ERROR', /a\.sparsitylab: is not a Sparsity Lab session \(not an SQLite database\)$/],
    ['zero bytes', (d) => (fs.writeFileSync(path.join(d, 'a.sparsitylab'), ''), path.join(d, 'a.sparsitylab')), 'SESSION_ERROR', /is not a Sparsity Lab session \(not an SQLite database\)$/],
    ['only the SQLite magic', (d) => (fs.writeFileSync(path.join(d, 'a.sparsitylab'), 'SQLite format 3\0'), path.join(d, 'a.sparsitylab')), 'SESSION_ERROR', /a\.sparsitylab: (cannot be opened as SQLite|is damaged|is an SQLite database but not)/],
    ['a folder', (d) => (fs.mkdirSync(path.join(d, 'a.sparsitylab')), path.join(d, 'a.sparsitylab')), 'SESSION_ERROR', /a\.sparsitylab: is a folder, not a session file$/],
    ['missing', (d) => path.join(d, 'gone.sparsitylab'), 'NOT_FOUND', /gone\.sparsitylab: no such session file$/],
    [
      'damaged pages',
      (d) => {
        const f = session(d);
        const b = fs.readFileSync(f);
        b.fill(0x5a, 4096, Math.min(b.length, 12288));
        fs.writeFileSync(f, b);
        return f;
      },
      'SESSION_ERROR',
      /lab\.sparsitylab: is damaged/,
    ],
  ];
  test.each(structural)('open: %s', async (_n, make, code, re) => {
    const dir = dirFor();
    const f = make(dir);
    const before = snapshot(dir);
    for (const readOnly of [true, false]) {
      const err = await failureOf(() => SessionStore.open(f, { readOnly }));
      expect(err?.code).toBe(code);
      expect(err!.message).toMatch(re);
      clear(err!.message);
    }
    expect(snapshot(dir)).toEqual(before);
  });
  // special files outside the test's folder: sessions.open (both ways) names the file and its problem, no raw errno
  const special: [string, string, RegExp][] = [
    ['/proc/self/mem (regular by stat, reads fail with EIO)', '/proc/self/mem', /^\/proc\/self\/mem: cannot be read as a file \(EIO: a special or device file, not a session\)$/],
    ['a device', '/dev/null', /^\/dev\/null: is a device, not a session file$/],
    // never opened (a FIFO open waits for a writer): named by its kind
    ['a named pipe', path.join(root, 'fifo.sparsitylab'), /fifo\.sparsitylab: is a named pipe \(FIFO\), not a session file$/],
  ];
  execFileSync('mkfifo', [path.join(root, 'fifo.sparsitylab')]);
  test.each(special.filter(([, f]) => fs.existsSync(f)))('sessions.open: %s', async (_n, f, re) => {
    const dir = dirFor();
    const engine = new Engine({ paths: { userData: path.join(dir, 'home'), cache: path.join(dir, 'home', 'cache') }, log: { info() {}, warn() {}, error() {} } });
    try {
      for (const readOnly of [true, false]) {
        const err = await failureOf(() => engine.call('sessions.open', { path: f, readOnly }));
        expect(err?.code).toBe('SESSION_ERROR');
        expect(err!.message).toMatch(re);
      }
    } finally {
      await engine.dispose();
    }
  });

  const results: [string, unknown, RegExp][] = [
    ['cett a string', { cett: 'high' }, /field cett: .*expected number.*\(found the text "high"\)/],
    ['activationRatio a list', { activationRatio: [0.3] }, /field activationRatio: .*\(found a list\)/],
    ['a null in thresholds', { thresholds: [0.1, null] }, /field thresholds\[1\]: .*\(found null\)/],
    ['a tau row that is a number', { tau: [[0.1], 5] }, /field tau\[1\]: .*\(found number\)/],
    ['a checkpoint with a string pplRatio', { checkpoints: [{ checkpoint: 'a', pplRatio: '1.01' }] }, /field checkpoints\[0\]\.pplRatio: .*\(found the text "1\.01"\)/],
    ['negative tokens', { tokens: -5 }, /field tokens: .*>=0/],
    ['fractional tokens', { tokens: 2.5 }, /field tokens: .*expected int/],
    ['perLayerActivation an object', { perLayerActivation: { a: 1 } }, /field perLayerActivation: .*\(found object\)/],
    ['a result that is a list', [1, 2], /\(whole record\)|expected object/],
  ];
  test.each(results)('stored result: %s', async (_n, summary, re) => {
    const dir = dirFor();
    const f = session(dir);
    const w = SessionStore.open(f);
    w.db.prepare('UPDATE results SET summary=? WHERE run_id=?').run(JSON.stringify(summary), 'r1');
    w.close();
    const before = snapshot(dir);
    const s = SessionStore.open(f, { readOnly: true });
    const err = await failureOf(() => s.getResult('r1'));
    s.close();
    expect(err?.code).toBe('SESSION_ERROR');
    expect(err!.message.startsWith(`${f}: result of run r1 is damaged: `)).toBe(true);
    expect(err!.message).toMatch(re);
    clear(err!.message);
    expect(snapshot(dir)).toEqual(before);
  });

  const states: [string, unknown, RegExp][] = [
    ['string bounds', { l: '0', r: '1', history: [] }, /field l: .*\(found the text "0"\); field r: .*\(found the text "1"\)/],
    ['r missing', { l: 0, history: [] }, /field r: .*\(found undefined\)/],
    ['history not a list', { l: 0, r: 1, history: 'none' }, /field history: .*\(found the text "none"\)/],
    ['a null CETT in history', { l: 0, r: 1, history: [{ c: null, pplRatio: 1, perCheckpoint: [] }] }, /field history\[0\]\.c: .*\(found null\)/],
    ['a string in perCheckpoint', { l: 0, r: 1, history: [{ c: 0.5, pplRatio: 1, perCheckpoint: ['x'] }] }, /field history\[0\]\.perCheckpoint\[0\]: /],
    ['reversed bounds', { l: 0.8, r: 0.2, history: [] }, /field l: the search bounds are reversed \(l > r\)/],
    ['a final that is not an object', { l: 0, r: 1, history: [], finals: { a: 3 } }, /field finals\.a: /],
    ['a state that is a number', 7, /\(whole record\): /],
  ];
  test.each(states)('saved job state: %s', async (_n, state, re) => {
    const dir = dirFor();
    const f = session(dir);
    const w = SessionStore.open(f);
    w.db.prepare('UPDATE runs SET state=? WHERE id=?').run(JSON.stringify(state), 'r1');
    w.close();
    const before = snapshot(dir);
    const s = SessionStore.open(f, { readOnly: true });
    const err = await failureOf(() => s.runState('r1'));
    s.close();
    expect(err?.code).toBe('SESSION_ERROR');
    expect(err!.message.startsWith(`${f}: saved state of run r1 is damaged: `)).toBe(true);
    expect(err!.message).toMatch(re);
    clear(err!.message);
    expect(snapshot(dir)).toEqual(before);
  });

  test('a session another live process writes: "in use by PID"', async () => {
    const dir = dirFor();
    const f = session(dir);
    const owner = spawn('sleep', ['20']);
    try {
      fs.writeFileSync(lockFileOf(f), JSON.stringify({ pid: owner.pid, host: os.hostname(), since: 'then' }));
      const before = snapshot(dir);
      const err = await failureOf(() => SessionStore.open(f));
      expect(err?.code).toBe('BUSY');
      expect(err!.message).toContain(`in use by PID ${owner.pid}`);
      expect(snapshot(dir)).toEqual(before);
    } finally {
      owner.kill('SIGKILL');
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('points files (fit import)', () => {
  const cases: [string, string | Buffer, RegExp][] = [
    ['a system file', 'root:x:0:0:SECRET-LINE:/root:/bin/bash\ndaemon:x:1:1:SECRET2\n', /pts:1: missing column 'tokens' in the header \(the first line has 1 field\(s\), none of them a known column/],
    ['a CSV of other columns', 'name,SECRET_col,x\n1,2,3\n', /pts:1: missing column 'tokens' .*none of them a known column/],
    ['empty', '', /pts is empty: expected a header line/],
    ['binary', Buffer.from([0, 255, 1, 254, 10, 0, 0]), /pts/],
    ['rows with the wrong field count', 'tokens,activation_ratio\n1,0.5,SECRET,x\n', /pts/],
    ['non-numeric tokens', 'tokens,activation_ratio\nlots,0.5\n', /pts/],
  ];
  test.each(cases)('%s', async (_n, content, re) => {
    const dir = dirFor();
    const f = path.join(dir, 'pts');
    fs.writeFileSync(f, content);
    const before = snapshot(dir);
    const err = await failureOf(() => readPointsFile(f));
    expect(err?.code).toBe('BAD_DATA');
    expect(err!.message).toMatch(re);
    clear(err!.message);
    expect(snapshot(dir)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('CLI arguments', () => {
  let ck: string;
  let data: string;
  let dir: string;
  beforeAll(() => {
    dir = dirFor();
    ck = writeTinyCheckpoint(path.join(dir, 'ck'), 'llama', { seed: 2, layers: 2 });
    data = path.join(dir, 'text.txt');
    fs.writeFileSync(data, 'the quick brown fox jumps over the lazy dog. '.repeat(50));
  });
  const run = async (args: string[]) => {
    const errs: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void errs.push(a.join(' ')));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const code = await cli(args);
      return { code, err: errs.join('\n') };
    } finally {
      spy.mockRestore();
      log.mockRestore();
    }
  };
  const cases: [string, () => string[], number, RegExp][] = [
    ['an empty --sweep item', () => ['measure', ck, '--data', data, '--sweep', '0.1,,0.3'], 2, /sweep/],
    ['--tokens not a number', () => ['measure', ck, '--data', data, '--tokens', 'abc'], 2, /tokens/],
    ['--p empty', () => ['measure', ck, '--data', data, '--p', ''], 2, /\bp\b/],
    ['an unknown flag', () => ['measure', ck, '--data', data, '--evil'], 2, /BAD_REQUEST: Unknown option '--evil'/],
    ['two checkpoints to measure', () => ['measure', ck, ck, '--data', data], 2, /exactly one checkpoint/],
    [
      'a session of a newer schema',
      () => {
        const f = path.join(dir, 'newer.sparsitylab');
        if (!fs.existsSync(f)) {
          const s = SessionStore.create(f);
          s.db.pragma('user_version = 999');
          s.close();
        }
        return ['measure', ck, '--data', data, '--tokens', '64', '--seq-len', '16', '--session', f];
      },
      1,
      /READ_ONLY: .*newer\.sparsitylab: cannot record into this session: This session was written by a newer Sparsity Lab \(schema v999/,
    ],
  ];
  test.each(cases)('%s', async (_n, args, code, re) => {
    const a = args();
    const before = snapshot(dir);
    const r = await run(a);
    expect(r.code).toBe(code);
    expect(r.err).toMatch(re);
    clear(r.err);
    expect(snapshot(dir)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('writes go only where the user chose', () => {
  let engine: Engine;
  let dir: string;
  let sess: string;
  beforeAll(async () => {
    dir = dirFor();
    engine = new Engine({ paths: { userData: path.join(dir, 'home'), cache: path.join(dir, 'home', 'cache') }, log: { info() {}, warn() {}, error() {} } });
    sess = path.join(dir, 'lab.sparsitylab');
    const s = SessionStore.create(sess);
    s.createRun({ id: 'r1', kind: 'measure', method: 'cett-ppl', p: 1, config: {} });
    s.saveResult('r1', { cett: 0.2, activationRatio: 0.3 });
    s.close();
    await engine.call('sessions.open', { path: sess });
    fs.writeFileSync(path.join(dir, 'notes.csv'), 'SECRET,my,own,table\n');
    fs.writeFileSync(path.join(dir, 'photo.png'), Buffer.from('SECRET-not-a-png'));
    fs.writeFileSync(path.join(dir, 'bin.json'), Buffer.from([0, 1, 2, 0, 83]));
    fs.writeFileSync(path.join(dir, 'report.pdf'), 'SECRET plain text with a .pdf name');
  });
  afterAll(() => engine.dispose());
  const cases: [string, () => [string, Record<string, unknown>], RegExp][] = [
    ['exportRun onto an existing file without overwrite', () => ['sessions.exportRun', { id: 'r1', format: 'csv', out: path.join(dir, 'notes.csv') }], /notes\.csv exists already; choose another name, or ask to overwrite it/],
    ['exportRun (json) onto a binary file, even with overwrite', () => ['sessions.exportRun', { id: 'r1', format: 'json', out: path.join(dir, 'bin.json'), overwrite: true }], /bin\.json exists but its contents are not a \.json file this app writes; not overwritten/],
    ['exportRun onto a file of another type with overwrite', () => ['sessions.exportRun', { id: 'r1', format: 'csv', out: path.join(dir, 'photo.png'), overwrite: true }], /photo\.png exists and is not a \.csv file; not overwritten/],
    ['chart PNG onto a non-PNG .png with overwrite', () => ['charts.export', { kind: 'pareto', format: 'png', out: path.join(dir, 'photo.png'), overwrite: true }], /photo\.png exists but its contents are not a \.png file this app writes/],
    ['chart PDF onto a text file named .pdf with overwrite', () => ['charts.export', { kind: 'pareto', format: 'pdf', out: path.join(dir, 'report.pdf'), overwrite: true }], /report\.pdf exists but its contents are not a \.pdf file this app writes/],
    ['chart CSV onto an existing CSV without overwrite', () => ['charts.export', { kind: 'pareto', format: 'csv', out: path.join(dir, 'notes.csv') }], /notes\.csv exists already/],
    ['chart onto the session file itself', () => ['charts.export', { kind: 'pareto', format: 'json', out: sess, overwrite: true }], /lab\.sparsitylab exists and is not a \.json file; not overwritten/],
    ['a new session in a folder that does not exist', () => ['sessions.new', { path: path.join(dir, 'made', 'up', 'x.sparsitylab') }], /made\/up: no such folder \(a new session is created only in an existing folder\)/],
    ['a new session over an existing session', () => ['sessions.new', { path: sess }], /lab\.sparsitylab: a file with this name exists already/],
  ];
  test.each(cases)('%s', async (_n, req, re) => {
    const [cmd, payload] = req();
    const before = snapshot(dir);
    const err = await failureOf(() => engine.call(cmd, payload));
    expect(err, 'expected a refusal').toBeDefined();
    expect(['BAD_REQUEST', 'SESSION_ERROR', 'BUSY']).toContain(err!.code);
    expect(err!.message).toMatch(re);
    clear(err!.message);
    const after = snapshot(dir);
    for (const k of Object.keys(after)) if (k.startsWith('home')) delete after[k];
    for (const k of Object.keys(before)) if (k.startsWith('home')) delete before[k];
    expect(after).toEqual(before);
    expect(fs.existsSync(path.join(dir, 'made'))).toBe(false);
  });
  test('a new file, and an existing file of its type with overwrite, are written', async () => {
    const out = path.join(dir, 'run.csv');
    await engine.call('sessions.exportRun', { id: 'r1', format: 'csv', out });
    expect(fs.readFileSync(out, 'utf8')).toMatch(/^run,checkpoint/);
    await engine.call('sessions.exportRun', { id: 'r1', format: 'csv', out, overwrite: true });
    fs.rmSync(out);
  });
});
