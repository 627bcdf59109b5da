// Issue 17: the shipped demo lab is relocatable and re-measurable. A fresh copy of resources/demo-lab (as a new clone
// or install has it) finds its models and text by their paths relative to the session, and measuring a demo run
// again there, with this engine, reproduces the result stored in the shipped session.
import { afterAll, describe, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../main/engine/engine';
import type { JobFinishedEvent } from '../../main/api/domains/runs';
import { prepareDemoSession } from '../../main/engine/demo';
import { SessionStore } from '../../main/store/index';
import { REMEASURABLE_LABEL } from '../../tools/demo-lab/remeasurable';

const shipped = path.resolve(__dirname, '../../resources/demo-lab');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-demo-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('the demo lab from a fresh copy', () => {
  test('its shipped models and text resolve relative to the session; the rest is marked missing, not guessed', () => {
    const copy = path.join(tmp, 'listing');
    fs.cpSync(shipped, copy, { recursive: true });
    const s = SessionStore.open(path.join(copy, 'demo.sparsitylab'), { readOnly: true });
    try {
      const cks = s.listCheckpoints();
      const inCopy = cks.filter((c) => c.path.startsWith(copy + path.sep));
      // relu and silu 64×2 finals (= the shipped models, by content hash) and the 'relu' baseline checkpoint
      expect(inCopy.map((c) => c.relPath).sort()).toEqual(['models/relu', 'models/relu', 'models/silu']);
      for (const c of inCopy) expect(c.missing).toBe(false);
      for (const c of cks) expect(c.missing).toBe(!fs.existsSync(c.path));
      for (const d of s.listDatasets()) expect(d).toMatchObject({ path: path.join(copy, 'eval.txt'), relPath: 'eval.txt', missing: false });
    } finally {
      s.close();
    }
  });

  test('measuring the re-measurable demo run again in the copy reproduces its stored result', async () => {
    const copy = path.join(tmp, 'fresh');
    fs.cpSync(shipped, copy, { recursive: true });
    const home = path.join(tmp, 'home');
    const e = new Engine({ paths: { userData: home, cache: path.join(home, 'cache') }, log: { info() {}, warn() {}, error() {} } });
    const done = new Map<string, JobFinishedEvent>();
    e.onEvent((ev, p) => ev === 'job.finished' && done.set((p as JobFinishedEvent).id, p as JobFinishedEvent));
    try {
      await e.invoke('sessions.open', { path: path.join(copy, 'demo.sparsitylab') });
      const runs = await e.invoke('sessions.listRuns', { topLevelOnly: true });
      const demo = runs.find((r) => r.label === `${REMEASURABLE_LABEL} silu`);
      expect(demo, 'the shipped session holds the re-measurable SiLU run (tools/demo-lab/relocate_session.ts)').toBeDefined();
      const before = await e.invoke('sessions.getRun', { id: demo!.id });
      const { config } = await e.invoke('sessions.rerunConfig', { id: demo!.id });
      const cfg = config as { checkpoint: string; data: string };
      expect(cfg.checkpoint).toBe(path.join(copy, 'models', 'silu'));
      expect(cfg.data).toBe(path.join(copy, 'eval.txt'));
      const { id } = await e.invoke('runs.start', { config: config as never });
      while (!done.has(id)) await new Promise((r) => setTimeout(r, 20));
      expect(done.get(id)!.status, JSON.stringify(done.get(id)!.error)).toBe('completed');
      const after = await e.invoke('sessions.getRun', { id });
      // the same bytes: the new run points at the very checkpoint and text rows the stored run measured
      expect(after.run.checkpointId).toBe(before.run.checkpointId);
      expect(after.checkpointRef!.contentHash).toBe(before.provenance!.inputs!.checkpoints[0].hash);
      expect(after.dataset!.hash).toBe(before.dataset!.hash);
      // the same numbers: the CETT is a point of the outer bisection (exact: every step's PPL ratio is ≥ 1e-4 from
      // the target); the rest to float round-off (relative 1e-5: another CPU's fp32 kernels may round differently)
      const a = before.result as Record<string, number & number[] & number[][]>;
      const b = after.result as Record<string, number & number[] & number[][]>;
      const near = (x: number, y: number, what: string) => expect(Math.abs(x - y), `${what}: ${x} vs ${y}`).toBeLessThanOrEqual(1e-5 * Math.abs(y));
      expect(b.cett).toBe(a.cett);
      expect(b.searchHistory.length).toBe(a.searchHistory.length);
      for (const k of ['activationRatio', 'pplDense', 'pplSparse', 'pplRatio']) near(b[k], a[k], k);
      expect(b.thresholdsPerBatch.length).toBe(a.thresholdsPerBatch.length);
      b.thresholds.forEach((t, l) => near(t, a.thresholds[l], `threshold ${l}`));
      expect(b.perLayerActivation.length).toBe(a.perLayerActivation.length);
      b.perLayerActivation.forEach((x, l) => near(x, a.perLayerActivation[l], `layer ${l} activation`));
      expect(after.provenance!.measurement!.search).toMatchObject({ candidates: before.provenance!.measurement!.search!.candidates, q99Cap: true });
    } finally {
      await e.dispose();
    }
  }, 120_000);

  test("the app's private copy (user data) holds the models too, so Measure works on a fresh install", () => {
    const userData = path.join(tmp, 'userdata');
    const r = prepareDemoSession(userData);
    expect(r.path).toBe(path.join(userData, 'demo-lab', 'demo.sparsitylab'));
    const s = SessionStore.open(r.path!, { readOnly: true });
    try {
      const relu = s.listCheckpoints().find((c) => c.name === 'relu')!;
      expect(relu).toMatchObject({ missing: false, path: path.join(userData, 'demo-lab', 'models', 'relu') });
    } finally {
      s.close();
    }
    // a second call keeps the user's copy as it is
    fs.writeFileSync(path.join(userData, 'demo-lab', 'notes.txt'), 'mine');
    prepareDemoSession(userData);
    expect(fs.readFileSync(path.join(userData, 'demo-lab', 'notes.txt'), 'utf8')).toBe('mine');
  });
});
