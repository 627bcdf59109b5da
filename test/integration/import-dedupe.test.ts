// Importing runs (issue 18): a run whose content is in the session already is reported "already present (same content
// hash)" and not copied, whatever its id; content is what was measured (inputs by hash, settings, result), not where
// the files were; an id taken by other content is not overwritten; through the contract the report is per run.
import { afterAll, describe, expect, test } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SessionStore, importRuns, runContentHash } from '../../main/store/index';
import { Engine } from '../../main/engine/engine';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-import-dedupe-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const f = (n: string) => path.join(tmp, n);

const result = (ratio: number) => ({ method: 'cett-ppl', p: 1, cett: 0.12, activationRatio: ratio, pplRatio: 1.01, perLayerActivation: [ratio - 0.01, ratio + 0.01], thresholds: [0.5, 0.25], neuronFrequency: [[0.25, 0.5], [0.75, 0.125]], timingsMs: { total: 1234 } });

/** One measured run as a session stores it, at `where` (the checkpoint and text may sit anywhere: same bytes). */
function addRun(s: SessionStore, id: string, where: string, res: Record<string, unknown>, extra: { parentId?: string; kind?: string; param?: number } = {}): void {
  const ck = s.upsertCheckpoint({ path: `${where}/relu/step-100`, contentHash: 'ck-hash-1', activation: 'relu' });
  const ds = s.upsertDataset({ path: `${where}/eval.txt`, hash: 'text-hash', tokens: 4096, seqLen: 256 });
  s.createRun({ id, parentId: extra.parentId, kind: extra.kind ?? 'measure', method: 'cett-ppl', checkpointId: ck, datasetId: ds, p: 1, param: extra.param ?? null, config: { kind: 'measure', checkpoint: `${where}/relu/step-100`, data: `${where}/eval.txt`, tokens: 4096, seqLen: 256, batch: 16, provider: 'cpu' } });
  s.saveResult(id, res);
  s.updateRun(id, { status: 'completed', label: `label of ${id}` });
}

describe('import with duplicate detection by content hash', () => {
  test('the hash covers inputs, settings and result; not ids, labels or file locations', () => {
    const a = SessionStore.create(f('hash-a.sparsitylab'));
    addRun(a, 'r1', '/home/me', result(0.3));
    addRun(a, 'r2', '/cluster/scratch', result(0.3)); // the same measurement, files elsewhere, another id
    addRun(a, 'r3', '/home/me', result(0.31)); // one number differs
    a.updateRun('r2', { notes: 'a note is not content' });
    const h = (id: string) => runContentHash(a, id);
    expect(h('r1')).toMatch(/^[0-9a-f]{64}$/);
    expect(h('r2')).toBe(h('r1'));
    expect(h('r3')).not.toBe(h('r1'));
    // independent of key order: the same result saved with its keys reversed hashes the same
    addRun(a, 'r4', '/x', Object.fromEntries(Object.entries(result(0.3)).reverse()));
    expect(h('r4')).toBe(h('r1'));
    // and it is a sha256 of the content, not of anything stored with the id: recomputed here from the parts
    const canon = (v: unknown): string => (Array.isArray(v) ? `[${v.map(canon).join(',')}]` : v && typeof v === 'object' ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon((v as Record<string, unknown>)[k])}`).join(',')}}` : JSON.stringify(v ?? null));
    const content = { kind: 'measure', method: 'cett-ppl', p: 1, param: null, checkpoint: 'ck-hash-1', dataset: { hash: 'text-hash', tokens: 4096, seqLen: 256 }, settings: { kind: 'measure', tokens: 4096, seqLen: 256, batch: 16, provider: 'cpu' }, status: 'completed', result: a.getResult('r1') };
    expect(h('r1')).toBe(crypto.createHash('sha256').update(canon(content)).digest('hex'));
    a.close();
  });

  test('duplicates by content are skipped and named; new runs come in; a taken id is never overwritten', () => {
    const here = SessionStore.create(f('here.sparsitylab'));
    addRun(here, 'mine', '/home/me', result(0.3));
    addRun(here, 'taken', '/home/me', result(0.5));
    here.close();
    const there = SessionStore.create(f('there.sparsitylab'));
    addRun(there, 'cluster-copy', '/cluster/scratch', result(0.3)); // = 'mine' here
    addRun(there, 'taken', '/cluster/scratch', result(0.6)); // same id, other content
    addRun(there, 'taken-child', '/cluster/scratch', result(0.6), { parentId: 'taken', kind: 'sweep-point', param: 0.1 });
    addRun(there, 'new', '/cluster/scratch', result(0.2));
    addRun(there, 'new-child', '/cluster/scratch', result(0.2), { parentId: 'new', kind: 'sweep-point', param: 0.1 });
    there.close();

    const s = SessionStore.open(f('here.sparsitylab'));
    const r1 = importRuns(s, f('there.sparsitylab'));
    expect(r1).toMatchObject({ imported: 2, skipped: 3, duplicates: 1, checkpoints: 0 });
    const by = new Map(r1.runs.map((r) => [r.id, r]));
    expect(by.get('cluster-copy')).toMatchObject({ outcome: 'duplicate', sameAs: 'mine', reason: 'already present (same content hash) as run mine' });
    expect(by.get('taken')).toMatchObject({ outcome: 'conflict' });
    expect(by.get('taken')!.reason).toMatch(/different content.*nothing was overwritten/);
    expect(by.get('taken-child')).toMatchObject({ outcome: 'orphan' });
    expect(by.get('new')).toMatchObject({ outcome: 'imported', label: 'label of new' });
    expect(by.get('new-child')).toMatchObject({ outcome: 'imported' });
    expect(s.getRun('new-child')!.parentId).toBe('new');
    expect(s.getResult('taken')!.activationRatio).toBe(0.5); // untouched
    expect(s.listRuns().map((r) => r.id).sort()).toEqual(['mine', 'new', 'new-child', 'taken']);

    // the same import again: every run it copied is now a duplicate of itself; nothing is added
    const r2 = importRuns(s, f('there.sparsitylab'));
    expect(r2).toMatchObject({ imported: 0, duplicates: 3 });
    expect(r2.runs.find((r) => r.id === 'new')).toMatchObject({ outcome: 'duplicate', sameAs: 'new', reason: 'already present (same content hash)' });
    expect(s.listRuns()).toHaveLength(4);
    s.close();
  });

  test('through the contract: the report per run, and the session unchanged by a duplicate', async () => {
    const here = SessionStore.create(f('c-here.sparsitylab'));
    addRun(here, 'a', '/home/me', result(0.3));
    here.close();
    const there = SessionStore.create(f('c-there.sparsitylab'));
    addRun(there, 'a-elsewhere', '/data', result(0.3));
    there.close();
    const e = new Engine({ paths: { userData: f('engine'), cache: f('cache') }, log: { info() {}, warn() {}, error() {} } });
    try {
      await e.call('sessions.open', { path: f('c-here.sparsitylab') });
      const r = await e.call('sessions.importRuns', { from: f('c-there.sparsitylab') });
      expect(r).toMatchObject({ imported: 0, skipped: 1, duplicates: 1, runs: [{ id: 'a-elsewhere', outcome: 'duplicate', sameAs: 'a', reason: 'already present (same content hash) as run a' }] });
      expect((await e.invoke('sessions.listRuns', {})).map((x) => x.id)).toEqual(['a']);
      // not a session: refused naming the file, never a raw I/O error
      await expect(e.invoke('sessions.importRuns', { from: '/proc/self/mem' })).rejects.toMatchObject({ code: 'SESSION_ERROR', message: expect.stringContaining('/proc/self/mem') });
      await e.call('sessions.close', {});
    } finally {
      await e.dispose();
    }
  });
});
