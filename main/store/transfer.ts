/**
 * Moving runs between sessions (how cluster results come home) and out of them (JSON / CSV of one run).
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';
import { SessionStore } from './session';

export function importRuns(into: SessionStore, fromFile: string): { imported: number; skipped: number; checkpoints: number } {
  const from = SessionStore.open(fromFile, { readOnly: true });
  try {
    if (path.resolve(fromFile) === into.file) throw new LabError('BAD_REQUEST', 'cannot import a session into itself');
    const ckMap = new Map<number, number>();
    let checkpoints = 0;
    // by an indexed query, not a scan of every checkpoint: `cluster collect` imports thousands of one-run sessions
    const byHash = into.db.prepare('SELECT id FROM checkpoints WHERE content_hash=? ORDER BY id LIMIT 1');
    let mine: ReturnType<SessionStore['listCheckpoints']> | undefined;
    for (const c of from.listCheckpoints()) {
      // the same content is the same checkpoint; without hashes on both sides, the same path and no hash
      const same = c.contentHash ? (byHash.get(c.contentHash) as { id: number } | undefined) : (mine ??= into.listCheckpoints()).find((m) => !m.contentHash && m.lastPath === c.lastPath);
      if (same) ckMap.set(c.id, same.id);
      else {
        const id = into.upsertCheckpoint(
          { path: c.lastPath ?? c.path, contentHash: c.contentHash ?? undefined, family: (c.family ?? undefined) as never, activation: c.activation ?? undefined, hiddenSize: c.hiddenSize ?? undefined, layers: c.layers ?? undefined, intermediateSize: c.intermediateSize ?? undefined, parameters: c.parameters ?? undefined, nonEmbeddingParameters: c.nonEmbeddingParameters ?? undefined, widthDepthRatio: c.widthDepthRatio ?? undefined },
          { series: c.series, tokensTrained: c.tokensTrained, name: c.name },
        );
        ckMap.set(c.id, id);
        checkpoints++;
      }
    }
    const dsMap = new Map<number, number>();
    for (const d of from.listDatasets()) dsMap.set(d.id, into.upsertDataset({ path: d.lastPath, hash: d.hash ?? undefined, tokens: d.tokens ?? undefined, seqLen: d.seqLen ?? undefined }));
    let imported = 0;
    let skipped = 0;
    // parents before children so the foreign key holds
    const runs = from.listRuns().sort((a, b) => Number(!!a.parentId) - Number(!!b.parentId));
    into.db.transaction(() => {
      for (const r of runs) {
        if (into.hasRun(r.id)) {
          skipped++;
          continue;
        }
        into.createRun({ id: r.id, parentId: r.parentId ?? undefined, kind: r.kind, method: r.method, checkpointId: r.checkpointId != null ? (ckMap.get(r.checkpointId) ?? null) : null, datasetId: r.datasetId != null ? (dsMap.get(r.datasetId) ?? null) : null, p: r.p, param: r.param, config: from.runConfig(r.id), status: r.status === 'running' ? 'interrupted' : r.status, appVersion: r.appVersion ?? undefined, ortVersion: r.ortVersion ?? undefined, provenance: from.runProvenance(r.id) ?? undefined });
        const st = from.runState(r.id);
        into.updateRun(r.id, { state: st.state, steps: st.steps, error: r.error, label: r.label, notes: r.notes });
        const res = from.getResult(r.id);
        if (res) into.saveResult(r.id, res);
        imported++;
      }
    })();
    return { imported, skipped, checkpoints };
  } finally {
    from.close();
  }
}

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function exportRun(s: SessionStore, id: string, format: 'json' | 'csv', out: string): { path: string; bytes: number } {
  const run = s.getRun(id);
  if (!run) throw new LabError('NOT_FOUND', `no run ${id} in ${s.file}`);
  const result = s.getResult(id);
  let text: string;
  if (format === 'json') text = JSON.stringify({ run, config: s.runConfig(id), provenance: s.runProvenance(id), result }, null, 1);
  else {
    // one row per layer with the run's scalars repeated: opens directly in a spreadsheet; the threshold is the mean of
    // the per-batch thresholds the run applied (main/store/provenance.ts THRESHOLDS_NOTE), hence the column's name
    const perLayer = (result?.perLayerActivation as number[] | undefined) ?? [];
    const thr = (result?.thresholds as number[] | undefined) ?? [];
    const head = ['run', 'checkpoint', 'method', 'p', 'cett', 'activationRatio', 'pplRatio', 'pplDense', 'pplSparse', 'layer', 'layerActivation', 'thresholdBatchMean'];
    const rows = [head.join(',')];
    const n = Math.max(perLayer.length, thr.length, 1);
    for (let l = 0; l < n; l++)
      rows.push([run.id, run.checkpoint, run.method, run.p, run.cett, run.activationRatio, run.pplRatio, run.pplDense, run.pplSparse, perLayer.length ? l : '', perLayer[l], thr[l]].map(csvCell).join(','));
    text = rows.join('\n') + '\n';
  }
  const abs = path.resolve(out);
  try {
    fs.writeFileSync(abs, text);
  } catch (e) {
    throw new LabError('BAD_REQUEST', `cannot write ${abs}: ${(e as Error).message}`);
  }
  return { path: abs, bytes: Buffer.byteLength(text) };
}
