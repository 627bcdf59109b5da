/**
 * Thresholds that leave the lab for inference engines (issue 18; formats in README "Threshold exports"):
 *  - authors:    `<run>.thresholds.env`  — `thresholds=ε_0,…,ε_{L-1}` as the authors' evaluation harness reads it
 *  - tau:        `<run>.tau.csv`         — per neuron τ_{l,i} = ε_l / ‖W_out[:, i]‖₂ (needs the checkpoint's W_out)
 *  - powerinfer: `<run>.frequency.csv`   — per neuron activation frequency (and count), as hot/cold predictors take it
 * ε is the run's reported threshold (the mean over batches of the per-batch thresholds) unless `batch` names one
 * batch's own thresholds. Used by the CLI (`export-thresholds`) and the contract (`sessions.exportThresholds`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';
import type { SessionStore } from '../store/session';
import { loadCheckpoint } from '../checkpoint/index';
import { checkpointColumnNormsAsync } from '../inference/index';
import { tauFromThresholds } from '../metrics/thresholds';
import { writableOut } from './handlers/output';
import { writeFileAtomic } from '../base/atomic-write';

export const THRESHOLD_FORMATS = ['authors', 'tau', 'powerinfer'] as const;
export type ThresholdFormat = (typeof THRESHOLD_FORMATS)[number];
const SUFFIX: Record<ThresholdFormat, { name: string; ext: string }> = {
  authors: { name: 'thresholds.env', ext: 'env' },
  tau: { name: 'tau.csv', ext: 'csv' },
  powerinfer: { name: 'frequency.csv', ext: 'csv' },
};
/** float32 frequencies give back count = round(f × tokens) exactly below 2^23 tokens; above, the count is left out */
const EXACT_COUNT_TOKENS = 2 ** 23;

export interface ExportThresholdsRequest {
  id: string;
  format: ThresholdFormat | 'all';
  /** an existing folder (files named after the run) or, for one format, a file */
  out: string;
  /** one batch's own thresholds (0-based) instead of the batch mean */
  batch?: number;
  overwrite?: boolean;
}
export interface ExportThresholdsResult {
  files: { format: ThresholdFormat; path: string; bytes: number }[];
  /** which ε was written */
  thresholds: 'batch-mean' | `batch ${number}`;
  layers: number;
}

const oneLine = (v: unknown) => String(v ?? '-').replace(/[\r\n]+/g, ' ');
const isMatrix = (m: unknown): m is number[][] => Array.isArray(m) && m.every((r) => Array.isArray(r));

export async function exportThresholds(s: SessionStore, req: ExportThresholdsRequest): Promise<ExportThresholdsResult> {
  const run = s.getRun(req.id);
  if (!run) throw new LabError('NOT_FOUND', `no run ${req.id} in ${s.file}`);
  const result = s.getResult(req.id);
  if (!result) throw new LabError('BAD_REQUEST', `run ${req.id} (${run.status}) has no result in ${s.file}: nothing to export`);
  const formats: ThresholdFormat[] = req.format === 'all' ? [...THRESHOLD_FORMATS] : [req.format];

  // ε: the batch mean (what the lab reports) or one batch's own
  const perBatch = isMatrix(result.thresholdsPerBatch) ? result.thresholdsPerBatch : [];
  let eps = Array.isArray(result.thresholds) ? (result.thresholds as number[]) : [];
  if (req.batch !== undefined) {
    if (!Number.isInteger(req.batch) || req.batch < 0 || req.batch >= perBatch.length)
      throw new LabError('BAD_REQUEST', `run ${req.id} has ${perBatch.length} batch threshold${perBatch.length === 1 ? '' : 's'} recorded; --batch must be 0…${perBatch.length - 1} (got ${req.batch})`);
    eps = perBatch[req.batch];
  }
  const needEps = formats.includes('authors') || formats.includes('tau');
  if (needEps && (eps.length === 0 || !eps.every((e) => typeof e === 'number' && Number.isFinite(e) && e >= 0)))
    throw new LabError(
      'BAD_REQUEST',
      Array.isArray(result.checkpoints) || typeof result.checkpointCount === 'number' || run.kind === 'measure-series'
        ? `run ${req.id} is a series: each checkpoint has its own thresholds; export one of its checkpoint runs (${req.id}#0, ${req.id}#1, …; sparsity-lab runs lists them)`
        : `run ${req.id} (${run.method}) has no per-layer thresholds to export (only CETT runs have them)`,
    );
  const freq = isMatrix(result.neuronFrequency) ? result.neuronFrequency : [];
  if (formats.includes('powerinfer') && freq.length === 0) throw new LabError('BAD_REQUEST', `run ${req.id} has no per-neuron activation frequencies recorded`);
  const L = needEps ? eps.length : freq.length;
  if (freq.length && freq.length !== L) throw new LabError('SESSION_ERROR', `${s.file}: run ${req.id} has ${L} layer thresholds but frequencies of ${freq.length} layers`);

  // where each file goes, all checked before anything is written (no half export)
  let dir: string | undefined;
  try {
    if (fs.statSync(req.out).isDirectory()) dir = path.resolve(req.out);
  } catch {
    /* a new file */
  }
  if (!dir && formats.length > 1) throw new LabError('BAD_REQUEST', `${path.resolve(req.out)} is not an existing folder: --format all writes ${formats.length} files into a folder`);
  const base = req.id.replace(/[^\w.-]+/g, '_');
  const targets = formats.map((f) => ({ format: f, path: writableOut(dir ? path.join(dir, `${base}.${SUFFIX[f].name}`) : req.out, SUFFIX[f].ext, req.overwrite) }));

  // τ needs ‖W_out[:, i]‖₂ of the measured checkpoint, found where the session says it is now
  let norms: Float32Array[] | undefined;
  if (formats.includes('tau')) {
    const ck = run.checkpointId != null ? s.getCheckpoint(run.checkpointId) : undefined;
    if (!ck) throw new LabError('BAD_REQUEST', `run ${req.id} records no checkpoint: τ needs its W_out column norms`);
    if (ck.missing)
      throw new LabError('NOT_FOUND', `checkpoint '${ck.name}' of run ${req.id} is neither at ${ck.relPath ? `${ck.relPath} (next to the session) nor at ` : ''}${ck.lastPath ?? ck.path}: τ needs its weights. Re-point it (sparsity-lab relink, or Relink in the app) and export again`);
    const loaded = await loadCheckpoint(ck.path);
    if (ck.contentHash && loaded.contentHash && loaded.contentHash !== ck.contentHash)
      throw new LabError('BAD_REQUEST', `${ck.path} is not the checkpoint run ${req.id} measured (content hash differs): τ from it would be wrong`);
    norms = await checkpointColumnNormsAsync(loaded); // a layer at a time, the engine answering others between (7B: 2.9 GB read)
    if (norms.length !== L) throw new LabError('BAD_REQUEST', `${ck.path} has ${norms.length} layers but run ${req.id} has ${L} thresholds`);
  }

  const tokens = typeof result.tokens === 'number' ? result.tokens : undefined;
  const head = (what: string) =>
    [
      `# sparsity-lab export-thresholds ${what}`,
      `# run ${oneLine(run.id)}  checkpoint ${oneLine(run.checkpoint)}  method ${oneLine(run.method)}  p ${oneLine(run.p)}  cett ${oneLine(run.cett)}  tokens ${oneLine(tokens)}`,
      req.batch !== undefined
        ? `# epsilon: batch ${req.batch} of ${perBatch.length}, the thresholds that batch was measured with`
        : `# epsilon: mean over ${perBatch.length || 'the'} batches of the per-batch thresholds (the reported values); applying it does not reproduce the measured activation ratio exactly`,
    ].join('\n');
  const text: Record<ThresholdFormat, () => string> = {
    authors: () => `${head('authors')}\n# layers ${L}; shell: set -a; . ./this-file; set +a\nthresholds=${eps.map(String).join(',')}\n`,
    tau: () => {
      const rows = [head('tau'), `# tau = epsilon_l / col_norm; skip neuron i of layer l on a token iff |a_i| < tau`, 'layer,neuron,col_norm,tau'];
      tauFromThresholds(eps, norms!).forEach((t, l) => t.forEach((v, i) => rows.push(`${l},${i},${norms![l][i]},${v === Infinity ? 'inf' : v}`)));
      return rows.join('\n') + '\n';
    },
    powerinfer: () => {
      const exact = tokens !== undefined && tokens < EXACT_COUNT_TOKENS;
      const rows = [head('powerinfer'), `# frequency = share of the ${oneLine(tokens)} tokens on which the neuron was active; count = round(frequency * tokens)${exact ? '' : ' (left empty: not exact at this many tokens)'}`, 'layer,neuron,frequency,count'];
      freq.forEach((r, l) => r.forEach((f, i) => rows.push(`${l},${i},${f},${exact ? Math.round(f * tokens!) : ''}`)));
      return rows.join('\n') + '\n';
    },
  };
  const files: ExportThresholdsResult['files'] = [];
  for (const t of targets) {
    const body = text[t.format]();
    try {
      writeFileAtomic(t.path, body);
    } catch (e) {
      throw new LabError('BAD_REQUEST', `cannot write ${t.path}: ${(e as Error).message}`);
    }
    files.push({ format: t.format, path: t.path, bytes: Buffer.byteLength(body) });
  }
  return { files, thresholds: req.batch !== undefined ? `batch ${req.batch}` : 'batch-mean', layers: L };
}
