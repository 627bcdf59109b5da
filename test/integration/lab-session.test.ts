// Issue 18, the lab's defects: a running measurement keeps its session and label (runs.active says both; opening,
// creating, saving-as or closing another session is refused while it writes, so a reload whose URL names another
// session cannot leave it 'interrupted'), and a sweep's points are runs of their own once it finishes (rows with
// numbers in listRuns and `sparsity-lab runs`, not '—'), its parent not labelled with a p% it never used.
import { afterAll, describe, expect, test, vi } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { JobInfo } from '../../main/api/domains/runs';
import type { SessionRun } from '../../main/api/domains/sessions';
import { SessionStore } from '../../main/store/index';
import { sessionChartSource } from '../../main/store/chart-source';
import { main } from '../../main/cli/index';
import { methodLabel, sweepCounts } from '../../renderer/src/runrows';
import { testEngine, tinyMeasureSetup } from './engine-fixture';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-lab-session-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));


const { base } = tinyMeasureSetup(tmp, 'relu', { activation: 'relu', seed: 3 });

describe('a running measurement keeps its session and its label', () => {
  test('runs.active names both; switching sessions is refused until it ends; then allowed', async () => {
    const { e, finished } = testEngine(path.join(tmp, 'home-a'));
    const a = path.join(tmp, 'a.sparsitylab');
    const b = path.join(tmp, 'b.sparsitylab');
    SessionStore.create(b).close();
    try {
      await e.invoke('sessions.new', { path: a });
      const { id } = await e.invoke('runs.start', { config: { ...base, method: 'cett-ppl', p: 5 } as never });
      const active = (await e.call('runs.active', {})) as JobInfo[];
      expect(active).toMatchObject([{ id, label: 'CETT-PPL-5% · relu', session: a }]);
      for (const call of [() => e.call('sessions.open', { path: b }), () => e.call('sessions.new', { path: path.join(tmp, 'c.sparsitylab') }), () => e.call('sessions.saveAs', { path: path.join(tmp, 'd') }), () => e.call('sessions.close', {})])
        await expect(call()).rejects.toMatchObject({ code: 'BUSY', message: expect.stringMatching(/'CETT-PPL-5% · relu' is measuring into .*a\.sparsitylab/) });
      expect(fs.existsSync(path.join(tmp, 'c.sparsitylab'))).toBe(false);
      // reopening the session it writes into is fine (a reload of the window that started it)
      expect(await e.call('sessions.open', { path: a })).toMatchObject({ path: a });
      const f = await finished(id);
      expect(f.status, JSON.stringify(f.error)).toBe('completed');
      expect((await e.call('sessions.getRun', { id })) as { run: SessionRun }).toMatchObject({ run: { status: 'completed', p: 5 } });
      expect(await e.call('sessions.open', { path: b })).toMatchObject({ path: b });
    } finally {
      await e.dispose();
    }
  });
});

describe('sweep points are runs of their own', () => {
  test('CETT and FAT-ε sweeps: one completed child row per point with its numbers; the parent is named by the sweep', async () => {
    const { e, finished } = testEngine(path.join(tmp, 'home-s'));
    const file = path.join(tmp, 'sweeps.sparsitylab');
    try {
      await e.invoke('sessions.new', { path: file });
      const cett = [0, 0.05, 0.3];
      const fat = [0, 0.02];
      const r1 = await e.invoke('runs.start', { config: { ...base, method: 'cett-ppl', sweep: cett } as never });
      const f1 = await finished(r1.id);
      const r2 = await e.invoke('runs.start', { config: { ...base, method: 'fat', sweep: fat } as never });
      const f2 = await finished(r2.id);
      expect([f1.status, f2.status], JSON.stringify([f1.error, f2.error])).toEqual(['completed', 'completed']);
      const rows = (await e.call('sessions.listRuns', {})) as SessionRun[];
      for (const [f, params, method] of [[f1, cett, 'cett'], [f2, fat, 'fat']] as const) {
        const pts = (f.result as { points: { param: number; activationRatio: number; pplRatio: number }[] }).points;
        const kids = rows.filter((r) => r.parentId === f.id).sort((x, y) => x.id.localeCompare(y.id));
        expect(kids.map((k) => [k.kind, k.method, k.status, k.param])).toEqual(params.map((p) => ['sweep-point', method, 'completed', p]));
        expect(kids.map((k) => [k.activationRatio, k.pplRatio])).toEqual(pts.map((p) => [p.activationRatio, p.pplRatio]));
        expect(kids.every((k) => k.checkpoint === rows.find((r) => r.id === f.id)!.checkpoint)).toBe(true);
        if (method === 'cett') expect(kids.map((k) => k.cett)).toEqual(params);
      }
      // CETT 0 drops only the ReLU's exact zeros: PPL unchanged; a larger CETT never activates more
      const acts = cett.map((_, i) => rows.find((r) => r.id === `${f1.id}#${i}`)!);
      expect(acts[0].pplRatio).toBeCloseTo(1, 6);
      expect(acts[1].activationRatio!).toBeLessThanOrEqual(acts[0].activationRatio!);
      expect(acts[2].activationRatio!).toBeLessThan(acts[0].activationRatio!);
      const parent = rows.find((r) => r.id === f1.id)!;
      expect(parent.p).toBeNull(); // not 'CETT-PPL-1%'
      const counts = sweepCounts(rows);
      expect(methodLabel(parent, counts.get(parent.id))).toBe('CETT sweep ×3 (0, 0.05, 0.3)'); // what it sweeps, from its config
      expect(methodLabel(rows.find((r) => r.id === f2.id)!, counts.get(f2.id))).toBe('FAT-ε sweep ×2 (0, 0.02)');
      expect(methodLabel(rows.find((r) => r.id === `${f2.id}#1`)!)).toBe('FAT-ε 0.02');
      // the full result stays on the parent
      expect(((await e.call('sessions.getRun', { id: f1.id })) as { result: { points: unknown[] } }).result.points).toHaveLength(3);
      await e.call('sessions.close', {});
    } finally {
      await e.dispose();
    }
    // the charts see each point once (the child rows; the parent's points are not expanded a second time)
    const ro = SessionStore.open(file, { readOnly: true });
    try {
      const pts = sessionChartSource(ro, false).runs().filter((r) => r.activationRatio !== undefined);
      expect(pts.map((r) => [r.method, r.param]).sort()).toEqual([['cett', 0], ['cett', 0.05], ['cett', 0.3], ['fat', 0], ['fat', 0.02]]);
    } finally {
      ro.close();
    }
    // `sparsity-lab runs` shows each point's numbers
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((m: string) => void out.push(m));
    try {
      await main(['runs', file, '--json']);
    } finally {
      log.mockRestore();
    }
    const listed = JSON.parse(out.join('\n')) as { id: string; activationRatio: number | null }[];
    expect(listed.filter((r) => r.id.includes('#')).every((r) => typeof r.activationRatio === 'number')).toBe(true);
    expect(listed.filter((r) => r.id.includes('#'))).toHaveLength(5);
  });
});
