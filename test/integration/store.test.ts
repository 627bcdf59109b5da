// Session files: round trip of every entity, migrations, damaged / foreign / newer files, hostile JSON,
// (the kill -9 and concurrent-reader tests are in store-kill-resume.test.ts).
import { afterAll, describe, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SessionStore, importRuns, exportRun, recordMeasurement } from '../../main/store/index';
import { MIGRATIONS, SCHEMA_VERSION } from '../../main/store/schema';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-store-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const f = (n: string) => path.join(tmp, n);

function sampleResult(L: number, F: number) {
  const tau = Array.from({ length: L }, (_, l) => Array.from({ length: F }, (_, i) => Math.fround(0.001 * (l + 1) * (i + 1))));
  return {
    method: 'cett-ppl',
    p: 1,
    cett: 0.1234,
    activationRatio: 0.25,
    sparsity: 0.75,
    pplDense: 10.5,
    pplSparse: 10.6,
    pplRatio: 1.0095,
    thresholds: [0.5, 0.25],
    tau,
    neuronFrequency: tau.map((r) => r.map((x) => Math.fround(x / 10))),
    sampleMatrix: [
      [0.1, 0.2],
      [0.3, 0.4],
    ].map((r) => r.map(Math.fround)),
    thresholdsPerBatch: [[0.5, 0.25]],
    provider: 'cpu',
    dtype: 'float32',
  };
}

describe('round trip', () => {
  test('checkpoints, datasets, runs, results with arrays, fits and charts survive close and reopen', () => {
    const s = SessionStore.create(f('a.sparsitylab'));
    const ck = s.upsertCheckpoint({ path: '/m/relu-step-100', family: 'llama', activation: 'relu', hiddenSize: 64, layers: 2, intermediateSize: 160, parameters: 1000, nonEmbeddingParameters: 800, widthDepthRatio: 32, contentHash: 'abc' }, { series: 'relu-s', tokensTrained: 1e6 });
    const ds = s.upsertDataset({ path: '/d/eval.txt', tokens: 4096, seqLen: 128 });
    s.createRun({ id: 'r1', kind: 'measure', method: 'cett-ppl', checkpointId: ck, datasetId: ds, p: 1, config: { a: 1 } });
    const res = sampleResult(2, 5);
    s.saveResult('r1', res);
    s.updateRun('r1', { status: 'completed', notes: 'hello', label: 'first' });
    s.saveFit({ series: 'relu-s', kind: 'series', spec: { form: 'relu' }, result: { A0: 0.06 } });
    s.saveChart('pareto', { logX: true });
    s.saveChartSpec('frequency', 'relu-s', { bins: 50 });
    s.saveChartSpec('frequency', null, { bins: 20 });
    s.close();
    const t = SessionStore.open(f('a.sparsitylab'));
    expect(t.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(t.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(() => t.createRun({ id: 'orphan', kind: 'measure', method: 'fat', checkpointId: 999, config: {} })).toThrow(/FOREIGN KEY/);
    const ckRow = t.listCheckpoints()[0];
    expect(ckRow).toMatchObject({ path: '/m/relu-step-100', series: 'relu-s', tokensTrained: 1e6, activation: 'relu', widthDepthRatio: 32 });
    expect(t.listDatasets()[0]).toMatchObject({ path: '/d/eval.txt', tokens: 4096, seqLen: 128 });
    const run = t.getRun('r1')!;
    expect(run).toMatchObject({ status: 'completed', cett: 0.1234, activationRatio: 0.25, pplRatio: 1.0095, checkpoint: 'relu-step-100', activation: 'relu', notes: 'hello', label: 'first' });
    expect(t.runConfig('r1')).toEqual({ a: 1 });
    expect(t.getResult('r1')).toEqual(res); // float32 arrays were stored as float32: exact round trip
    expect(t.listFits('series')[0].result).toEqual({ A0: 0.06 });
    expect(t.getChart('pareto')).toEqual({ logX: true });
    expect(t.listChartSpecs('frequency')).toMatchObject([{ series: null, spec: { bins: 20 } }, { series: 'relu-s', spec: { bins: 50 } }]);
    expect(t.updateCheckpoint(ckRow.id, { notes: 'step 100', series: 'renamed' })).toBeUndefined();
    expect(t.getCheckpoint(ckRow.id)).toMatchObject({ notes: 'step 100', series: 'renamed' });
    t.close();
  });

  test('delete is undoable until close, then final', () => {
    const s = SessionStore.create(f('del.sparsitylab'));
    s.createRun({ id: 'x', kind: 'measure', method: 'fat', config: {} });
    s.deleteRun('x');
    expect(s.listRuns().map((r) => r.id)).toEqual([]);
    s.undoDelete('x');
    expect(s.listRuns().map((r) => r.id)).toEqual(['x']);
    s.deleteRun('x');
    s.close();
    const t = SessionStore.open(f('del.sparsitylab'));
    expect(t.listRuns({ includeDeleted: true })).toEqual([]);
    t.close();
  });

  test('import another session’s runs (dedupe by checkpoint hash) and export JSON/CSV', () => {
    const a = SessionStore.create(f('imp-a.sparsitylab'));
    const ck = a.upsertCheckpoint({ path: '/cluster/ck', contentHash: 'h1', activation: 'silu' });
    a.createRun({ id: 'c1', kind: 'measure', method: 'cett-ppl', checkpointId: ck, p: 1, config: {} });
    a.saveResult('c1', sampleResult(2, 3));
    a.close();
    const b = SessionStore.create(f('imp-b.sparsitylab'));
    b.upsertCheckpoint({ path: '/home/ck', contentHash: 'h1', activation: 'silu' });
    expect(importRuns(b, f('imp-a.sparsitylab'))).toMatchObject({ imported: 1, skipped: 0, checkpoints: 0 });
    expect(importRuns(b, f('imp-a.sparsitylab'))).toMatchObject({ imported: 0, skipped: 1, duplicates: 1, checkpoints: 0 });
    expect(b.getRun('c1')!.checkpoint).toBe('ck');
    expect(b.getResult('c1')).toEqual(sampleResult(2, 3));
    exportRun(b, 'c1', 'csv', f('c1.csv'));
    const csv = fs.readFileSync(f('c1.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toContain('activationRatio');
    expect(csv).toHaveLength(1 + 2);
    exportRun(b, 'c1', 'json', f('c1.json'));
    expect(JSON.parse(fs.readFileSync(f('c1.json'), 'utf8')).result.cett).toBe(0.1234);
    expect(() => exportRun(b, 'c1', 'json', '/proc/nope/x.json')).toThrow(/cannot write/);
    b.close();
  });
});

describe('files that are not what they claim', () => {
  test('a file that is not SQLite', () => {
    fs.writeFileSync(f('text.sparsitylab'), 'hello, I am a text file pretending to be a session\n'.repeat(10));
    expect(() => SessionStore.open(f('text.sparsitylab'))).toThrow(/not a Sparsity Lab session/);
    fs.writeFileSync(f('empty.sparsitylab'), '');
    expect(() => SessionStore.open(f('empty.sparsitylab'))).toThrow(/SQLite/);
  });

  test('an SQLite file of another application', () => {
    const db = new Database(f('other.sparsitylab'));
    db.exec('CREATE TABLE t (x)');
    db.close();
    expect(() => SessionStore.open(f('other.sparsitylab'))).toThrow(/not a Sparsity Lab session/);
  });

  test('a damaged session (garbage in the middle) gives a clear error, never a crash', () => {
    const s = SessionStore.create(f('dmg.sparsitylab'));
    for (let i = 0; i < 200; i++) {
      s.createRun({ id: `r${i}`, kind: 'measure', method: 'cett-ppl', config: { i, pad: 'x'.repeat(400) } });
      s.saveResult(`r${i}`, sampleResult(4, 50));
    }
    s.close();
    const buf = fs.readFileSync(f('dmg.sparsitylab'));
    expect(buf.length).toBeGreaterThan(100_000);
    const mid = Math.floor(buf.length / 2);
    for (let i = mid; i < mid + 16384; i++) buf[i] = (i * 7919) & 0xff;
    fs.writeFileSync(f('dmg.sparsitylab'), buf);
    expect(() => SessionStore.open(f('dmg.sparsitylab'))).toThrow(/dmg\.sparsitylab: .*(damaged|malformed)/);
  });

  test('a session from a newer app version opens read-only with a notice', () => {
    SessionStore.create(f('new.sparsitylab')).close();
    const db = new Database(f('new.sparsitylab'));
    db.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
    db.close();
    const s = SessionStore.open(f('new.sparsitylab'));
    expect(s.readOnly).toBe(true);
    expect(s.notice).toMatch(/newer Sparsity Lab/);
    expect(() => s.createRun({ id: 'x', kind: 'k', method: 'm', config: {} })).toThrow(/read-only/);
    expect(s.listRuns()).toEqual([]);
    s.close();
  });

  test('hostile JSON in a column is reported, not executed or crashed on', () => {
    const s = SessionStore.create(f('hostile.sparsitylab'));
    s.createRun({ id: 'h', kind: 'measure', method: 'cett-ppl', config: {} });
    s.saveResult('h', sampleResult(2, 2));
    s.db.prepare('UPDATE results SET summary=? WHERE run_id=?').run('{"__proto__": {"polluted": true}, "x": ', 'h');
    s.db.prepare('UPDATE runs SET config=? WHERE id=?').run('}{', 'h');
    expect(() => s.getResult('h')).toThrow(/damaged/);
    expect(() => s.runConfig('h')).toThrow(/damaged/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // a BLOB whose bytes do not match its shape, an unknown dtype, a shape that is not an array of sizes
    s.db.prepare("UPDATE results SET summary='{}' WHERE run_id='h'").run();
    s.db.prepare("UPDATE arrays SET shape='[1000000,1000000]' WHERE run_id='h' AND name='tau'").run();
    expect(() => s.getResult('h')).toThrow(/array tau of run h: \d+ bytes do not match shape/);
    s.db.prepare("UPDATE arrays SET shape='[2,2]', dtype='int64; DROP TABLE runs' WHERE run_id='h' AND name='tau'").run();
    expect(() => s.getResult('h')).toThrow(/unknown dtype/);
    s.db.prepare("UPDATE arrays SET dtype='float32', shape='{\"length\":2}' WHERE run_id='h' AND name='tau'").run();
    expect(() => s.getResult('h')).toThrow(/do not match shape/);
    expect(s.hasRun('h')).toBe(true);
    s.close();
  });
});

describe('migrations', () => {
  test('a v1 file (every earlier version) is upgraded, its data kept and a backup left', () => {
    for (let from = 1; from < SCHEMA_VERSION; from++) {
      const file = f(`v${from}.sparsitylab`);
      const db = new Database(file);
      for (let v = 0; v < from; v++) MIGRATIONS[v](db);
      db.pragma(`user_version = ${from}`);
      db.prepare('INSERT INTO meta (key,value) VALUES (?,?)').run('created_at', 'then');
      db.prepare("INSERT INTO runs (id,kind,method,config,status,created_at,updated_at) VALUES ('old','measure','fat','{}','completed','t','t')").run();
      db.close();
      const s = SessionStore.open(file);
      expect(s.notice).toMatch(new RegExp(`from schema v${from} to v${SCHEMA_VERSION}`));
      expect(s.getRun('old')).toMatchObject({ status: 'completed', notes: '', label: '' });
      s.updateRun('old', { notes: 'new column works' });
      expect(s.getRun('old')!.notes).toBe('new column works');
      s.saveChartSpec('pareto', 'relu-s', { logX: true }); // v3 table
      expect(s.listChartSpecs('pareto')).toMatchObject([{ series: 'relu-s', spec: { logX: true } }]);
      const idx = (s.db.prepare("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='runs'").all() as { name: string }[]).map((r) => r.name);
      expect(idx).toEqual(expect.arrayContaining(['runs_status', 'runs_method_p', 'runs_cett', 'runs_activation_ratio', 'runs_ppl_ratio']));
      s.close();
      expect(fs.existsSync(`${file}.v${from}.bak`)).toBe(true);
      expect(new Database(file, { readonly: true }).pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    }
  });
});

describe('recordMeasurement (no engine)', () => {
  test('creates the session when missing and records checkpoint, dataset, run and result together', () => {
    const file = f('rec.sparsitylab');
    fs.writeFileSync(f('rec.txt'), 'some evaluation text\n');
    const id = recordMeasurement(file, { path: '/m/s/step-1', activation: 'relu', series: 's', tokensTrained: 5e8 }, { path: f('rec.txt'), seqLen: 64, tokens: 1024 }, { method: 'cett-ppl', p: 1, config: { p: 1 } }, sampleResult(2, 3));
    const again = recordMeasurement(file, { path: '/m/s/step-1' }, undefined, { id: 'fixed', method: 'fat', param: 0.01, config: {} }, { activationRatio: 0.4 });
    expect(again).toBe('fixed');
    const s = SessionStore.open(file, { readOnly: true });
    expect(s.listCheckpoints()).toHaveLength(1);
    expect(s.getRun(id)).toMatchObject({ status: 'completed', checkpoint: 's/step-1', activation: 'relu', tokensTrained: 5e8, cett: 0.1234 });
    expect(s.getRun('fixed')).toMatchObject({ method: 'fat', param: 0.01, activationRatio: 0.4, cett: null });
    expect(s.getResult(id)).toEqual(sampleResult(2, 3));
    expect(s.listDatasets()[0]).toMatchObject({ tokens: 1024, seqLen: 64, hash: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    s.close();
    expect(() => recordMeasurement(file, { path: '/m/x' }, undefined, { id: 'fixed', method: 'fat', config: {} }, {})).toThrow(/run fixed exists already in .*rec\.sparsitylab/);
    const t = SessionStore.open(file, { readOnly: true });
    expect(t.listCheckpoints()).toHaveLength(1); // the failed record left nothing behind
    t.close();
  });
});
