// Issue 18: tags and a note on every run, kept in the session (schema v6 adds runs.tags). A session written before
// tags existed (v5) opens: writable it is upgraded with its runs untagged and a .v5.bak copy kept; read-only it is
// left as it is and its runs still list (untagged). Tags are trimmed, deduplicated and bounded; the engine's
// sessions.updateRun sets them, and a CETT-PPL-p% run whose target cannot be met says so in its row.
import { afterAll, describe, expect, test, vi } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SessionStore } from '../../main/store/index';
import { normalizeTags } from '../../main/store/session';
import { SCHEMA_VERSION } from '../../main/store/schema';
import { importRuns } from '../../main/store/transfer';
import { Engine } from '../../main/engine/engine';
import type { SessionRun } from '../../main/api/domains/sessions';
import { main } from '../../main/cli/index';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-tags-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const f = (n: string) => path.join(tmp, n);

/** a session file as schema v5 wrote it: the same tables, no runs.tags, user_version 5 */
function v5Session(file: string): void {
  const s = SessionStore.create(file);
  s.createRun({ id: 'old', kind: 'measure', method: 'cett-ppl', p: 1, config: {}, status: 'completed' });
  s.saveResult('old', { activationRatio: 0.3, pplRatio: 1.01, targetNotMet: 'the p = 1% target cannot be met: test' });
  s.updateRun('old', { notes: 'from before tags' });
  s.close();
  const db = new Database(file);
  db.exec('ALTER TABLE runs DROP COLUMN tags');
  db.pragma('user_version = 5');
  db.close();
}

describe('run tags', () => {
  test('the schema is v6', () => expect(SCHEMA_VERSION).toBe(6));

  test('a v5 session opens: upgraded with its runs untagged (writable), untouched and still listed (read-only)', () => {
    v5Session(f('ro.sparsitylab'));
    const bytes = fs.readFileSync(f('ro.sparsitylab'));
    const ro = SessionStore.open(f('ro.sparsitylab'), { readOnly: true });
    try {
      expect(ro.listRuns().map((r) => [r.id, r.tags, r.notes])).toEqual([['old', [], 'from before tags']]);
      expect(ro.getRun('old')?.targetNotMet).toMatch(/cannot be met/);
    } finally {
      ro.close();
    }
    expect(fs.readFileSync(f('ro.sparsitylab')).equals(bytes)).toBe(true);

    v5Session(f('rw.sparsitylab'));
    const s = SessionStore.open(f('rw.sparsitylab'));
    try {
      expect(s.notice).toMatch(/upgraded from schema v5 to v6/);
      expect(fs.existsSync(f('rw.sparsitylab.v5.bak'))).toBe(true);
      expect(s.getRun('old')).toMatchObject({ tags: [], notes: 'from before tags', status: 'completed' });
      s.updateRun('old', { tags: ['baseline', 'fig-2'] });
      expect(s.getRun('old')?.tags).toEqual(['baseline', 'fig-2']);
    } finally {
      s.close();
    }
    const again = SessionStore.open(f('rw.sparsitylab'), { readOnly: true });
    expect(again.getRun('old')?.tags).toEqual(['baseline', 'fig-2']);
    again.close();    // import runs keeps them (as it keeps label and note)
    const into = SessionStore.create(f('into.sparsitylab'));
    try {
      expect(importRuns(into, f('rw.sparsitylab')).imported).toBe(1);
      expect(into.getRun('old')?.tags).toEqual(['baseline', 'fig-2']);
    } finally {
      into.close();
    }
  });

  test('`sparsity-lab runs` lists tags and target-not-met, and --tag filters', async () => {
    const file = f('cli.sparsitylab');
    const s = SessionStore.create(file);
    s.createRun({ id: 'a', kind: 'measure', method: 'cett-ppl', p: 50, config: {}, status: 'completed' });
    s.saveResult('a', { activationRatio: 0.01, pplRatio: 1.2, targetNotMet: 'the p = 50% target cannot be met: x' });
    s.createRun({ id: 'b', kind: 'measure', method: 'fat', param: 0.1, config: {}, status: 'completed' });
    s.updateRun('a', { tags: ['paper'] });
    s.close();
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((m: string) => void out.push(m));
    try {
      await main(['runs', file, '--json', '--tag', 'paper']);
      const rows = JSON.parse(out.join('\n')) as { id: string; tags: string[]; targetNotMet: string | null }[];
      expect(rows.map((r) => [r.id, r.tags, !!r.targetNotMet])).toEqual([['a', ['paper'], true]]);
      out.length = 0;
      await main(['runs', file]);
      expect(out.find((l) => l.startsWith('a '))).toMatch(/\[target not met\]  #paper$/);
      expect(out.find((l) => l.startsWith('b '))).not.toMatch(/target not met|#/);
    } finally {
      log.mockRestore();
    }
  });

  test('tags are trimmed, deduplicated and bounded; setting tags leaves the note and label alone', () => {
    expect(normalizeTags([' a ', 'b', 'a', '', '  '])).toEqual(['a', 'b']);
    expect(() => normalizeTags(['x'.repeat(41)])).toThrow(/at most 40 characters/);
    expect(() => normalizeTags(Array.from({ length: 21 }, (_, i) => `t${i}`))).toThrow(/at most 20 tags/);
    const s = SessionStore.create(f('n.sparsitylab'));
    try {
      s.createRun({ id: 'r', kind: 'measure', method: 'fat', param: 0.1, config: {} });
      s.updateRun('r', { label: 'L', notes: 'N' });
      s.updateRun('r', { tags: ['x'] });
      expect(s.getRun('r')).toMatchObject({ label: 'L', notes: 'N', tags: ['x'], targetNotMet: null });
      s.updateRun('r', { tags: [] });
      expect(s.getRun('r')?.tags).toEqual([]);
    } finally {
      s.close();
    }
  });

  test('sessions.updateRun sets tags through the engine; hostile values are refused with a clear error', async () => {
    const home = f('home');
    const e = new Engine({ paths: { userData: home, cache: path.join(home, 'cache') }, log: { info() {}, warn() {}, error() {} } });
    try {
      const pre = SessionStore.create(f('tagged.sparsitylab'));
      pre.createRun({ id: 'r1', kind: 'measure', method: 'relu', config: {}, status: 'completed' });
      pre.close();
      await e.invoke('sessions.open', { path: f('tagged.sparsitylab') });
      const r = (await e.call('sessions.updateRun', { id: 'r1', tags: ['ok', ' ok ', 'paper'] })) as SessionRun;
      expect(r.tags).toEqual(['ok', 'paper']);
      expect(((await e.call('sessions.listRuns', {})) as SessionRun[])[0].tags).toEqual(['ok', 'paper']);
      await expect(e.call('sessions.updateRun', { id: 'r1', tags: 'ok' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      await expect(e.call('sessions.updateRun', { id: 'r1', tags: ['y'.repeat(60)] })).rejects.toThrow(/at most 40 characters/);
    } finally {
      await e.dispose();
    }
  });
});
