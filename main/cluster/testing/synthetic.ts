/**
 * A results folder of N finished array tasks with synthetic runs, for the collect benchmark (bench/collect.ts) and the
 * unit tests: each task's session holds one completed CETT-PPL run of a made-up checkpoint, with per-layer and
 * per-neuron arrays of the given shape (default: the paper's 0.1B, 16 layers × d_f 1920; 64 batches), and a status.json carrying the session's sha256 as a real task writes it.
 * The numbers are seeded noise, not measurements: nothing here is ever shown as a result.
 */
import fs from 'node:fs';
import path from 'node:path';
import { mulberry32 } from '../../base/rng';
import { SessionStore } from '../../store/session';
import { sha256File, STATUS_FILE, taskDir, TASK_SESSION, type Manifest, type TaskStatus } from '../manifest';
import { makeManifest, writeResultsFolder } from '../submit';
import { writeFileAtomic } from '../../base/atomic-write';

export function writeSyntheticResults(results: string, n: number, shape: { layers: number; dff: number; batches?: number } = { layers: 16, dff: 1920 }, seed = 1): Manifest {
  const tasks = Array.from({ length: n }, (_, i) => ({ index: i, label: `ck-${i}`, argv: ['measure', `/synthetic/ck-${i}`, '--data', '/synthetic/eval.txt'], checkpoint: `/synthetic/ck-${i}`, tokensSeen: (i + 1) * 1e9, series: 'synthetic' }));
  const m = makeManifest(tasks, { gpusPerTask: 1, cpusPerTask: 4, engineCommand: 'sparsity-lab' });
  writeResultsFolder(m, results);
  const rand = mulberry32(seed);
  for (let i = 0; i < n; i++) {
    const dir = taskDir(results, i);
    const file = path.join(dir, TASK_SESSION);
    const s = SessionStore.create(file);
    const runId = `measure-synthetic-${m.id.slice(0, 8)}-${i}`;
    try {
      const ck = s.upsertCheckpoint({ path: `/synthetic/ck-${i}`, contentHash: `synthetic-${seed}-${i}`, hiddenSize: 768, layers: shape.layers, intermediateSize: shape.dff });
      const ds = s.upsertDataset({ path: '/synthetic/eval.txt', hash: 'sha256:synthetic', tokens: 65536, seqLen: 1024 });
      s.createRun({ id: runId, kind: 'measure', method: 'cett-ppl', checkpointId: ck, datasetId: ds, p: 1, config: { kind: 'measure', checkpoint: `/synthetic/ck-${i}` }, status: 'running' });
      const perLayer = Array.from({ length: shape.layers }, () => rand() * 0.3);
      const act = perLayer.reduce((a, b) => a + b, 0) / shape.layers;
      s.saveResult(runId, {
        activationRatio: act,
        sparsity: 1 - act,
        perLayerActivation: perLayer,
        cett: 0.2 + rand() * 0.1,
        pplDense: 20 + rand(),
        pplSparse: 20.2 + rand(),
        pplRatio: 1.01,
        neuronFrequency: Array.from({ length: shape.layers }, () => Array.from({ length: shape.dff }, () => Math.fround(rand()))),
        thresholds: perLayer.map((x) => x / 10),
        // as a real CETT-PPL result stores them: one threshold per batch and layer, a per-layer sample of tokens
        thresholdsPerBatch: Array.from({ length: shape.batches ?? 64 }, () => perLayer.map((x) => (x / 10) * (0.9 + rand() * 0.2))),
        sampleMatrix: Array.from({ length: shape.layers }, () => Array.from({ length: 64 }, () => Math.round(rand() * 80) / 80)),
      });
      s.updateRun(runId, { status: 'completed', steps: 10 });
    } finally {
      s.close();
    }
    const status: TaskStatus = {
      task: i,
      state: 'done',
      startedAt: m.createdAt,
      finishedAt: m.createdAt,
      exitCode: 0,
      runIds: [runId],
      sessionSha256: sha256File(file),
      provenance: { jobId: String(1000 + i), arrayJobId: '999', arrayTaskId: String(i), node: 'synthetic-node', gpu: null, appVersion: m.appVersion, commit: 'synthetic', node_js: process.version },
    };
    fs.mkdirSync(dir, { recursive: true });
    writeFileAtomic(path.join(dir, STATUS_FILE), JSON.stringify(status));
  }
  return m;
}
