/**
 * `npm run bench -- collect [--tasks 1000] [--layers 16] [--dff 1920] [--dir D]`: `cluster collect` (main/cluster)
 * of a results folder of N synthetic finished tasks (main/cluster/testing/synthetic.ts) into a new session: the
 * sha256 check and the import of each task's session. The target (issue 20): 1,000 tasks in under 10 s.
 * Then a second collect of the same folder (nothing to do: every task already collected).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { collect } from '../main/cluster/collect';
import { writeSyntheticResults } from '../main/cluster/testing/synthetic';
import { SessionStore } from '../main/store/session';

function dirBytes(d: string): number {
  let n = 0;
  for (const e of fs.readdirSync(d, { withFileTypes: true, recursive: true })) if (e.isFile()) n += fs.statSync(path.join(e.parentPath, e.name)).size;
  return n;
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { tasks: { type: 'string' }, layers: { type: 'string' }, dff: { type: 'string' }, dir: { type: 'string' }, out: { type: 'string' } } });
  const n = Number(values.tasks ?? 1000);
  const shape = { layers: Number(values.layers ?? 16), dff: Number(values.dff ?? 1920) };
  const root = values.dir ? path.resolve(values.dir) : fs.mkdtempSync(path.join(os.tmpdir(), 'slab-bench-collect-'));
  const results = path.join(root, 'results');
  let t = performance.now();
  writeSyntheticResults(results, n, shape);
  const writeMs = performance.now() - t;
  const s = SessionStore.create(path.join(root, 'lab.sparsitylab'));
  try {
    t = performance.now();
    const cpu0 = process.cpuUsage();
    const r = await collect(s, results, { accounting: false, note: 'bench: no Slurm' });
    const collectMs = performance.now() - t;
    const cpu = process.cpuUsage(cpu0);
    t = performance.now();
    const again = await collect(s, results, { accounting: false, note: 'bench: no Slurm' });
    const againMs = performance.now() - t;
    if (r.collected !== n || r.failed.length || again.already !== n || s.listRuns({}).length !== n) throw new Error(`collect did not bring in ${n} tasks exactly once (${JSON.stringify({ ...r, array: undefined })})`);
    s.close();
    const line = {
      bench: 'collect',
      tasks: n,
      shape,
      collectSec: +(collectMs / 1000).toFixed(2),
      // CPU seconds of the collect (user + system): the wall time above also counts waiting on a busy machine
      collectCpuSec: +((cpu.user + cpu.system) / 1e6).toFixed(2),
      loadAvg: +os.loadavg()[0].toFixed(1),
      recollectSec: +(againMs / 1000).toFixed(2),
      writeSyntheticSec: +(writeMs / 1000).toFixed(1),
      resultsMB: +(dirBytes(results) / 2 ** 20).toFixed(1),
      sessionMB: +(fs.statSync(s.file).size / 2 ** 20).toFixed(1),
      machine: `${os.cpus().length}× ${os.cpus()[0]?.model ?? '?'}`,
      date: new Date().toISOString(),
    };
    console.log(JSON.stringify(line));
    if (values.out) fs.writeFileSync(values.out, JSON.stringify(line) + '\n');
  } finally {
    if (s.db.open) s.close();
    if (!values.dir) fs.rmSync(root, { recursive: true, force: true });
  }
}
