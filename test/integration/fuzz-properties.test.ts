// Property-based fuzzing (fast-check, pinned; issue 19) of the readers that take outside input: the safetensors
// header, config.json, the pickle reader, the WebSocket contract and the session reader. Fixed seed and bounded
// runs, so CI is repeatable and quick; a failure prints the seed and the shrunk counterexample. The property is
// always the same: the input is accepted with consistent values, or refused with a LabError of the expected code
// that names the file — never a TypeError, a hang or a crash.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { readSafetensorsHeader } from '../../main/checkpoint/safetensors';
import { loadCheckpoint } from '../../main/checkpoint/index';
import { unpickle } from '../../main/checkpoint/torch-pickle';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';
import { SessionStore } from '../../main/store/session';
import { startServer, type RunningServer } from '../../main/server/server';
import { Engine } from '../../main/engine/engine';
import { requestSchemas } from '../../main/api/contract';
import { LabError } from '../../main/api/errors';

const SEED = 20260419;
export const FUZZ_RUNS = { safetensors: 400, config: 60, pickle: 600, websocket: 300, sessionValues: 150, sessionBytes: 100 };
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-fuzz-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function refusedClearly(e: unknown, codes: string[], file?: string): boolean {
  if (!(e instanceof LabError)) throw e; // a TypeError or anything else fails the property with its own message
  expect(codes).toContain(e.code);
  if (file) expect(e.message).toContain(file);
  return true;
}

test('safetensors header: any header is read consistently or refused naming the file', () => {
  const f = path.join(root, 'fuzz.safetensors');
  const dim = fc.oneof(fc.nat(64), fc.integer({ min: -3, max: -1 }), fc.constant(2 ** 40), fc.double(), fc.string({ maxLength: 3 }));
  const entry = fc.record(
    { dtype: fc.oneof(fc.constantFrom('F32', 'F16', 'BF16', 'I8', 'U8', 'F64', 'I64', 'BOOL', 'toString', '__proto__', 'F128'), fc.string({ maxLength: 5 })), shape: fc.oneof(fc.array(dim, { maxLength: 4 }), fc.anything()), data_offsets: fc.oneof(fc.tuple(fc.nat(300), fc.nat(300)), fc.array(fc.integer({ min: -10, max: 300 }), { maxLength: 3 }), fc.anything()) },
    { requiredKeys: [] },
  );
  const header = fc.oneof(fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(entry, fc.anything()), { maxKeys: 5 }), fc.anything());
  fc.assert(
    fc.property(header, fc.nat(300), fc.option(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), (h, dataBytes, lenOverride) => {
      const json = Buffer.from(JSON.stringify(h) ?? 'undefined');
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(lenOverride ?? BigInt(json.length));
      fs.writeFileSync(f, Buffer.concat([len, json, Buffer.alloc(dataBytes)]));
      try {
        const entries = readSafetensorsHeader(f);
        const size = fs.statSync(f).size;
        for (const e of entries) {
          expect(Number.isSafeInteger(e.offset) && Number.isSafeInteger(e.length)).toBe(true);
          expect(e.offset + e.length).toBeLessThanOrEqual(size); // nothing declared beyond the bytes
        }
        return true;
      } catch (e) {
        return refusedClearly(e, ['BAD_CHECKPOINT'], f);
      }
    }),
    { seed: SEED, numRuns: FUZZ_RUNS.safetensors },
  );
});

test('config.json: any value in the fields a reader uses loads a consistent model or is refused', async () => {
  const ck = writeTinyCheckpoint(path.join(root, 'ck'), 'llama', { seed: 5, layers: 2 });
  const cfgFile = path.join(ck, 'config.json');
  const base = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
  const value = fc.oneof(fc.integer({ min: -4, max: 300 }), fc.constant(2 ** 40), fc.double(), fc.string({ maxLength: 6 }), fc.constant(null), fc.boolean(), fc.array(fc.nat(8), { maxLength: 2 }));
  const keys = fc.constantFrom('hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'vocab_size', 'max_position_embeddings', 'rms_norm_eps', 'rope_theta', 'model_type', 'hidden_act', 'tie_word_embeddings', 'head_dim');
  await fc.assert(
    fc.asyncProperty(fc.dictionary(keys, value, { maxKeys: 3 }), async (edits) => {
      fs.writeFileSync(cfgFile, JSON.stringify({ ...base, ...edits }));
      try {
        const c = await loadCheckpoint(ck, { hash: false });
        // accepted: what it reports agrees with the tensors (2 layers, hidden 32 in the tiny model)
        expect(c.spec.numLayers).toBe(2);
        expect(c.spec.hiddenSize).toBe(32);
        return true;
      } catch (e) {
        return refusedClearly(e, ['BAD_CHECKPOINT', 'UNSUPPORTED'], ck);
      }
    }),
    { seed: SEED, numRuns: FUZZ_RUNS.config },
  );
  fs.writeFileSync(cfgFile, JSON.stringify(base));
});

test('pickle reader: random and mutated pickles never run code and never crash', () => {
  // a valid protocol-2 pickle of {"a": [1, 2.5, "x"]} to mutate
  const valid = Buffer.from([0x80, 2, 0x7d, 0x71, 0, 0x58, 1, 0, 0, 0, 0x61, 0x71, 1, 0x5d, 0x71, 2, 0x28, 0x4b, 1, 0x47, 0x40, 4, 0, 0, 0, 0, 0, 0, 0x58, 1, 0, 0, 0, 0x78, 0x65, 0x73, 0x2e]);
  expect(unpickle(valid, 'valid.pkl', () => undefined)).toEqual(new Map([['a', [1, 2.5, 'x']]]));
  const mutated = fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 }), fc.nat(valid.length)).map(([i, b, cut]) => {
    const m = Buffer.from(valid);
    m[i] = b;
    return m.subarray(0, Math.max(cut, i + 1));
  });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), mutated), (bytes) => {
      try {
        unpickle(bytes, 'fuzz.pkl', () => {
          throw new LabError('BAD_CHECKPOINT', 'fuzz.pkl: no storages in this test');
        });
        return true;
      } catch (e) {
        if (e instanceof RangeError && /call stack/.test(e.message)) throw e;
        return refusedClearly(e, ['BAD_CHECKPOINT'], 'fuzz.pkl');
      }
    }),
    { seed: SEED, numRuns: FUZZ_RUNS.pickle },
  );
});

describe('the WebSocket contract', () => {
  let srv: RunningServer;
  let ws: WebSocket;
  beforeAll(async () => {
    const home = path.join(root, 'ws-home');
    srv = await startServer({ engine: new Engine({ paths: { userData: home, cache: path.join(home, 'cache') }, log: { info() {}, warn() {}, error() {} } }), log: () => {} });
    ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws?token=${srv.token}`);
    await new Promise((r) => ws.once('open', r));
  });
  afterAll(async () => {
    ws.close();
    await srv.close();
  });
  test('any message gets one typed reply (never INTERNAL) and the server keeps answering', async () => {
    // commands that only read or refuse; those that would write are left to the corpus (paths are not fuzzed at random)
    const cmds = Object.keys(requestSchemas).filter((c) => !/^(runs\.start|runs\.resume|sessions\.(new|saveAs|exportRun|import)|charts\.export|cluster\.)/.test(c));
    const msg = fc.oneof(
      fc.record({ id: fc.nat(1e6), cmd: fc.constantFrom(...cmds), payload: fc.oneof(fc.anything(), fc.object()) }).map((m) => JSON.stringify(m)),
      fc.record({ id: fc.anything(), cmd: fc.anything(), payload: fc.anything() }).map((m) => JSON.stringify(m) ?? 'null'),
      fc.string({ maxLength: 50 }),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(msg, async (raw) => {
        const reply = await new Promise<{ id: unknown; ok: boolean; error?: { code: string; message: string } }>((resolve) => {
          ws.once('message', (d) => resolve(JSON.parse(d.toString())));
          ws.send(raw);
        });
        n++;
        if (!reply.ok) expect(reply.error!.code, reply.error!.message).not.toBe('INTERNAL');
        return true;
      }),
      { seed: SEED, numRuns: FUZZ_RUNS.websocket },
    );
    expect(n).toBe(FUZZ_RUNS.websocket);
  });
});

test('session reader: any stored result or job state is returned as valid or refused naming the file', () => {
  const f = path.join(root, 'fuzz.sparsitylab');
  const s = SessionStore.create(f);
  s.createRun({ id: 'r', kind: 'measure', method: 'cett-ppl', config: {} });
  s.saveResult('r', { cett: 0.1 });
  const num = fc.oneof(fc.double(), fc.integer(), fc.constant(null), fc.string({ maxLength: 3 }));
  const result = fc.oneof(fc.anything(), fc.record({ cett: num, activationRatio: num, thresholds: fc.array(num, { maxLength: 3 }), tokens: num, checkpoints: fc.array(fc.record({ pplRatio: num }), { maxLength: 2 }) }, { requiredKeys: [] }));
  const state = fc.oneof(fc.anything(), fc.record({ l: num, r: num, history: fc.array(fc.record({ c: num, pplRatio: num, perCheckpoint: fc.array(num, { maxLength: 2 }) }), { maxLength: 2 }) }, { requiredKeys: [] }));
  try {
    fc.assert(
      fc.property(result, state, (res, st) => {
        s.db.prepare('UPDATE results SET summary=? WHERE run_id=?').run(JSON.stringify(res) ?? 'null', 'r');
        s.db.prepare('UPDATE runs SET state=? WHERE id=?').run(JSON.stringify(st) ?? 'null', 'r');
        for (const read of [() => s.getResult('r'), () => s.runState('r').state]) {
          try {
            const v = read() as Record<string, unknown> | null;
            // accepted: every number a chart or a resume reads is finite
            for (const k of ['cett', 'activationRatio', 'l', 'r']) if (v && typeof v === 'object' && k in v && v[k] !== null) expect(Number.isFinite(v[k])).toBe(true);
          } catch (e) {
            refusedClearly(e, ['SESSION_ERROR'], f);
          }
        }
        return true;
      }),
      { seed: SEED, numRuns: FUZZ_RUNS.sessionValues },
    );
  } finally {
    s.close();
  }
});

test('session reader: any bytes as a session file are refused clearly, and the file is left as it was', () => {
  const f = path.join(root, 'bytes.sparsitylab');
  const magic = Buffer.from('SQLite format 3\0', 'latin1');
  fc.assert(
    fc.property(fc.boolean(), fc.uint8Array({ maxLength: 8192 }), (withMagic, body) => {
      const bytes = withMagic ? Buffer.concat([magic, body]) : Buffer.from(body);
      fs.writeFileSync(f, bytes);
      for (const f2 of [`${f}-wal`, `${f}-shm`, `${f}.lock`]) fs.rmSync(f2, { force: true });
      try {
        SessionStore.open(f).close();
        throw new Error('random bytes opened as a session');
      } catch (e) {
        refusedClearly(e, ['SESSION_ERROR'], f);
      }
      expect(fs.readFileSync(f).equals(bytes)).toBe(true);
      return true;
    }),
    { seed: SEED, numRuns: FUZZ_RUNS.sessionBytes },
  );
});
