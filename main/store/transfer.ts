/**
 * Moving runs between sessions (how cluster results come home) and out of them (JSON / CSV of one run).
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { LabError } from '../api/errors';
import { SessionStore } from './session';
import type { ImportedRun, ImportReport } from '../api/domains/sessions';
import { runMethodText } from '../../common/run-label';
import { writeFileAtomic } from '../base/atomic-write';

/** JSON with object keys sorted at every level: the same content gives the same text. */
function canonical(v: unknown): string {
  // arrays of numbers (the bulk of a result) in one native call: JSON of primitives is already canonical
  if (Array.isArray(v)) return v.every((x) => x === null || typeof x !== 'object') ? JSON.stringify(v) : `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/** config keys that say where files were, not what was measured (the inputs' content hashes stand for them) */
const LOCATION_KEYS = new Set(['checkpoint', 'checkpoints', 'data', 'stateDir', 'out']);

/**
 * A run's content hash: sha256 over what was measured and what came out — kind, method, p and the swept value, the
 * checkpoint's content hash (its path when it has none), the evaluation text's hash with its token budget and sequence
 * length, the settings (config without file locations), the status and the whole stored result (arrays and timings
 * included, so measuring again is a new run while a copy of a run is the same). Not in it: id, label, notes, dates,
 * where the files are.
 */
export function runContentHash(s: SessionStore, id: string): string {
  const r = s.getRun(id);
  if (!r) throw new LabError('NOT_FOUND', `no run ${id} in ${s.file}`);
  const ck = r.checkpointId != null ? s.getCheckpoint(r.checkpointId) : undefined;
  const ds = r.datasetId != null ? s.getDataset(r.datasetId) : undefined;
  const cfg = s.runConfig(id);
  const settings = cfg && typeof cfg === 'object' && !Array.isArray(cfg) ? Object.fromEntries(Object.entries(cfg as Record<string, unknown>).filter(([k]) => !LOCATION_KEYS.has(k))) : cfg;
  const content = {
    kind: r.kind,
    method: r.method,
    p: r.p,
    param: r.param,
    checkpoint: ck ? (ck.contentHash ?? `path:${ck.lastPath ?? ck.path}`) : null,
    dataset: ds ? { hash: ds.hash ?? `path:${ds.lastPath}`, tokens: ds.tokens, seqLen: ds.seqLen } : null,
    settings,
    status: r.status,
    result: s.getResult(id) ?? null,
  };
  return crypto.createHash('sha256').update(canonical(content)).digest('hex');
}

/**
 * Copies another session's runs (with their checkpoints, texts and provenance) into `into`. A run whose content
 * (runContentHash) is here already is not copied again, whatever its id: it is reported as a duplicate with the id it
 * has here. A run whose id is taken here by different content is not imported (nothing here is overwritten).
 */
/**
 * Another session file opened to read it (import, compare): read-only, so it is never written or upgraded. The store
 * names the file and the problem; an I/O error below it (a device, a special file) is said the same way.
 */
export function openToRead(file: string): SessionStore {
  try {
    return SessionStore.open(file, { readOnly: true });
  } catch (e) {
    if (e instanceof LabError) throw e;
    throw new LabError('SESSION_ERROR', `${path.resolve(file)}: cannot be read as a session (${(e as Error).message})`);
  }
}

export function importRuns(into: SessionStore, fromFile: string): ImportReport {
  const from = openToRead(fromFile);
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
    // content hashes of runs here, computed only for runs that could match (same kind, method, p, value, checkpoint)
    const hereHash = new Map<string, string>();
    const hashHere = (id: string) => hereHash.get(id) ?? (hereHash.set(id, runContentHash(into, id)), hereHash.get(id)!);
    const alike = into.db.prepare('SELECT id FROM runs WHERE kind=? AND method=? AND checkpoint_id IS ? AND p IS ? AND param IS ? ORDER BY created_at, id');
    const report: ImportedRun[] = [];
    /** a run's id here: itself when imported, the id of its duplicate here, absent when it was not imported */
    const idHere = new Map<string, string>();
    // parents before children so the foreign key holds
    const runs = from.listRuns().sort((a, b) => Number(!!a.parentId) - Number(!!b.parentId));
    into.db.transaction(() => {
      for (const r of runs) {
        // hashed only when something here could be the same run (its id, or a run alike): a new run is copied unhashed
        let hash: string | undefined;
        const theirs = () => (hash ??= runContentHash(from, r.id));
        const label = r.label || `${r.checkpoint ?? r.id} · ${runMethodText(r)}`;
        const ckHere = r.checkpointId != null ? (ckMap.get(r.checkpointId) ?? null) : null;
        const same = into.hasRun(r.id) && hashHere(r.id) === theirs() ? r.id : (alike.all(r.kind, r.method, ckHere, r.p, r.param) as { id: string }[]).map((x) => x.id).find((id) => id !== r.id && hashHere(id) === theirs());
        if (same) {
          idHere.set(r.id, same);
          const deleted = into.getRun(same)?.deleted ? ' (deleted here: undo the delete to see it)' : '';
          report.push({ id: r.id, label, outcome: 'duplicate', sameAs: same, hash: theirs(), reason: `already present (same content hash)${same !== r.id ? ` as run ${same}` : ''}${deleted}` });
          continue;
        }
        if (into.hasRun(r.id)) {
          report.push({ id: r.id, label, outcome: 'conflict', hash: theirs(), reason: `not imported: run ${r.id} here has different content (its content hash differs); nothing was overwritten` });
          continue;
        }
        const parent = r.parentId ? idHere.get(r.parentId) : undefined;
        if (r.parentId && !parent) {
          report.push({ id: r.id, label, outcome: 'orphan', ...(hash ? { hash } : {}), reason: `not imported: its parent run ${r.parentId} was not imported` });
          continue;
        }
        into.createRun({ id: r.id, parentId: parent, kind: r.kind, method: r.method, checkpointId: ckHere, datasetId: r.datasetId != null ? (dsMap.get(r.datasetId) ?? null) : null, p: r.p, param: r.param, config: from.runConfig(r.id), status: r.status === 'running' ? 'interrupted' : r.status, appVersion: r.appVersion ?? undefined, ortVersion: r.ortVersion ?? undefined, provenance: from.runProvenance(r.id) ?? undefined });
        const st = from.runState(r.id);
        into.updateRun(r.id, { state: st.state, steps: st.steps, error: r.error, label: r.label, notes: r.notes, tags: r.tags });
        const res = from.getResult(r.id);
        if (res) into.saveResult(r.id, res);
        idHere.set(r.id, r.id);
        report.push({ id: r.id, label, outcome: 'imported', ...(hash ? { hash } : {}) });
      }
    })();
    const imported = report.filter((x) => x.outcome === 'imported').length;
    const duplicates = report.filter((x) => x.outcome === 'duplicate').length;
    return { imported, skipped: report.length - imported, duplicates, checkpoints, runs: report };
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
    writeFileAtomic(abs, text);
  } catch (e) {
    throw new LabError('BAD_REQUEST', `cannot write ${abs}: ${(e as Error).message}`);
  }
  return { path: abs, bytes: Buffer.byteLength(text) };
}
