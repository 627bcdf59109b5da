/** Session store: open a session with 1,000 runs × 40 layers and list its runs; bytes per run. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SessionStore } from '../main/store/index';
import { machine, parse, writeOut } from './common';

export async function main(argv: string[]): Promise<void> {
  const v = parse(argv);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-bench-store-'));
  const file = path.join(dir, 'big.sparsitylab');
  const L = 40;
  const F = 256; // per-neuron arrays kept modest; a 40-layer model's full τ would dominate the file
  const s = SessionStore.create(file);
  const ck = s.upsertCheckpoint({ path: '/models/x', activation: 'relu', layers: L }, { series: 's' });
  const t0 = performance.now();
  s.db.transaction(() => {
    for (let i = 0; i < 1000; i++) {
      s.createRun({ id: `run-${i}`, kind: 'measure', method: 'cett-ppl', checkpointId: ck, p: 1, config: { i } });
      s.saveResult(`run-${i}`, {
        cett: 0.1 + i * 1e-4,
        activationRatio: 0.2,
        pplRatio: 1.01,
        perLayerActivation: Array.from({ length: L }, (_, l) => 0.2 + l * 1e-3),
        thresholds: Array.from({ length: L }, () => 0.01),
        neuronFrequency: Array.from({ length: L }, () => Array.from({ length: F }, (_, j) => j / F)),
        sampleMatrix: Array.from({ length: L }, () => Array.from({ length: 64 }, () => 0.2)),
      });
    }
  })();
  const writeMs = performance.now() - t0;
  s.close();
  const bytes = fs.statSync(file).size;
  const t1 = performance.now();
  const r = SessionStore.open(file);
  const openMs = performance.now() - t1;
  const runs = r.listRuns();
  const openListMs = performance.now() - t1;
  r.close();
  const res = { suite: 'store', runs: runs.length, layers: L, neuronsPerLayer: F, openAndListMs: openListMs, openMs, listMs: openListMs - openMs, writeAllMs: writeMs, fileBytes: bytes, bytesPerRun: Math.round(bytes / 1000), machine: machine(), date: new Date().toISOString() };
  console.log(JSON.stringify(res));
  writeOut(v.out, res);
  fs.rmSync(dir, { recursive: true, force: true });
}
