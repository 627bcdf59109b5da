// Issue 17 part A: immutable provenance. Checkpoints and texts keyed by content hash (a changed file is a new row;
// an old run keeps pointing at the bytes it measured), everything that decides a number recorded with the run,
// resume refused when an input changed, relocatable sessions (relative paths, re-point with hash check), the v3 → v4
// migration on a file of the previous version.
import { afterAll, describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';
import { SessionJobPersistence } from '../../main/jobs/session-persistence';
import { SessionStore, exportRun, importRuns, relink, relinkFolder, rerunConfig } from '../../main/store/index';
import { MIGRATIONS, SCHEMA_VERSION } from '../../main/store/schema';
import { JobRunner } from '../../main/jobs/runner';
import { JsonFilePersistence } from '../../main/jobs/persistence';
import { relinkCommand } from '../../main/cli/relink';
import { loadCheckpoint } from '../../main/checkpoint/index';
import { createRunner } from '../../main/inference/index';
import { batchStream } from '../../main/metrics/data';
import { measureCettPpl } from '../../main/metrics/cett-ppl';
import { downWeightsOf } from '../../main/metrics/target';
import { ferryText, testEngine } from './engine-fixture';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-prov-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const sha256 = (b: Buffer | string) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;
const TEXT = ferryText(120);


/** flips one byte near the end of the checkpoint's weights (same size, other content) */
let bump = 0;
function touchWeights(dir: string): void {
  const f = path.join(dir, 'model.safetensors');
  const b = fs.readFileSync(f);
  b[b.length - 7] ^= 0x01;
  fs.writeFileSync(f, b);
  // a distinct mtime even on a file system with coarse timestamps (the hash cache keys on size + mtime)
  const t = Date.now() / 1000 + 10 * ++bump;
  fs.utimesSync(f, t, t);
}

describe('a run records everything that decides its number', () => {
  test('CETT-PPL on a tiny checkpoint: app, commit, input and tokenizer hashes, phases, search choices', async () => {
    const dir = path.join(tmp, 'prov');
    const ck = writeTinyCheckpoint(path.join(dir, 'models', 'relu'), 'llama', { activation: 'relu', hidden: 32, layers: 2, seed: 7 });
    const data = path.join(dir, 'eval.txt');
    fs.writeFileSync(data, TEXT);
    const { e, finished } = testEngine(path.join(dir, 'home'));
    try {
      await e.invoke('sessions.new', { path: path.join(dir, 'lab.sparsitylab') });
      const config = { kind: 'measure' as const, checkpoint: ck, data, method: 'cett-ppl' as const, p: 1, tokens: 512, seqLen: 64, batch: 4, tol: 1e-2, thresholdMode: 'authors' as const, provider: 'cpu' as const, bosPerSequence: false };
      const { id } = await e.invoke('runs.start', { config });
      const f = await finished(id);
      expect(f.status, JSON.stringify(f.error)).toBe('completed');
      const got = await e.invoke('sessions.getRun', { id });
      const prov = got.provenance!;
      // the build: package version and the commit of this checkout (computed here independently)
      expect(prov.app.version).toBe(JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')).version);
      let head = 'unknown';
      try {
        head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: path.resolve(__dirname, '../..'), encoding: 'utf8' }).trim();
      } catch {
        /* not a checkout */
      }
      expect(prov.app.commit.replace(/-dirty$/, '')).toBe(head);
      expect(prov.app.onnxruntime).toMatch(/^\d+\.\d+/);
      // inputs by content: the text's sha256 as computed here; the checkpoint's hash is the session row's
      expect(prov.inputs!.data).toEqual({ path: data, hash: sha256(fs.readFileSync(data)) });
      expect(prov.inputs!.checkpoints).toEqual([{ path: ck, hash: got.checkpointRef!.contentHash }]);
      expect(got.checkpointRef!.contentHash).toMatch(/^[0-9a-f]{64}$/);
      const tokFiles = ['tokenizer.json', 'tokenizer.model', 'tokenizer_config.json', 'special_tokens_map.json'].filter((x) => fs.existsSync(path.join(ck, x)));
      const th = crypto.createHash('sha256');
      for (const x of tokFiles) {
        const b = fs.readFileSync(path.join(ck, x));
        th.update(x).update('\0').update(String(b.length)).update('\0').update(b);
      }
      expect(prov.tokenizer).toEqual({ hash: `sha256:${th.digest('hex')}`, files: tokFiles });
      // the measurement: phases with provider and dtype, the authors' grid and cap, zero-norm tokens counted
      const m = prov.measurement!;
      expect(m.phases.map((p) => p.phase)).toEqual(['dense', 'thresholds', 'sparse']);
      expect(m.phases[0]).toEqual({ phase: 'dense', provider: 'cpu', dtype: 'float32' });
      expect(m.search).toMatchObject({ candidates: 65536, q99Cap: true, engineFallback: null, provider: 'cpu' });
      expect(m.search!.q99Stride).toMatch(/65536/);
      expect(['float64', 'float32']).toContain(m.search!.productPrecision);
      expect(Number.isInteger(m.search!.zeroNormTokens)).toBe(true);
      // thresholds are batch means; the per-batch ones were applied and are stored
      expect(m.perBatchThresholds).toBe(true);
      expect(m.thresholds).toMatch(/means over the evaluation batches.*does not reproduce/);
      const res = got.result as { thresholds: number[]; thresholdsPerBatch: number[][] };
      expect(res.thresholdsPerBatch.length).toBe(2); // 512 tokens / 64 = 8 sequences = 2 batches of 4
      for (let l = 0; l < 2; l++) expect(res.thresholds[l]).toBeCloseTo((res.thresholdsPerBatch[0][l] + res.thresholdsPerBatch[1][l]) / 2, 12);
      // the dataset row is the text by content, the run points at it
      expect(got.dataset).toMatchObject({ hash: sha256(fs.readFileSync(data)), tokens: 512, seqLen: 64, relPath: 'eval.txt', missing: false });
      expect(got.checkpointRef).toMatchObject({ relPath: 'models/relu', missing: false, path: ck });
    } finally {
      await e.dispose();
    }
  }, 60_000);

  test('a training series: each point run names its own checkpoint bytes and the shared text, with its measurement', async () => {
    const dir = path.join(tmp, 'series');
    const cks = [1, 2].map((i) => writeTinyCheckpoint(path.join(dir, 'relu', `step-${i}00`), 'llama', { activation: 'relu', hidden: 32, layers: 2, seed: 20 + i }));
    const data = path.join(dir, 'eval.txt');
    fs.writeFileSync(data, TEXT);
    const { e, finished } = testEngine(path.join(dir, 'home'));
    try {
      await e.invoke('sessions.new', { path: path.join(dir, 'lab.sparsitylab') });
      const config = { kind: 'measure-series' as const, checkpoints: cks.map((p, i) => ({ path: p, tokensSeen: (i + 1) * 1e6 })), lastK: 2, data, method: 'cett-ppl' as const, p: 1, tokens: 256, seqLen: 64, batch: 4, tol: 1e-2, thresholdMode: 'authors' as const, provider: 'cpu' as const, bosPerSequence: false };
      const { id } = await e.invoke('runs.start', { config });
      expect((await finished(id)).status).toBe('completed');
      const parent = await e.invoke('sessions.getRun', { id });
      expect(parent.provenance!.inputs!.checkpoints.map((c) => c.path)).toEqual(cks);
      expect(parent.children).toHaveLength(2);
      for (const [i, child] of parent.children.entries()) {
        const c = await e.invoke('sessions.getRun', { id: child.id });
        expect(c.provenance!.inputs!.checkpoints).toEqual([parent.provenance!.inputs!.checkpoints[i]]);
        expect(c.checkpointRef!.contentHash).toBe(parent.provenance!.inputs!.checkpoints[i].hash);
        expect(c.dataset!.hash).toBe(sha256(TEXT));
        expect(c.provenance!.measurement!.search).toMatchObject({ candidates: 65536, q99Cap: true });
      }
      expect(parent.provenance!.inputs!.checkpoints[0].hash).not.toBe(parent.provenance!.inputs!.checkpoints[1].hash);
    } finally {
      await e.dispose();
    }
  }, 60_000);

  test('runs.start refuses a missing checkpoint or text at once, naming it (no "started" job that then fails)', async () => {
    const dir = path.join(tmp, 'missing');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'eval.txt'), TEXT);
    const { e } = testEngine(path.join(dir, 'home'));
    try {
      const config = { kind: 'measure' as const, checkpoint: path.join(dir, 'gone'), data: path.join(dir, 'eval.txt'), method: 'cett-ppl' as const, p: 1, tokens: 512, seqLen: 64, batch: 4, tol: 1e-2, thresholdMode: 'authors' as const, provider: 'cpu' as const, bosPerSequence: false };
      await expect(e.invoke('runs.start', { config })).rejects.toThrow(/checkpoint .*gone: no such file or folder/);
      await expect(e.invoke('runs.start', { config: { ...config, checkpoint: dir, data: path.join(dir, 'nope.txt') } })).rejects.toThrow(/evaluation text .*nope\.txt: no such file/);
      expect(await e.invoke('runs.active', {})).toEqual([]);
    } finally {
      await e.dispose();
    }
  });
});

describe('the search record comes from the engine that ran', () => {
  test('fused search: its precision, no zero-norm count; an out-of-memory fallback is a field, not only text', async () => {
    const dir = writeTinyCheckpoint(path.join(tmp, 'fused'), 'llama', { activation: 'relu', hidden: 32, layers: 2, heads: 4, intermediate: 48, vocab: 300, seed: 9, std: 0.2, maxPositions: 64 });
    const ckpt = await loadCheckpoint(dir);
    const runner = await createRunner(ckpt, { provider: 'cpu', maxSeq: 32 });
    try {
      let x = 5;
      const ids = Int32Array.from({ length: 6 * 20 }, () => (x = (x * 1103515245 + 12345) >>> 0) % 300);
      const data = batchStream(ids, { seqLen: 20, batch: 3 }, 'test');
      const target = { id: dir, runner, downWeights: downWeightsOf(ckpt) };
      const o = { p: 5, tol: 0.05, thresholdMode: 'authors' as const, curveEngine: 'fused' as const };
      const fused = await measureCettPpl(target, data, o);
      expect(fused.search).toEqual({ engine: 'fused', provider: 'cpu', productPrecision: runner.dtype, candidates: 65536, q99Cap: true, q99Stride: expect.stringMatching(/65536/), zeroNormTokens: null, engineFallback: null });
      // the device "runs out of memory" in the fused call: the run continues on the ORT probe curves and says so
      const oom = { ...runner, searchStep: async () => Promise.reject(new Error('Failed to allocate memory for requested buffer')) };
      const fell = await measureCettPpl({ ...target, runner: oom as typeof runner }, data, o);
      expect(fell.search).toMatchObject({ engine: 'ort', productPrecision: 'float32', engineFallback: { from: 'fused', to: 'ort', reason: 'device out of memory' } });
      expect(fell.fallbackReasons.join(' ')).toMatch(/fused search ran out of device memory/);
      // the host curves count the tokens left out for a zero FFN output (summed over batches and layers)
      expect(Number.isInteger(fell.search!.zeroNormTokens)).toBe(true);
      expect(fell.cett).toBe(fused.cett);
    } finally {
      await runner.dispose();
    }
  });
});

describe('content-hash keys: a row is never rewritten', () => {
  test('after the file changes, the old run still points at the old hash and a new run at a new row', async () => {
    const dir = path.join(tmp, 'immutable');
    const ck = writeTinyCheckpoint(path.join(dir, 'ck'), 'llama', { activation: 'relu', hidden: 32, layers: 2, seed: 1 });
    const data = path.join(dir, 'eval.txt');
    fs.writeFileSync(data, TEXT);
    const s = SessionStore.create(path.join(dir, 'lab.sparsitylab'));
    const p = new SessionJobPersistence(() => s, new JsonFilePersistence(path.join(dir, 'jobs')));
    const runner = new JobRunner(p, { progress() {}, finished() {} });
    const cfg = { kind: 'measure', checkpoint: ck, data, tokens: 512, seqLen: 64 };
    const a = await runner.start('measure', cfg, async () => ({ activationRatio: 0.3, provider: 'cpu', dtype: 'float32' }));
    await a.done;
    const runA = s.getRun(a.id)!;
    const hashA = s.getCheckpoint(runA.checkpointId!)!.contentHash!;
    const dataA = s.getDataset(runA.datasetId!)!;

    touchWeights(ck);
    fs.appendFileSync(data, 'one more line\n');
    const b = await runner.start('measure', cfg, async () => ({ activationRatio: 0.4, provider: 'cpu', dtype: 'float32' }));
    await b.done;
    const runB = s.getRun(b.id)!;
    expect(runB.checkpointId).not.toBe(runA.checkpointId);
    expect(runB.datasetId).not.toBe(runA.datasetId);
    // run A: same row, same hash as before the change; run B: the new content
    expect(s.getRun(a.id)!.checkpointId).toBe(runA.checkpointId);
    expect(s.getCheckpoint(runA.checkpointId!)!.contentHash).toBe(hashA);
    expect(s.getCheckpoint(runB.checkpointId!)!.contentHash).not.toBe(hashA);
    expect(s.getDataset(runA.datasetId!)!.hash).toBe(dataA.hash);
    expect(s.getDataset(runB.datasetId!)!.hash).toBe(sha256(fs.readFileSync(data)));
    expect(s.runProvenance(a.id)!.inputs!.checkpoints[0].hash).toBe(hashA);
    // measuring the same bytes again reuses the row (and a third run of the changed file finds run B's row)
    const c = await runner.start('measure', cfg, async () => ({ activationRatio: 0.4 }));
    await c.done;
    expect(s.getRun(c.id)!.checkpointId).toBe(runB.checkpointId);
    expect(s.listCheckpoints()).toHaveLength(2);
    s.close();
  });
});

describe('provenance travels with the run', () => {
  test('importRuns keeps it (and the text row); a JSON export carries it', async () => {
    const dir = path.join(tmp, 'travel');
    const ck = writeTinyCheckpoint(path.join(dir, 'ck'), 'llama', { activation: 'relu', hidden: 32, layers: 2, seed: 5 });
    fs.writeFileSync(path.join(dir, 'eval.txt'), TEXT);
    const s = SessionStore.create(path.join(dir, 'cluster.sparsitylab'));
    const runner = new JobRunner(new SessionJobPersistence(() => s, new JsonFilePersistence(path.join(dir, 'jobs'))), { progress() {}, finished() {} });
    const r = await runner.start('measure', { kind: 'measure', checkpoint: ck, data: path.join(dir, 'eval.txt'), tokens: 256, seqLen: 64 }, async () => ({ activationRatio: 0.2, provider: 'cpu', dtype: 'float32', thresholdsPerBatch: [[0.1, 0.2]], thresholds: [0.1, 0.2] }));
    await r.done;
    const prov = s.runProvenance(r.id)!;
    expect(prov.measurement!.perBatchThresholds).toBe(true);
    s.close();
    const home = SessionStore.create(path.join(dir, 'home.sparsitylab'));
    importRuns(home, path.join(dir, 'cluster.sparsitylab'));
    expect(home.runProvenance(r.id)).toEqual(prov);
    const run = home.getRun(r.id)!;
    expect(home.getDataset(run.datasetId!)).toMatchObject({ hash: sha256(TEXT), tokens: 256, seqLen: 64 });
    expect(home.getCheckpoint(run.checkpointId!)!.contentHash).toBe(prov.inputs!.checkpoints[0].hash);
    const out = exportRun(home, r.id, 'json', path.join(dir, 'run.json'));
    expect(JSON.parse(fs.readFileSync(out.path, 'utf8')).provenance).toEqual(prov);
    home.close();
  });
});

describe('resume re-checks the input hashes', () => {
  test('refused, naming the file, when the checkpoint or the text changed; allowed when both are as they were', async () => {
    const dir = path.join(tmp, 'resume');
    const ck = writeTinyCheckpoint(path.join(dir, 'ck'), 'llama', { activation: 'relu', hidden: 32, layers: 2, seed: 2 });
    const data = path.join(dir, 'eval.txt');
    fs.writeFileSync(data, TEXT);
    for (const where of ['session', 'json'] as const) {
      const s = SessionStore.create(path.join(dir, `${where}.sparsitylab`));
      const json = new JsonFilePersistence(path.join(dir, `jobs-${where}`));
      const runner = new JobRunner(where === 'session' ? new SessionJobPersistence(() => s, json) : json, { progress() {}, finished() {} });
      const cfg = { kind: 'measure', checkpoint: ck, data };
      // a job that saves a step and is then interrupted
      const first = await runner.start('measure', cfg, async (_ctl, hooks) => {
        await hooks.onStep({ l: 0, r: 0.5, history: [] });
        throw new Error('process killed');
      });
      expect((await first.done).status).toBe('failed');
      const resumeWork = async (_ctl: unknown, hooks: { resume?: unknown }) => ({ resumedFrom: hooks.resume });

      fs.appendFileSync(data, 'edited\n');
      await expect(runner.start('measure', cfg, resumeWork, first.id)).rejects.toThrow(new RegExp(`cannot resume run ${first.id}: the evaluation text .*eval\\.txt has changed since the run started`));
      fs.writeFileSync(data, TEXT);
      touchWeights(ck);
      await expect(runner.start('measure', cfg, resumeWork, first.id)).rejects.toThrow(/the checkpoint .*ck has changed since the run started/);
      touchWeights(ck); // the same flip again: the original bytes
      const again = await runner.start('measure', cfg, resumeWork, first.id);
      const ev = await again.done;
      expect(ev.status).toBe('completed');
      expect(ev.result).toEqual({ resumedFrom: { l: 0, r: 0.5, history: [] } });
      s.close();
    }
  });
});

describe('resume in a relocated session', () => {
  test('the moved files are accepted when they are the same bytes, with the config at their new places', async () => {
    const a = path.join(tmp, 'resume-moved-a');
    const cks = [1, 2].map((i) => writeTinyCheckpoint(path.join(a, 'series', `step-${i}`), 'llama', { activation: 'relu', hidden: 32, layers: 2, seed: 30 + i }));
    fs.writeFileSync(path.join(a, 'eval.txt'), TEXT);
    const cfg = { kind: 'measure-series', checkpoints: cks.map((p) => ({ path: p, tokensSeen: 1e6 })), data: path.join(a, 'eval.txt') };
    let s = SessionStore.create(path.join(a, 'lab.sparsitylab'));
    const persist = (st: SessionStore) => new SessionJobPersistence(() => st, new JsonFilePersistence(path.join(tmp, 'resume-moved-jobs')));
    let runner = new JobRunner(persist(s), { progress() {}, finished() {} });
    const first = await runner.start('measure-series', cfg, async (_c, hooks) => {
      await hooks.onStep({ l: 0.25, r: 0.5, history: [] });
      throw new Error('process killed');
    });
    await first.done;
    s.close();
    const b = path.join(tmp, 'resume-moved-b');
    fs.renameSync(a, b);
    s = SessionStore.open(path.join(b, 'lab.sparsitylab'));
    runner = new JobRunner(persist(s), { progress() {}, finished() {} });
    const here = rerunConfig(s, first.id) as typeof cfg;
    expect(here.checkpoints.map((c) => c.path)).toEqual(cks.map((p) => p.replace(a, b)));
    // the stored config (old places) cannot be checked any more; another configuration is no resume at all
    await expect(runner.start('measure-series', cfg, async () => ({}), first.id)).rejects.toThrow(/checkpoint .*step-1 cannot be read any more/);
    await expect(runner.start('measure-series', { ...here, lastK: 1 }, async () => ({}), first.id)).rejects.toThrow(/different configuration/);
    touchWeights(path.join(b, 'series', 'step-2'));
    await expect(runner.start('measure-series', here, async () => ({}), first.id)).rejects.toThrow(/checkpoint .*resume-moved-b.*step-2 has changed since the run started/);
    touchWeights(path.join(b, 'series', 'step-2'));
    const again = await runner.start('measure-series', here, async (_c, hooks) => ({ resumed: hooks.resume, checkpoints: [] }), first.id);
    expect((await again.done).result).toMatchObject({ resumed: { l: 0.25, r: 0.5 } });
    s.close();
  });
});

describe('relocatable sessions', () => {
  test('a moved folder resolves by relative path; a missing file is marked; re-point refuses other content', async () => {
    const a = path.join(tmp, 'reloc-a');
    const ck = writeTinyCheckpoint(path.join(a, 'models', 'x'), 'llama', { activation: 'silu', hidden: 32, layers: 2, seed: 3 });
    fs.writeFileSync(path.join(a, 'eval.txt'), TEXT);
    const s = SessionStore.create(path.join(a, 'lab.sparsitylab'));
    const p = new SessionJobPersistence(() => s, new JsonFilePersistence(path.join(a, 'jobs')));
    const runner = new JobRunner(p, { progress() {}, finished() {} });
    const cfg = { kind: 'measure', checkpoint: ck, data: path.join(a, 'eval.txt'), method: 'relu', stateDir: '/x' };
    const r = await runner.start('measure', cfg, async () => ({ activationRatio: 0.5 }));
    await r.done;
    s.close();

    // the whole folder moves: both references resolve inside the new folder
    const b = path.join(tmp, 'reloc-b');
    fs.renameSync(a, b);
    const t = SessionStore.open(path.join(b, 'lab.sparsitylab'));
    const [c] = t.listCheckpoints();
    expect(c).toMatchObject({ path: path.join(b, 'models', 'x'), lastPath: ck, relPath: 'models/x', missing: false });
    expect(t.listDatasets()[0]).toMatchObject({ path: path.join(b, 'eval.txt'), missing: false });
    expect(rerunConfig(t, r.id)).toEqual({ kind: 'measure', checkpoint: path.join(b, 'models', 'x'), data: path.join(b, 'eval.txt'), method: 'relu' });
    t.close();

    // only the session moves: nothing resolves, the state says so, and measuring again says what to do
    const lone = path.join(tmp, 'reloc-lone', 'lab.sparsitylab');
    fs.mkdirSync(path.dirname(lone));
    fs.copyFileSync(path.join(b, 'lab.sparsitylab'), lone);
    const u = SessionStore.open(lone);
    expect(u.listCheckpoints()[0]).toMatchObject({ missing: true, path: ck });
    expect(() => rerunConfig(u, r.id)).toThrow(/checkpoint x is missing \(last seen at .*\): re-point it/);
    // another checkpoint is refused; a copy of the same one is accepted, and only the location changes
    const other = writeTinyCheckpoint(path.join(tmp, 'reloc-other'), 'llama', { activation: 'silu', hidden: 32, layers: 2, seed: 4 });
    await expect(relink(u, 'checkpoint', c.id, other)).rejects.toThrow(/is not the file this session measured: its content hash .* differs from the recorded/);
    const copy = path.join(tmp, 'reloc-copy');
    fs.cpSync(path.join(b, 'models', 'x'), copy, { recursive: true });
    const moved = await relink(u, 'checkpoint', c.id, copy);
    expect(moved).toMatchObject({ id: c.id, path: copy, missing: false, contentHash: c.contentHash });
    expect(u.listCheckpoints()).toHaveLength(1);
    await expect(relink(u, 'dataset', u.listDatasets()[0].id, other + '/config.json')).rejects.toThrow(/not the file this session measured/);
    await relink(u, 'dataset', u.listDatasets()[0].id, path.join(b, 'eval.txt'));
    expect(rerunConfig(u, r.id)).toMatchObject({ checkpoint: copy, data: path.join(b, 'eval.txt') });
    u.close();

    // the CLI: lists (exit 3 while something is missing) and re-points by name
    fs.rmSync(copy, { recursive: true });
    // --search: every missing file found by content under a folder (the colleague's copy of the models)
    const mailed = path.join(tmp, 'reloc-mailed', 'lab.sparsitylab');
    fs.mkdirSync(path.dirname(mailed));
    fs.copyFileSync(lone, mailed);
    const theirs = path.join(tmp, 'reloc-theirs');
    fs.cpSync(path.join(b, 'models', 'x'), path.join(theirs, 'deep', 'x'), { recursive: true });
    fs.cpSync(other, path.join(theirs, 'not-it'), { recursive: true });
    fs.renameSync(path.join(b, 'eval.txt'), path.join(theirs, 'text.txt'));
    const m = SessionStore.open(mailed);
    const found = await relinkFolder(m, theirs);
    const ds = m.listDatasets()[0].id;
    expect(found).toHaveLength(2);
    expect(found).toEqual(
      expect.arrayContaining([
        { kind: 'checkpoint', id: c.id, path: path.join(theirs, 'deep', 'x') }, // not the other checkpoint
        { kind: 'dataset', id: ds, path: path.join(theirs, 'text.txt') },
      ]),
    );
    expect(m.listCheckpoints().filter((c) => c.missing)).toEqual([]);
    m.close();
    fs.renameSync(path.join(theirs, 'text.txt'), path.join(b, 'eval.txt'));

    const log: string[] = [];
    const orig = console.log;
    console.log = (m: string) => log.push(m);
    try {
      expect(await relinkCommand.run([lone], undefined as never)).toBe(3);
      expect(log.join('\n')).toMatch(/checkpoint\s+1\s+MISSING\s+x/);
      expect(await relinkCommand.run([lone, 'x', path.join(b, 'models', 'x')], undefined as never)).toBe(0);
      expect(await relinkCommand.run([lone], undefined as never)).toBe(0);
    } finally {
      console.log = orig;
    }
  });
});

describe('schema v3 → v4 (and later) migration', () => {
  test('a v3 file with runs keeps its rows and ids; the same path can then hold new content as a new row', () => {
    const file = path.join(tmp, 'v3.sparsitylab');
    const db = new Database(file);
    db.pragma('foreign_keys = ON');
    for (let v = 0; v < 3; v++) MIGRATIONS[v](db);
    db.pragma('user_version = 3');
    db.prepare("INSERT INTO meta (key,value) VALUES ('created_at','then')").run();
    db.prepare("INSERT INTO checkpoints (id,path,name,content_hash,activation,created_at) VALUES (7,'/m/relu','relu','aaa','relu','t')").run();
    db.prepare("INSERT INTO datasets (id,path,hash,tokens,seq_len,created_at) VALUES (3,'/d/eval.txt','sha256:x',1024,64,'t')").run();
    db.prepare("INSERT INTO runs (id,kind,method,checkpoint_id,dataset_id,config,status,created_at,updated_at) VALUES ('old','measure','cett-ppl',7,3,'{}','completed','t','t')").run();
    db.close();
    const s = SessionStore.open(file);
    expect(s.notice).toMatch(new RegExp(`from schema v3 to v${SCHEMA_VERSION}`));
    expect(s.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(s.getRun('old')).toMatchObject({ checkpointId: 7, datasetId: 3, checkpoint: 'relu' });
    expect(s.runProvenance('old')).toBeNull();
    expect(s.getCheckpoint(7)).toMatchObject({ lastPath: '/m/relu', relPath: null, contentHash: 'aaa', missing: true });
    // v3 had UNIQUE(path): v4 lets other content at the same path be its own row
    const n = s.upsertCheckpoint({ path: '/m/relu', contentHash: 'bbb', activation: 'relu' });
    expect(n).not.toBe(7);
    expect(s.getCheckpoint(7)!.contentHash).toBe('aaa');
    expect(() => s.createRun({ id: 'orphan', kind: 'measure', method: 'fat', checkpointId: 999, config: {} })).toThrow(/FOREIGN KEY/);
    s.close();
    expect(fs.existsSync(`${file}.v3.bak`)).toBe(true);
  });
});
