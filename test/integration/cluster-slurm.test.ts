// `sparsity-lab cluster` against a real one-node Slurm (issue 20): a 3-checkpoint series submitted, waited for and
// collected equals the same series measured locally; a cancelled array collects what finished; a failing task and an
// engine that never starts report their reasons. The cluster is started by .ci/run (scripts/slurm-local.sh start);
// when none is up and this process may start one (root, slurm-wlm and munge installed) it starts it and stops it
// after. Otherwise the test FAILS with the reason: no skip.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';
import { readManifest, readTaskStatus } from '../../main/cluster/manifest';
import { defaultEngineCommand } from '../../main/cluster/submit';
import { SessionStore } from '../../main/store/session';
import { ensureSlurm, stopSlurm } from '../slurm-cluster';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'bin/sparsity-lab');

let dir: string;
let startedHere = false;
const submitted: string[] = [];
const ckpts: string[] = [];
let data: string;
// small enough that a task takes a few seconds on one CPU core
const MEASURE = ['--tokens', '512', '--seq-len', '64', '--batch', '4', '--provider', 'cpu'];
const NODE = ['--gpus-per-task', '0', '--cpus-per-task', '1'];

async function cli(args: string[], opts: { ok?: boolean } = {}): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run(process.execPath, [CLI, ...args], { cwd: dir, env: process.env, maxBuffer: 64 << 20, timeout: 120_000 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    if (opts.ok !== false) throw new Error(`sparsity-lab ${args.join(' ')} failed (${x.code}): ${x.stderr}`);
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

async function submit(inputs: string[], session: string, extra: string[] = []): Promise<{ slurmJobId: string; resultsDir: string; id: string }> {
  const r = await cli(['cluster', 'submit', ...inputs, '--session', session, '--data', data, ...MEASURE, ...NODE, '--json', ...extra]);
  const out = JSON.parse(r.out);
  submitted.push(out.slurmJobId);
  return out;
}

async function waitFor<T>(what: string, f: () => T | undefined | false, timeoutMs = 90_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** the array's tasks still known to squeue */
function squeued(jobId: string): string[] {
  return execFileSync('squeue', ['-h', '-r', '-j', jobId, '-o', '%i %T'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
}

/** a run's result without what depends on the machine's load and memory (timings, the execution plan's free memory) */
function comparable(s: SessionStore, runId: string): Record<string, unknown> {
  const r = s.getResult(runId)!;
  expect(r, `result of ${runId}`).toBeDefined();
  const { timingsMs: _t, execution: _e, ...rest } = r;
  const options = { ...(rest.options as Record<string, unknown>) };
  delete options.cacheBytes;
  return { ...rest, options };
}

beforeAll(() => {
  startedHere = ensureSlurm().startedHere;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-slurm-'));
  for (let i = 0; i < 3; i++) ckpts.push(writeTinyCheckpoint(path.join(dir, 'series', `step-${i + 1}000-${i + 1}B`), 'llama', { seed: 20 + i, maxPositions: 128, std: 0.1 }));
  data = path.join(dir, 'eval.txt');
  fs.writeFileSync(data, 'Sparse activations keep a few neurons busy while the rest rest. '.repeat(120));
});

afterAll(() => {
  // nothing of ours left running (a failed assertion can leave tasks behind), then the cluster if we started it
  if (submitted.length) execFileSync('scancel', submitted, { stdio: 'ignore' });
  if (startedHere) stopSlurm();
  if (dir) fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 500 });
});

describe('cluster on a real Slurm', () => {
  it('a 3-checkpoint series run as a job array and collected equals the same series measured locally', async () => {
    const session = path.join(dir, 'lab.sparsitylab');
    const sub = await submit([path.join(dir, 'series')], session);
    expect(sub.slurmJobId).toMatch(/^\d+$/);
    expect(readManifest(sub.resultsDir).tasks.map((t) => path.basename(t.checkpoint))).toEqual(['step-1000-1B', 'step-2000-2B', 'step-3000-3B']);
    // the same series measured here, while the cluster works: one `measure` per checkpoint, as the tasks run it
    const local = path.join(dir, 'local.sparsitylab');
    for (const c of ckpts) await cli(['measure', c, '--data', data, ...MEASURE, '--session', local, '--quiet']);
    await waitFor('3 tasks done', () => [0, 1, 2].every((i) => readTaskStatus(sub.resultsDir, i).status?.state === 'done'));
    const st = JSON.parse((await cli(['cluster', 'status', sub.slurmJobId, '--session', session, '--json'])).out);
    expect(st.counts).toMatchObject({ done: 3, failed: 0, pending: 0 });
    const col = JSON.parse((await cli(['cluster', 'collect', sub.slurmJobId, '--session', session, '--json'])).out);
    expect(col).toMatchObject({ collected: 3, already: 0, runsImported: 3, failed: [] });
    // idempotent: collecting again adds nothing
    const again = JSON.parse((await cli(['cluster', 'collect', sub.slurmJobId, '--session', session, '--json'])).out);
    expect(again).toMatchObject({ collected: 0, already: 3, runsImported: 0 });

    const a = SessionStore.open(session, { readOnly: true });
    const b = SessionStore.open(local, { readOnly: true });
    try {
      const runsA = a.listRuns({ parentId: null });
      const runsB = b.listRuns({ parentId: null });
      expect(runsA).toHaveLength(3);
      expect(runsB).toHaveLength(3);
      const byHash = (s: SessionStore, runs: typeof runsA) => new Map(runs.map((r) => [s.getCheckpoint(r.checkpointId!)!.contentHash, r]));
      const mA = byHash(a, runsA);
      const mB = byHash(b, runsB);
      expect([...mA.keys()].sort()).toEqual([...mB.keys()].sort());
      for (const [hash, ra] of mA) {
        const rb = mB.get(hash)!;
        expect(ra.status).toBe('completed');
        for (const k of ['cett', 'activationRatio', 'pplRatio', 'pplDense', 'pplSparse'] as const) expect(ra[k], `${k} of ${ra.checkpoint}`).toBe(rb[k]);
        expect(comparable(a, ra.id)).toEqual(comparable(b, rb.id));
        // provenance: where it ran, and the build
        const prov = a.runProvenance(ra.id)!;
        expect(prov.cluster).toMatchObject({ slurmJobId: sub.slurmJobId, node: 'localhost', resultsDir: sub.resultsDir });
        expect(prov.cluster!.sessionSha256).toMatch(/^[0-9a-f]{64}$/);
        expect(prov.inputs).toEqual(b.runProvenance(rb.id)!.inputs);
      }
      // the series comes with its tokens seen (folder names) as a local measure-series records them
      expect(runsA.map((r) => r.tokensTrained).sort()).toEqual([1e9, 2e9, 3e9]);
    } finally {
      a.close();
      b.close();
    }
  });

  it('cancelled mid-array: what finished is collected, the rest is reported cancelled', async () => {
    const session = path.join(dir, 'cancel.sparsitylab');
    // tasks 1 and 2 wait before starting the engine, so that the cancel reaches them whatever the machine's load
    // (a tiny measurement finishes in a second or two: without the wait all three could end before scancel lands)
    const hold = `{ [ "$TASK" = 0 ] || sleep 300; } && ${defaultEngineCommand()}`;
    const sub = await submit([path.join(dir, 'series')], session, ['--max-parallel', '1', '--engine-command', hold]);
    await waitFor('task 0 done', () => readTaskStatus(sub.resultsDir, 0).status?.state === 'done');
    await cli(['cluster', 'cancel', sub.slurmJobId, '--session', session]);
    await waitFor('the array gone from the running tasks', () => squeued(sub.slurmJobId).every((l) => !/RUNNING|PENDING|COMPLETING/.test(l)), 30_000);
    const col = await cli(['cluster', 'collect', sub.slurmJobId, '--session', session, '--json'], { ok: false });
    const r = JSON.parse(col.out);
    expect(r.collected).toBe(1);
    expect(r.waiting).toBe(0);
    expect(r.failed.map((f: { task: number }) => f.task)).toEqual([1, 2]);
    for (const f of r.failed) expect(f.reason).toMatch(/cancel|SIGTERM/i);
    expect(col.code).toBe(1); // failed tasks make collect's exit code non-zero
    const again = JSON.parse((await cli(['cluster', 'collect', sub.slurmJobId, '--session', session, '--json'], { ok: false })).out);
    expect(again.already).toBe(1);
    const s = SessionStore.open(session, { readOnly: true });
    try {
      expect(s.listRuns({ parentId: null })).toHaveLength(1);
      const tasks = s.db.prepare('SELECT task, state FROM cluster_tasks ORDER BY task').all();
      expect(tasks).toEqual([
        { task: 0, state: 'collected' },
        { task: 1, state: 'cancelled' },
        { task: 2, state: 'cancelled' },
      ]);
    } finally {
      s.close();
    }
  });

  it('a failing task reports its reason and keeps its log; an engine that never starts says so', async () => {
    const broken = path.join(dir, 'broken', 'step-9-9B');
    fs.mkdirSync(broken, { recursive: true });
    fs.writeFileSync(path.join(broken, 'config.json'), '{"model_type": "llama", "hidden_size": "wide"}');
    const session = path.join(dir, 'fail.sparsitylab');
    const sub = await submit([broken], session);
    // and an engine command that does not exist on the node: no status file, the exit code and the shell's words
    const sub2 = await submit([ckpts[0]], session, ['--engine-command', '/nonexistent/sparsity-lab']);
    await waitFor('the failing task final', () => readTaskStatus(sub.resultsDir, 0).status?.state === 'failed');
    const st = readTaskStatus(sub.resultsDir, 0).status!;
    expect(st.reason).toMatch(/step-9-9B: no weights found/);
    const r = JSON.parse((await cli(['cluster', 'collect', sub.slurmJobId, '--session', session, '--json'], { ok: false })).out);
    expect(r).toMatchObject({ collected: 0, waiting: 0 });
    expect(r.failed).toHaveLength(1);
    expect(r.failed[0]).toMatchObject({ task: 0, label: 'step-9-9B', reason: st.reason });
    expect(fs.readFileSync(r.failed[0].log, 'utf8')).toMatch(/sparsity-lab task 0 of job/);
    const s = SessionStore.open(session, { readOnly: true });
    try {
      expect(s.listRuns({ parentId: null }).filter((x) => x.status === 'completed')).toHaveLength(0);
      const row = s.db.prepare('SELECT t.state, t.reason, t.log_tail FROM cluster_tasks t JOIN cluster_arrays a ON a.id = t.array_id WHERE a.slurm_job_id = ?').get(sub.slurmJobId) as { state: string; reason: string; log_tail: string };
      expect(row.state).toBe('failed');
      expect(row.reason).toBe(st.reason);
      expect(row.log_tail).toMatch(/sparsity-lab task 0/);
    } finally {
      s.close();
    }

    await waitFor('the exit file', () => fs.existsSync(path.join(sub2.resultsDir, 'tasks', '0', 'exit')), 30_000);
    const st2 = JSON.parse((await cli(['cluster', 'status', sub2.slurmJobId, '--session', session, '--json'])).out);
    expect(st2.tasks[0].state).toBe('failed');
    expect(st2.tasks[0].reason).toMatch(/engine did not start \(exit code 127\).*No such file/);
  });

  it('a job bundle run where it was carried (paths mapped) comes back with collect --offline', async () => {
    // the "cluster" sees this test's folder under another name
    const mirror = path.join(os.tmpdir(), `slab-mirror-${process.pid}`);
    fs.rmSync(mirror, { force: true });
    fs.symlinkSync(dir, mirror);
    try {
      const session = path.join(dir, 'bundle.sparsitylab');
      const bundle = path.join(dir, 'bundle');
      const r = JSON.parse(
        (await cli(['cluster', 'submit', ckpts[0], '--session', session, '--data', data, ...MEASURE, ...NODE, '--bundle', bundle, '--path-map', `${dir}=${mirror}`, '--engine-command', `"${process.execPath}" "${CLI}"`, '--json'])).out,
      );
      expect(r.slurmJobId).toBeNull();
      const m = readManifest(bundle);
      expect(m.tasks[0].argv.slice(0, 4)).toEqual(['measure', ckpts[0].replace(dir, mirror), '--data', data.replace(dir, mirror)]);
      expect(fs.readFileSync(path.join(bundle, 'job.sh'), 'utf8')).not.toContain('--chdir');
      // "on the cluster": sbatch inside the bundle folder; nothing here knows its job id
      const jobId = execFileSync('sbatch', ['--parsable', 'job.sh'], { cwd: bundle, encoding: 'utf8' }).trim();
      submitted.push(jobId);
      await waitFor('the bundle task done', () => readTaskStatus(bundle, 0).status?.state === 'done');
      const col = JSON.parse((await cli(['cluster', 'collect', bundle, '--offline', '--session', session, '--json'])).out);
      expect(col).toMatchObject({ collected: 1, runsImported: 1, failed: [] });
      const s = SessionStore.open(session, { readOnly: true });
      try {
        const runs = s.listRuns({ parentId: null });
        expect(runs).toHaveLength(1);
        expect(s.runProvenance(runs[0].id)!.cluster).toMatchObject({ slurmJobId: jobId, arrayTaskId: '0' });
      } finally {
        s.close();
      }
    } finally {
      fs.rmSync(mirror, { force: true });
    }
  });
});
