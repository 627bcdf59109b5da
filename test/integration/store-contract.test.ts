// sessions.* through the engine contract (what the UI calls) and `sparsity-lab runs <file> --json`.
import { afterAll, describe, expect, test, vi } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../main/engine/engine';
import { main } from '../../main/cli/index';
import { SessionStore } from '../../main/store/index';
import type { SessionInfo, SessionRun } from '../../main/api/domains/sessions';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-store-contract-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const f = (n: string) => path.join(tmp, n);

/** A session with two checkpoints of one series and three runs with known numbers. */
function seed(file: string): void {
  const s = SessionStore.create(file);
  const a = s.upsertCheckpoint({ path: '/m/relu/step-100', family: 'llama', activation: 'relu', contentHash: 'ha' }, { series: 'relu-0.1b', tokensTrained: 1e9 });
  const b = s.upsertCheckpoint({ path: '/m/silu/step-200', family: 'llama', activation: 'silu', contentHash: 'hb' }, { series: 'silu-0.1b', tokensTrained: 2e9 });
  const rows: [string, number, string, number, number, number][] = [
    ['r-a', a, 'cett-ppl', 0.12, 0.3, 1.01],
    ['r-b', b, 'cett-ppl', 0.2, 0.6, 1.009],
    ['r-c', a, 'fat', 0.05, 0.1, 1.2],
  ];
  for (const [id, ck, method, cett, act, ppl] of rows) {
    s.createRun({ id, kind: 'measure', method, checkpointId: ck, p: method === 'cett-ppl' ? 1 : null, config: { id } });
    s.saveResult(id, { cett, activationRatio: act, pplRatio: ppl, perLayerActivation: [act - 0.01, act + 0.01], thresholds: [0.1, 0.2] });
    s.updateRun(id, { status: 'completed' });
  }
  s.close();
}

describe('sessions.* through the contract', () => {
  test('new/open/list/filter/sort/compare/update/delete/undo/fits/charts/import/export/saveAs/close, with events and recents', async () => {
    const home = f('home');
    const engine = new Engine({ paths: { userData: home, cache: f('cache') }, log: { info() {}, warn() {}, error() {} } });
    const events: [string, unknown][] = [];
    engine.onEvent((e, p) => events.push([e, p]));
    try {
      seed(f('seeded.sparsitylab'));
      const info = (await engine.call('sessions.open', { path: f('seeded.sparsitylab') })) as SessionInfo;
      expect(info).toMatchObject({ runs: 3, checkpoints: 2, readOnly: false, interrupted: 0 });
      expect(events.at(-1)).toEqual(['session.changed', { path: f('seeded.sparsitylab'), what: 'opened' }]);

      const bySort = (await engine.call('sessions.listRuns', { sort: 'activationRatio', desc: true })) as SessionRun[];
      expect(bySort.map((r) => r.id)).toEqual(['r-b', 'r-a', 'r-c']);
      const relu = (await engine.call('sessions.listRuns', { activation: 'relu', method: 'cett-ppl' })) as SessionRun[];
      expect(relu.map((r) => [r.id, r.checkpoint, r.tokensTrained, r.series])).toEqual([['r-a', 'relu/step-100', 1e9, 'relu-0.1b']]);

      const cmp = (await engine.call('sessions.compareRuns', { ids: ['r-a', 'r-b'] })) as { runs: SessionRun[]; results: { perLayerActivation: number[] }[] };
      expect(cmp.runs.map((r) => r.cett)).toEqual([0.12, 0.2]);
      expect(cmp.results[1].perLayerActivation).toEqual([0.59, 0.61]);
      await expect(engine.call('sessions.compareRuns', { ids: ['r-a', 'nope'] })).rejects.toThrow(/no run nope/);

      const upd = (await engine.call('sessions.updateRun', { id: 'r-a', label: 'baseline', notes: 'first try' })) as SessionRun;
      expect(upd).toMatchObject({ label: 'baseline', notes: 'first try' });
      expect(events.at(-1)).toEqual(['session.changed', { path: f('seeded.sparsitylab'), what: 'runs' }]);

      await engine.call('sessions.deleteRun', { id: 'r-c' });
      expect(((await engine.call('sessions.listRuns', {})) as SessionRun[]).map((r) => r.id).sort()).toEqual(['r-a', 'r-b']);
      await engine.call('sessions.undoDelete', { id: 'r-c' });
      expect(((await engine.call('sessions.listRuns', {})) as SessionRun[]).length).toBe(3);

      await engine.call('sessions.saveFit', { kind: 'series', series: 'relu-0.1b', spec: { form: 'relu' }, result: { A0: 0.06 } });
      await engine.call('sessions.saveFit', { kind: 'series', series: 'relu-0.1b', spec: { form: 'relu' }, result: { A0: 0.07 } }); // replaces
      expect(((await engine.call('sessions.listFits', { kind: 'series' })) as { result: unknown }[]).map((x) => x.result)).toEqual([{ A0: 0.07 }]);
      await engine.call('sessions.saveChartSpec', { kind: 'pareto', series: 'relu-0.1b', spec: { logX: true } });
      expect(await engine.call('sessions.listChartSpecs', {})).toMatchObject([{ kind: 'pareto', series: 'relu-0.1b', spec: { logX: true } }]);
      expect(await engine.call('sessions.deleteChartSpec', { kind: 'pareto', series: 'relu-0.1b' })).toEqual({ deleted: true });

      const cks = (await engine.call('sessions.listCheckpoints', {})) as { id: number; name: string }[];
      await engine.call('sessions.updateCheckpoint', { id: cks[0].id, name: 'renamed', notes: 'n' });
      expect(((await engine.call('sessions.listCheckpoints', {})) as { name: string }[]).map((c) => c.name)).toContain('renamed');

      const exp = (await engine.call('sessions.exportRun', { id: 'r-b', format: 'csv', out: f('r-b.csv') })) as { bytes: number };
      const lines = fs.readFileSync(f('r-b.csv'), 'utf8').trim().split('\n');
      expect(exp.bytes).toBe(fs.statSync(f('r-b.csv')).size);
      expect(lines.map((l) => l.split(',').slice(-2).map(Number))).toEqual([[NaN, NaN], [0.59, 0.1], [0.61, 0.2]]);

      // save as: an online backup, then the copy is the open session; the original is untouched
      await engine.call('sessions.deleteRun', { id: 'r-c' }); // pending soft delete travels as a soft delete
      const copy = (await engine.call('sessions.saveAs', { path: f('copy') })) as SessionInfo;
      expect(copy.path).toBe(f('copy.sparsitylab'));
      expect(copy.runs).toBe(2);
      await engine.call('sessions.undoDelete', { id: 'r-c' });

      // import a "cluster" session: new checkpoint, one new run, existing run skipped
      const c = SessionStore.create(f('cluster.sparsitylab'));
      const ck = c.upsertCheckpoint({ path: '/cluster/relu/step-100', contentHash: 'ha', activation: 'relu' });
      const ck2 = c.upsertCheckpoint({ path: '/cluster/relu/step-300', contentHash: 'hc', activation: 'relu' }, { series: 'relu-0.1b', tokensTrained: 3e9 });
      c.createRun({ id: 'r-a', kind: 'measure', method: 'cett-ppl', checkpointId: ck, config: {} });
      c.createRun({ id: 'r-cluster', kind: 'measure', method: 'cett-ppl', checkpointId: ck2, p: 1, config: {} });
      c.saveResult('r-cluster', { cett: 0.11, activationRatio: 0.25, pplRatio: 1.01 });
      c.close();
      // r-a: the id is taken here by a run with other content (config, result): not imported, nothing overwritten
      expect(await engine.call('sessions.importRuns', { from: f('cluster.sparsitylab') })).toMatchObject({ imported: 1, skipped: 1, duplicates: 0, checkpoints: 1, runs: [{ id: 'r-a', outcome: 'conflict' }, { id: 'r-cluster', outcome: 'imported' }] });
      const got = (await engine.call('sessions.getRun', { id: 'r-cluster' })) as { run: SessionRun; result: { cett: number } };
      expect(got.run).toMatchObject({ checkpoint: 'relu/step-300', tokensTrained: 3e9, activationRatio: 0.25 });
      await expect(engine.call('sessions.importRuns', { from: f('copy.sparsitylab') })).rejects.toThrow(/into itself/);

      expect(await engine.call('sessions.close', {})).toEqual({ closed: true });
      await expect(engine.call('sessions.listRuns', {})).rejects.toThrow(/no session is open/);
      const recent = (await engine.call('sessions.recent', {})) as { path: string }[];
      expect(recent.map((r) => r.path)).toEqual(expect.arrayContaining([f('seeded.sparsitylab'), f('copy.sparsitylab')]));

      // the original was closed by save-as, so its pending delete became final there; the copy (where the
      // delete was undone) has all four
      const orig = SessionStore.open(f('seeded.sparsitylab'), { readOnly: true });
      expect(orig.listRuns({ includeDeleted: true }).map((r) => r.id)).toEqual(['r-a', 'r-b']);
      orig.close();
      const cp = SessionStore.open(f('copy.sparsitylab'), { readOnly: true });
      expect(cp.listRuns().map((r) => r.id).sort()).toEqual(['r-a', 'r-b', 'r-c', 'r-cluster']);
      cp.close();

      // bad files through the contract: clear errors naming the file
      fs.writeFileSync(f('notes.sparsitylab'), 'just text, not a database at all........');
      await expect(engine.call('sessions.open', { path: f('notes.sparsitylab') })).rejects.toMatchObject({ code: 'SESSION_ERROR', message: expect.stringContaining('notes.sparsitylab') });
      await expect(engine.call('sessions.new', { path: f('seeded.sparsitylab') })).rejects.toThrow(/exists already/);
    } finally {
      await engine.dispose();
    }
  });
});

describe('sparsity-lab runs <file> --json (in process; store-cli.test.ts runs the real binary)', () => {
  test('prints every run with its checkpoint, activation, tokens and numbers; a missing file is a clear error', async () => {
    seed(f('cli.sparsitylab'));
    const out: string[] = [];
    const err: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((m: string) => void out.push(m));
    const error = vi.spyOn(console, 'error').mockImplementation((m: string) => void err.push(m));
    try {
      expect(await main(['runs', f('cli.sparsitylab'), '--json'])).toBe(0);
      expect(await main(['runs', f('nothing-here.sparsitylab'), '--json'])).toBe(1);
    } finally {
      log.mockRestore();
      error.mockRestore();
    }
    const runs = JSON.parse(out[0]) as Record<string, unknown>[];
    expect(runs.map((x) => [x.id, x.checkpoint, x.activation, x.tokensTrained, x.method, x.p, x.status, x.cett, x.activationRatio, x.pplRatio])).toEqual([
      ['r-a', 'relu/step-100', 'relu', 1e9, 'cett-ppl', 1, 'completed', 0.12, 0.3, 1.01],
      ['r-b', 'silu/step-200', 'silu', 2e9, 'cett-ppl', 1, 'completed', 0.2, 0.6, 1.009],
      ['r-c', 'relu/step-100', 'relu', 1e9, 'fat', null, 'completed', 0.05, 0.1, 1.2],
    ]);
    expect(err.join('\n')).toMatch(/nothing-here\.sparsitylab: no such session file/);
  });
});
