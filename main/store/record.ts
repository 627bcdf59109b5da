/**
 * recordMeasurement: write one finished measurement into a session file without an engine (scripts, cluster
 * jobs, other CLIs). The session is created when missing; the run, its checkpoint and dataset and its result
 * commit together, so the file never holds half a record.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { CheckpointSummary } from '../checkpoint/index';
import { APP_VERSION } from '../base/version';
import { onnxruntimeVersion } from '../inference/providers';
import { fileHash } from '../base/file-hash';
import { measurementProvenance, startProvenance } from './provenance';
import { SessionStore } from './session';

export interface RecordCheckpoint extends Partial<CheckpointSummary> {
  path: string;
  series?: string;
  tokensTrained?: number;
  name?: string;
}

export function recordMeasurement(
  sessionPath: string,
  checkpoint: RecordCheckpoint,
  dataset: { path: string; seqLen?: number; tokens?: number } | undefined,
  run: { id?: string; kind?: string; method: string; p?: number | null; param?: number | null; config: unknown },
  result: Record<string, unknown>,
): string {
  const s = fs.existsSync(sessionPath) ? SessionStore.open(sessionPath) : SessionStore.create(sessionPath);
  try {
    const id = run.id ?? crypto.randomUUID();
    s.db.transaction(() => {
      const { series, tokensTrained, name, ...summary } = checkpoint;
      const ck = s.upsertCheckpoint({ ...summary, path: path.resolve(checkpoint.path) }, { series: series ?? null, tokensTrained: tokensTrained ?? null, name });
      const dataHash = dataset ? fileHash(dataset.path) : undefined;
      const ds = dataset ? s.upsertDataset({ path: path.resolve(dataset.path), seqLen: dataset.seqLen, tokens: dataset.tokens, hash: dataHash }) : null;
      const inputs = { checkpoints: [{ path: path.resolve(checkpoint.path), hash: checkpoint.contentHash ?? null }], data: dataset ? { path: path.resolve(dataset.path), hash: dataHash ?? null } : undefined };
      const provenance = { ...startProvenance(inputs), measurement: measurementProvenance(result) };
      s.createRun({ id, kind: run.kind ?? 'measure', method: run.method, checkpointId: ck, datasetId: ds, p: run.p ?? null, param: run.param ?? null, config: run.config, status: 'completed', appVersion: APP_VERSION, ortVersion: onnxruntimeVersion, provenance });
      s.saveResult(id, result);
    })();
    return id;
  } finally {
    s.close();
  }
}
