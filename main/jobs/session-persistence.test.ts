// The one path that writes child runs (a training series' checkpoints, a CETT sweep's points, a p% sweep's runs):
// every child is created once and its result stored once per finish, none is skipped, and a finish repeated (a run
// finished again after a crash) adds no row. Counted on the store's own write calls, so a second writer of the same
// child (or a missing one) fails here.
import { afterAll, describe, expect, test, vi } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SessionStore } from '../store/session';
import { SessionJobPersistence } from './session-persistence';
import { JsonFilePersistence } from './persistence';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-jobpersist-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** a session, its persistence and the count of createRun/saveResult calls per run id */
function setup(name: string) {
  const s = SessionStore.create(path.join(tmp, `${name}.sparsitylab`));
  const p = new SessionJobPersistence(() => s, new JsonFilePersistence(path.join(tmp, `${name}-jobs`)));
  const created = new Map<string, number>();
  const saved = new Map<string, Record<string, unknown>[]>();
  const createRun = s.createRun.bind(s);
  const saveResult = s.saveResult.bind(s);
  vi.spyOn(s, 'createRun').mockImplementation((r) => {
    created.set(r.id, (created.get(r.id) ?? 0) + 1);
    createRun(r);
  });
  vi.spyOn(s, 'saveResult').mockImplementation((id, res) => {
    saved.set(id, [...(saved.get(id) ?? []), res]);
    saveResult(id, res);
  });
  return { s, p, created, saved };
}

const kids = (s: SessionStore, id: string) => s.listRuns({ parentId: id }).sort((a, b) => a.id.localeCompare(b.id));

describe('SessionJobPersistence.finish writes each child run once', () => {
  test('a p% sweep: one child per p from `runs` (the full results), none from the `points` table', async () => {
    const { s, p, created, saved } = setup('psweep');
    await p.create('ps', 'measure', { kind: 'measure', sweepP: [1, 5, 10] });
    const runs = [1, 5, 10].map((pp, i) => ({ p: pp, cett: 0.1 * (i + 1), activationRatio: 0.5 - 0.1 * i, pplRatio: 1 + pp / 100, thresholds: [i, i + 0.5] }));
    const points = runs.map((r) => ({ p: r.p, param: r.p, cett: r.cett, activationRatio: r.activationRatio, pplRatio: r.pplRatio }));
    await p.finish('ps', 'completed', { result: { kind: 'sweep', sweepOver: 'p', method: 'cett-ppl', points, runs } });
    const ids = ['ps#0', 'ps#1', 'ps#2'];
    expect(kids(s, 'ps').map((k) => [k.id, k.kind, k.method, k.p])).toEqual(ids.map((id, i) => [id, 'sweep-point', 'cett-ppl', runs[i].p]));
    for (const [i, id] of ids.entries()) {
      expect(created.get(id), id).toBe(1);
      expect(saved.get(id), id).toEqual([runs[i]]);
      expect(s.getResult(id)!.thresholds).toEqual(runs[i].thresholds);
    }
    expect(s.getResult('ps')!.runs).toBeUndefined();
    expect(saved.get('ps')).toHaveLength(1);
    s.close();
  });

  test('a running p% sweep: each finished point written once, the steps after it save only the search, the finish keeps it', async () => {
    const { s, p, created, saved } = setup('psweep-running');
    await p.create('pr', 'measure', { kind: 'measure', sweepP: [1, 5, 10] });
    const stateBytes: number[] = [];
    const updateRun = s.updateRun.bind(s);
    vi.spyOn(s, 'updateRun').mockImplementation((id, u) => {
      if (u.state !== undefined) stateBytes.push(JSON.stringify(u.state).length);
      updateRun(id, u);
    });
    const big = Array.from({ length: 4 }, (_, l) => Array.from({ length: 500 }, (_, i) => (l * 500 + i) / 2048)); // exact in float32
    const runs = [1, 5, 10].map((pp, i) => ({ p: pp, cett: 0.1 * (i + 1), activationRatio: 0.5 - 0.1 * i, pplRatio: 1 + pp / 100, thresholds: [i, i + 0.5], neuronFrequency: big }));
    const search = (k: number) => ({ l: 0, r: 1 / (k + 2), history: Array.from({ length: k }, (_, j) => ({ c: j / 10, pplRatio: 1, perCheckpoint: [1] })) });
    for (const [i, r] of runs.entries()) {
      for (let k = 0; k < 5; k++) await p.saveStep('pr', { kind: 'p-sweep', done: i, search: search(k) });
      await p.saveChild('pr', i, r);
      await p.saveStep('pr', { kind: 'p-sweep', done: i + 1 });
      // what a resume gets back: the finished points, in order, whole
      expect((await p.load('pr'))!.children).toEqual(runs.slice(0, i + 1));
    }
    const ids = ['pr#0', 'pr#1', 'pr#2'];
    const rows = () => ids.map((id) => s.db.prepare('SELECT r.rowid, r.updated_at, x.rowid xr FROM runs r JOIN results x ON x.run_id = r.id WHERE r.id=?').get(id));
    const before = rows();
    const points = runs.map((r) => ({ p: r.p, param: r.p, cett: r.cett, activationRatio: r.activationRatio, pplRatio: r.pplRatio }));
    await p.finish('pr', 'completed', { result: { kind: 'sweep', sweepOver: 'p', method: 'cett-ppl', points, runs } });
    for (const [i, id] of ids.entries()) {
      expect(created.get(id), id).toBe(1);
      expect(saved.get(id), id).toEqual([runs[i]]); // once: when its point finished, not again at the finish
      expect(s.getResult(id)!.neuronFrequency).toEqual(big);
    }
    expect(rows()).toEqual(before);
    expect(kids(s, 'pr').map((k) => [k.kind, k.method, k.p, k.status])).toEqual(runs.map((r) => ['sweep-point', 'cett-ppl', r.p, 'completed']));
    // every step's state is the count and the search: no finished point in it, however many there are
    expect(stateBytes).toHaveLength(18);
    expect(Math.max(...stateBytes)).toBeLessThan(300);
    expect((await p.load('pr'))!.children).toBeUndefined(); // a completed run resumes nothing
    s.close();
  });

  test('the job-file folder (no session): a finished point is its own file, written once; load hands the points back', async () => {
    const dir = path.join(tmp, 'psweep-files');
    const p = new JsonFilePersistence(dir);
    await p.create('pf', 'measure', { kind: 'measure', sweepP: [1, 5] });
    await p.saveStep('pf', { kind: 'p-sweep', done: 0, search: { l: 0, r: 0.5, history: [] } });
    const pt = { p: 1, cett: 0.25, activationRatio: 0.4, pplRatio: 1.01, neuronFrequency: [[0.1 + 0.2, 1 / 3]] };
    await p.saveChild('pf', 0, pt);
    const child = path.join(dir, 'pf.child-0.json');
    const st0 = fs.statSync(child);
    for (let k = 0; k < 3; k++) await p.saveStep('pf', { kind: 'p-sweep', done: 1, search: { l: 0, r: 0.5 / (k + 1), history: [] } });
    const st1 = fs.statSync(child);
    expect([st1.ino, st1.mtimeMs]).toEqual([st0.ino, st0.mtimeMs]); // not rewritten by the steps (a rewrite renames a new file in)
    expect(fs.readFileSync(path.join(dir, 'pf.job.json'), 'utf8')).not.toContain('neuronFrequency');
    const j = (await p.load('pf'))!;
    expect(j.children).toEqual([pt]); // exact: 0.1 + 0.2 and 1/3 to the last bit
    expect(j.state).toEqual({ kind: 'p-sweep', done: 1, search: { l: 0, r: 0.5 / 3, history: [] } });
    expect((await p.listUnfinished()).map((x) => x.id)).toEqual(['pf']);
    fs.writeFileSync(child, '{"p": 1,');
    await expect(p.load('pf')).rejects.toThrow(/pf\.child-0\.json: cannot be read as JSON/);
    // completed: the result holds the points, their files go
    await p.finish('pf', 'completed', { result: { kind: 'sweep', sweepOver: 'p', runs: [pt] } });
    expect(fs.readdirSync(dir)).toEqual(['pf.job.json']);
  });

  test('a CETT sweep: one child per point, its CETT the point parameter', async () => {
    const { s, p, created, saved } = setup('sweep');
    await p.create('sw', 'measure', { kind: 'measure', sweep: [0.1, 0.2] });
    const points = [0.1, 0.2].map((param, i) => ({ param, activationRatio: 0.4 - i * 0.1, pplRatio: 1 + param }));
    await p.finish('sw', 'completed', { result: { kind: 'sweep', method: 'cett-ppl', points, provider: 'cpu', dtype: 'float32' } });
    expect(kids(s, 'sw').map((k) => [k.id, k.kind, k.method, k.param, k.cett, k.provider])).toEqual([
      ['sw#0', 'sweep-point', 'cett', 0.1, 0.1, 'cpu'],
      ['sw#1', 'sweep-point', 'cett', 0.2, 0.2, 'cpu'],
    ]);
    expect([created.get('sw#0'), created.get('sw#1'), saved.get('sw#0')?.length, saved.get('sw#1')?.length]).toEqual([1, 1, 1, 1]);
    s.close();
  });

  test('a training series: one child per checkpoint; finishing again adds no row and rewrites each result once', async () => {
    const { s, p, created, saved } = setup('series');
    await p.create('se', 'series', { kind: 'series', p: 1 });
    const checkpoints = ['a/step-1000', 'a/step-2000', 'a/step-3000'].map((c, i) => ({ checkpoint: path.join(tmp, c), cett: 0.2, activationRatio: 0.3 - 0.01 * i }));
    await p.finish('se', 'completed', { result: { cett: 0.2, checkpoints } });
    await p.finish('se', 'completed', { result: { cett: 0.2, checkpoints } });
    expect(kids(s, 'se').map((k) => [k.kind, k.method, k.p, k.activationRatio])).toEqual(checkpoints.map((c) => ['series-point', 'cett', 1, c.activationRatio]));
    for (const i of [0, 1, 2]) {
      expect(created.get(`se#${i}`)).toBe(1);
      expect(saved.get(`se#${i}`)).toHaveLength(2); // one per finish
    }
    expect(s.getResult('se')).toMatchObject({ cett: 0.2, checkpointCount: 3 });
    s.close();
  });

  test('a single run has no children', async () => {
    const { s, p, created } = setup('single');
    await p.create('one', 'measure', { kind: 'measure', p: 1 });
    await p.finish('one', 'completed', { result: { cett: 0.3, activationRatio: 0.2 } });
    expect(kids(s, 'one')).toEqual([]);
    expect([...created.keys()]).toEqual(['one']);
    s.close();
  });
});
