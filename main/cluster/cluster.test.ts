// main/cluster without a Slurm (the real cluster is test/integration/cluster-slurm.test.ts): squeue's array notation,
// the sbatch script, task lists, and collect's checks on synthetic results folders (hashes, damaged files, idempotence).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SessionStore } from '../store/session';
import { collect, status } from './collect';
import { readManifest, STATUS_FILE, taskDir, TASK_SESSION } from './manifest';
import { jobScript } from './script';
import { arrayTaskIds } from './slurm';
import { makeManifest, mapPaths } from './submit';
import { runTask } from './task';
import { readSweepSpec, seriesTasks, sweepTasks } from './tasks';
import { writeSyntheticResults } from './testing/synthetic';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'slab-cluster-'));

function inputs(dir: string, n: number) {
  const pts = Array.from({ length: n }, (_, i) => {
    const p = path.join(dir, `ck-${i}`);
    fs.mkdirSync(p, { recursive: true });
    return { path: p, tokensSeen: (i + 1) * 1e9 };
  });
  const data = path.join(dir, 'eval.txt');
  fs.writeFileSync(data, 'text');
  return { pts, data };
}

describe('squeue array notation', () => {
  it('expands single tasks, ranges, lists, steps and the %limit suffix', () => {
    expect(arrayTaskIds('12_3')).toEqual([3]);
    expect(arrayTaskIds('12_[0-4,7%2]')).toEqual([0, 1, 2, 3, 4, 7]);
    expect(arrayTaskIds('12_[1-9:4]')).toEqual([1, 5, 9]);
    expect(arrayTaskIds('12')).toEqual([]);
    expect(arrayTaskIds('junk_[a-b]')).toEqual([]);
  });
});

describe('tasks and script', () => {
  it('one measure per checkpoint with the forwarded options; a sweep is checkpoint-major', () => {
    const dir = tmp();
    const { pts, data } = inputs(dir, 2);
    const t = seriesTasks(pts, { data, p: '5', tokens: '1024', bos: true, provider: 'cuda' });
    expect(t.map((x) => x.argv)).toEqual(pts.map((p) => ['measure', p.path, '--data', data, '--p', '5', '--tokens', '1024', '--provider', 'cuda', '--bos']));
    expect(t[1]).toMatchObject({ index: 1, tokensSeen: 2e9, series: path.basename(dir) });
    const sw = sweepTasks(pts, { data }, { key: 'p', values: [1, 10] });
    expect(sw.map((x) => [x.index, x.label])).toEqual([
      [0, 'ck-0 p=1'],
      [1, 'ck-0 p=10'],
      [2, 'ck-1 p=1'],
      [3, 'ck-1 p=10'],
    ]);
    expect(sw[3].argv).toContain('10');
    expect(() => seriesTasks(pts, {})).toThrow(/--data <file> is required/);
    expect(() => seriesTasks(pts, { data, p: 'lots' })).toThrow(/--p must be a number/);
    expect(() => seriesTasks([{ path: path.join(dir, 'nope') }], { data })).toThrow(/checkpoint .*nope does not exist/);
    const spec = path.join(dir, 'sweep.json');
    fs.writeFileSync(spec, JSON.stringify({ checkpoints: ['ck-0'], p: [1], param: [2] }));
    expect(() => readSweepSpec(spec)).toThrow(/sweep\.json: not a sweep spec .*p or param/);
    fs.writeFileSync(spec, '{');
    expect(() => readSweepSpec(spec)).toThrow(/sweep\.json: not a readable JSON/);
    const fifo = path.join(dir, 'fifo.json'); // its read blocked for ever
    execFileSync('mkfifo', [fifo]);
    expect(() => readSweepSpec(fifo)).toThrow(`${fifo}: is a named pipe (FIFO), not a sweep spec file`);
  });

  it('writes a valid bash job array with the sbatch options, and refuses values it cannot carry', () => {
    const dir = tmp();
    const { pts, data } = inputs(dir, 3);
    const m = makeManifest(seriesTasks(pts, { data }), { partition: 'gpu', account: 'lab', time: '01:00:00', gpusPerTask: 1, cpusPerTask: 8, maxParallel: 2, engineCommand: 'module load lab && sparsity-lab' });
    const text = jobScript(m, '/shared/res');
    for (const line of ['#SBATCH --array=0-2%2', '#SBATCH --partition=gpu', '#SBATCH --account=lab', '#SBATCH --time=01:00:00', '#SBATCH --gpus-per-task=1', '#SBATCH --cpus-per-task=8', '#SBATCH --chdir="/shared/res"', '#SBATCH --output=tasks/%a/slurm.log', 'module load lab && sparsity-lab cluster task "$RESULTS" "$TASK"'])
      expect(text).toContain(line);
    const file = path.join(dir, 'job.sh');
    fs.writeFileSync(file, text);
    execFileSync('bash', ['-n', file]); // throws on a syntax error
    expect(jobScript(m, null)).not.toContain('--chdir'); // a bundle runs where it is submitted
    expect(jobScript({ ...m, slurm: { ...m.slurm, gpusPerTask: 0 } }, '/r')).not.toContain('gpus-per-task');
    expect(() => jobScript(m, '/shared/"x"')).toThrow(/results folder .* cannot carry/);
    expect(() => jobScript({ ...m, slurm: { ...m.slurm, partition: 'gpu\n#SBATCH --x' } }, '/r')).toThrow(/partition/);
    expect(() => makeManifest(m.tasks, { gpusPerTask: 1, cpusPerTask: 1, engineCommand: 'a\nb' })).toThrow(/one non-empty shell line/);
  });

  it('a bundle rewrites where the cluster sees the inputs (longest prefix first, whole path components)', () => {
    const t = [{ index: 0, label: 'a', argv: ['measure', '/home/me/models/a', '--data', '/home/me/eval.txt', '--p', '1'], checkpoint: '/home/me/models/a' }];
    const m = mapPaths(t, [
      { from: '/home/me', to: '/scratch/me' },
      { from: '/home/me/models', to: '/datasets/models' },
    ]);
    expect(m[0].argv).toEqual(['measure', '/datasets/models/a', '--data', '/scratch/me/eval.txt', '--p', '1']);
    expect(mapPaths([{ ...t[0], checkpoint: '/home/meow/x', argv: ['measure', '/home/meow/x'] }], [{ from: '/home/me', to: '/s' }])[0].checkpoint).toBe('/home/meow/x');
  });
});

describe('collect', () => {
  it('imports every finished task once, refuses changed bytes and damaged status files with reasons', async () => {
    const dir = tmp();
    const results = path.join(dir, 'results');
    const m = writeSyntheticResults(results, 5, { layers: 2, dff: 16 });
    expect(readManifest(results).id).toBe(m.id);
    // task 1's session changed after the task finished; task 2's status is damaged; task 3 never started
    fs.appendFileSync(path.join(taskDir(results, 1), TASK_SESSION), 'x');
    fs.writeFileSync(path.join(taskDir(results, 2), STATUS_FILE), '{"task": 2, "state": "done"');
    fs.rmSync(path.join(taskDir(results, 3), STATUS_FILE));
    const s = SessionStore.create(path.join(dir, 'lab.sparsitylab'));
    try {
      const offline = { accounting: false };
      const r = await collect(s, results, offline);
      expect(r).toMatchObject({ collected: 2, already: 0, waiting: 1, runsImported: 2 });
      expect(r.failed.map((f) => f.task)).toEqual([1, 2]);
      expect(r.failed[0].reason).toMatch(/sha256 .* is not the .* the task recorded/);
      expect(r.failed[1].reason).toMatch(/status\.json: not JSON/);
      // the synthetic result arrived whole
      const run = s.listRuns({ parentId: null }).find((x) => x.id.endsWith('-0'))!;
      expect((s.getResult(run.id)!.neuronFrequency as number[][]).map((row) => row.length)).toEqual([16, 16]);
      expect(s.runProvenance(run.id)!.cluster).toMatchObject({ arrayId: m.id, node: 'synthetic-node', arrayTaskId: '0' });
      expect(s.getCheckpoint(run.checkpointId!)).toMatchObject({ series: 'synthetic', tokensTrained: 1e9 });
      // again: nothing twice
      const again = await collect(s, results, offline);
      expect(again).toMatchObject({ collected: 0, already: 2, runsImported: 0 });
      expect(s.listRuns({})).toHaveLength(2);
      // Slurm answered and lists no task 3: it never started and never will
      const st = await status(s, m.id, { tasks: new Map(), accounting: false });
      expect(st.tasks[3]).toMatchObject({ state: 'failed', reason: expect.stringMatching(/no longer lists this task/) });
      expect(st.tasks[0].collected).toBe(true);
    } finally {
      s.close();
    }
  });
});

describe('the task on its node', () => {
  it('records running → failed with the reason when measuring throws, and a clean done with the hash', async () => {
    const dir = tmp();
    const { pts, data } = inputs(dir, 1);
    const results = path.join(dir, 'r');
    const { writeResultsFolder } = await import('./submit');
    writeResultsFolder(makeManifest(seriesTasks(pts, { data }), { gpusPerTask: 0, cpusPerTask: 1 }), results);
    const env = { SLURM_JOB_ID: '7', SLURM_ARRAY_JOB_ID: '6', SLURM_ARRAY_TASK_ID: '0', SLURMD_NODENAME: 'n1', CUDA_VISIBLE_DEVICES: '3' };
    let seen: string[] = [];
    const code = await runTask(results, '0', async (argv) => {
      seen = argv;
      const st = JSON.parse(fs.readFileSync(path.join(taskDir(results, 0), STATUS_FILE), 'utf8'));
      expect(st.state).toBe('running');
      throw new Error(`${pts[0].path}: no weights found`);
    }, env);
    expect(code).toBe(1);
    expect(seen.slice(-2)).toEqual(['--session', path.join(taskDir(results, 0), TASK_SESSION)]);
    const st = JSON.parse(fs.readFileSync(path.join(taskDir(results, 0), STATUS_FILE), 'utf8'));
    expect(st).toMatchObject({ state: 'failed', reason: `${pts[0].path}: no weights found`, provenance: { jobId: '7', arrayJobId: '6', node: 'n1' } });
    expect(st.provenance.gpu).toMatch(/^3/);
    await expect(runTask(results, '5', async () => ({ code: 0 }))).rejects.toThrow(/task "5" is not one of 0…0/);
    const mf = path.join(results, 'manifest.json');
    const good = fs.readFileSync(mf, 'utf8');
    fs.writeFileSync(mf, good.replace('"measure"', '"relink"'));
    await expect(runTask(results, '0', async () => ({ code: 0 }))).rejects.toThrow(/task 0 runs "relink", not measure/);
    fs.writeFileSync(mf, good);
    // exit 0 but no run recorded is not success
    expect(await runTask(results, '0', async () => ({ code: 0 }), env)).toBe(1);
    expect(JSON.parse(fs.readFileSync(path.join(taskDir(results, 0), STATUS_FILE), 'utf8')).reason).toMatch(/recorded no run/);
  });
});
