import { z } from 'zod';

// Commands of the 'sessions' domain (issue 5): the open session file, its checkpoints and runs.
// UI contract: every mutation commits at once (autosave) — there is no unsaved state and no "Save" step;
// "Save as" makes a consistent copy (SQLite online backup) and continues in the copy. Deleting a run can be
// undone (sessions.undoDelete) until the session is closed. Mutations emit 'session.changed'.

const filePath = z.string().min(1).max(4096);
const runId = z.string().min(1).max(300);

export const sessionsRequests = {
  'sessions.new': z.object({ path: filePath }).strict(),
  'sessions.open': z.object({ path: filePath, readOnly: z.boolean().optional() }).strict(),
  /** a copy of the open session at `path`, then opened; an existing file is replaced only with `overwrite` (else FILE_EXISTS) */
  'sessions.saveAs': z.object({ path: filePath, overwrite: z.boolean().optional() }).strict(),
  'sessions.close': z.object({}).strict(),
  'sessions.current': z.object({}).strict(),
  'sessions.listRuns': z
    .object({
      series: z.string().max(500).optional(),
      method: z.string().max(50).optional(),
      activation: z.string().max(50).optional(),
      status: z.string().max(50).optional(),
      topLevelOnly: z.boolean().optional(),
      sort: z.enum(['createdAt', 'activationRatio', 'cett', 'tokensTrained', 'checkpoint', 'pplRatio']).optional(),
      desc: z.boolean().optional(),
      limit: z.number().int().positive().max(100000).optional(),
    })
    .strict(),
  'sessions.getRun': z.object({ id: runId }).strict(),
  'sessions.compareRuns': z.object({ ids: z.array(runId).min(2).max(20) }).strict(),
  'sessions.deleteRun': z.object({ id: runId }).strict(),
  'sessions.undoDelete': z.object({ id: runId }).strict(),
  'sessions.updateRun': z.object({ id: runId, label: z.string().max(200).optional(), notes: z.string().max(20000).optional(), tags: z.array(z.string().max(100)).max(50).optional() }).strict(),
  'sessions.listCheckpoints': z.object({}).strict(),
  'sessions.addCheckpoint': z
    .object({ path: filePath, series: z.string().max(200).optional(), tokensTrained: z.number().nonnegative().optional(), family: z.string().max(40).optional() })
    .strict(),
  'sessions.updateCheckpoint': z
    .object({ id: z.number().int().positive(), name: z.string().max(300).optional(), series: z.string().max(200).nullable().optional(), tokensTrained: z.number().nonnegative().nullable().optional(), notes: z.string().max(20000).optional() })
    .strict(),
  'sessions.importRuns': z.object({ from: filePath }).strict(),
  'sessions.exportRun': z.object({ id: runId, format: z.enum(['json', 'csv']), out: filePath, overwrite: z.boolean().optional() }).strict(),
  /** a run's thresholds for inference engines: authors' ε list, τ per neuron, activation frequencies (README "Threshold exports") */
  'sessions.exportThresholds': z
    .object({ id: runId, format: z.enum(['authors', 'tau', 'powerinfer', 'all']), out: filePath, batch: z.number().int().nonnegative().max(1e9).optional(), overwrite: z.boolean().optional() })
    .strict(),
  /** fits (engineer E) and chart specifications (engineer G), stored as JSON keyed by kind and series */
  'sessions.saveFit': z.object({ kind: z.string().min(1).max(100), series: z.string().max(500).nullable().optional(), spec: z.unknown(), result: z.unknown() }).strict(),
  'sessions.listFits': z.object({ kind: z.string().min(1).max(100).optional() }).strict(),
  'sessions.saveChartSpec': z.object({ kind: z.string().min(1).max(100), series: z.string().max(500).nullable().optional(), spec: z.unknown() }).strict(),
  'sessions.listChartSpecs': z.object({ kind: z.string().min(1).max(100).optional() }).strict(),
  'sessions.deleteChartSpec': z.object({ kind: z.string().min(1).max(100), series: z.string().max(500).nullable().optional() }).strict(),
  /** interrupted runs of the open session with the config to resume them (runs.start {config, resume: id}) */
  'sessions.resumable': z.object({}).strict(),
  /** the session's datasets (evaluation texts by content hash), resolved like checkpoints */
  'sessions.listDatasets': z.object({}).strict(),
  /** re-points a missing checkpoint or dataset at a file; refused unless the file has the recorded content hash */
  'sessions.relink': z.object({ kind: z.enum(['checkpoint', 'dataset']), id: z.number().int().positive(), path: filePath }).strict(),
  /** re-points every missing checkpoint and text found under a folder (4 levels down) by content hash */
  'sessions.relinkFolder': z.object({ folder: filePath }).strict(),
  /** a run's config with its checkpoint(s) and text at their current locations, to measure it again (runs.start) */
  'sessions.rerunConfig': z.object({ id: runId }).strict(),
} satisfies Record<string, z.ZodType>;

export interface SessionInfo {
  path: string;
  name: string;
  readOnly: boolean;
  notice?: string;
  runs: number;
  checkpoints: number;
  interrupted: number;
}

export interface SessionCheckpoint {
  id: number;
  /** where the file is now: relative to the session file first, else the last absolute path */
  path: string;
  /** the last absolute path recorded */
  lastPath?: string;
  /** the path relative to the session file's folder ('/' separators), null when none */
  relPath?: string | null;
  /** where the relative path points from the session's folder now (looked there first), null when none */
  expectedPath?: string | null;
  /** neither location exists: re-point it (sessions.relink) */
  missing?: boolean;
  name: string;
  contentHash: string | null;
  family: string | null;
  activation: string | null;
  hiddenSize: number | null;
  layers: number | null;
  intermediateSize: number | null;
  parameters: number | null;
  nonEmbeddingParameters: number | null;
  widthDepthRatio: number | null;
  tokensTrained: number | null;
  series: string | null;
  notes: string;
}

/** An evaluation text as runs used it: identified by content hash, token budget and sequence length. */
export interface SessionDataset {
  id: number;
  path: string;
  lastPath: string;
  relPath: string | null;
  /** where the relative path points from the session's folder now (looked there first), null when none */
  expectedPath?: string | null;
  missing: boolean;
  hash: string | null;
  tokens: number | null;
  seqLen: number | null;
}

/** What a CETT threshold search did (main/metrics: PreparedTarget.searchRecord). */
export interface SearchRecord {
  engine: 'js' | 'ort' | 'fused';
  /** where the CETT products ran, and in what precision */
  provider: string;
  productPrecision: string;
  /** 'authors': 65,536 candidates linspace(min N, q99 N); 'exact': every distinct N, no grid, no cap */
  candidates: number | 'every distinct value';
  q99Cap: boolean;
  /** the authors' q99 is taken on a strided subsample (null: no cap) */
  q99Stride: string | null;
  /** tokens left out of the CETT means because their FFN output is exactly 0, summed over batches and layers
   * (null: the engine does not count them, e.g. the fused GPU search) */
  zeroNormTokens: number | null;
  /** the engine changed during the run (e.g. fused → ort when the device ran out of memory) */
  engineFallback: { from: string; to: string; reason: string } | null;
}

/**
 * Everything that decides a run's number besides its config (issue 17), recorded when it starts (app, inputs,
 * tokenizer) and when it finishes (measurement). Null for runs made before schema v4.
 */
export interface RunProvenance {
  app: { version: string; commit: string; onnxruntime: string; node: string; platform: string };
  /** content hashes of the checkpoint(s) and the evaluation text when the run started (a resume re-checks them) */
  inputs?: { checkpoints: { path: string; hash: string | null }[]; data?: { path: string; hash: string | null } };
  /** sha256 over the tokenizer files beside the (last) checkpoint; null when it has none */
  tokenizer?: { hash: string; files: string[] } | null;
  measurement?: {
    /** provider and dtype of each phase: dense pass, threshold search, sparse pass */
    phases: { phase: 'dense' | 'thresholds' | 'sparse'; provider: string; dtype: string }[];
    /** cett-ppl: the threshold search's choices (null: no threshold search in this run) */
    search: SearchRecord | null;
    fallbackReasons: string[];
    /** what the reported per-layer thresholds are (they are batch means: see the text) */
    thresholds: string;
    /** the per-batch thresholds actually applied are stored with the result (thresholdsPerBatch) */
    perBatchThresholds: boolean;
  };
  /** a run measured as a Slurm array task and collected into the session (issue 20, main/cluster) */
  cluster?: { arrayId: string; slurmJobId: string | null; jobId: string | null; arrayTaskId: string; node: string; gpu: string | null; appVersion: string; commit: string; resultsDir: string; sessionSha256: string };
}

export interface SessionRun {
  id: string;
  parentId: string | null;
  kind: string;
  method: string;
  label: string;
  checkpointId: number | null;
  datasetId?: number | null;
  checkpoint: string | null;
  activation: string | null;
  series: string | null;
  tokensTrained: number | null;
  p: number | null;
  param: number | null;
  status: 'queued' | 'running' | 'interrupted' | 'completed' | 'failed' | 'cancelled';
  steps: number;
  cett: number | null;
  activationRatio: number | null;
  pplRatio: number | null;
  pplDense: number | null;
  pplSparse: number | null;
  provider: string | null;
  dtype: string | null;
  appVersion: string | null;
  ortVersion: string | null;
  error: string | null;
  notes: string;
  /** the user's tags (issue 18), in the order added */
  tags: string[];
  /** why its p% target cannot be met (a CETT-PPL-p% run, or a p% sweep with such points); null: met, or not a p% run */
  targetNotMet: string | null;
  /**
   * What a sweep run sweeps, from its configuration (`sweepP`: a p% sweep, p in %; `sweep`: a fixed-CETT or baseline
   * parameter sweep): the values asked for, so a sweep whose points live only in its result (recorded before points
   * were runs of their own) or that was interrupted is still named as one. Absent for other runs.
   */
  sweep?: { over: 'p' | 'param'; values: number[] };
  createdAt: string;
  updatedAt: string;
  deleted: boolean;
}

/** What happened to one run of an import (the UI lists them). */
export interface ImportedRun {
  id: string;
  label: string;
  /** imported; duplicate: the same content is here already (`sameAs`), not copied; conflict/orphan: not imported (`reason`) */
  outcome: 'imported' | 'duplicate' | 'conflict' | 'orphan';
  /** the run here with the same content hash (duplicate) */
  sameAs?: string;
  /** sha256 of the run's content (runContentHash), when it was compared (a run with nothing alike here is not hashed) */
  hash?: string;
  reason?: string;
}

export interface ImportReport {
  imported: number;
  /** duplicates + conflicts + orphans: runs not copied */
  skipped: number;
  /** of the skipped: runs whose content is here already */
  duplicates: number;
  checkpoints: number;
  runs: ImportedRun[];
}

export interface SessionsResponses {
  'sessions.new': SessionInfo;
  'sessions.open': SessionInfo;
  'sessions.saveAs': SessionInfo;
  'sessions.close': { closed: boolean };
  'sessions.current': SessionInfo | null;
  'sessions.listRuns': SessionRun[];
  'sessions.getRun': {
    run: SessionRun;
    config: unknown;
    result: Record<string, unknown> | null;
    children: SessionRun[];
    /** null: recorded before provenance was (schema < 4) */
    provenance?: RunProvenance | null;
    checkpointRef?: SessionCheckpoint | null;
    dataset?: SessionDataset | null;
  };
  'sessions.compareRuns': { runs: SessionRun[]; results: (Record<string, unknown> | null)[] };
  'sessions.deleteRun': { deleted: string };
  'sessions.undoDelete': { restored: string };
  'sessions.updateRun': SessionRun;
  'sessions.listCheckpoints': SessionCheckpoint[];
  'sessions.addCheckpoint': SessionCheckpoint;
  'sessions.updateCheckpoint': SessionCheckpoint;
  'sessions.importRuns': ImportReport;
  'sessions.exportRun': { path: string; bytes: number };
  'sessions.exportThresholds': { files: { format: 'authors' | 'tau' | 'powerinfer'; path: string; bytes: number }[]; thresholds: string; layers: number };
  'sessions.saveFit': { id: number };
  'sessions.listFits': { id: number; series: string | null; kind: string; spec: unknown; result: unknown; createdAt: string }[];
  'sessions.saveChartSpec': { kind: string; series: string | null };
  'sessions.listChartSpecs': { kind: string; series: string | null; spec: unknown; updatedAt: string }[];
  'sessions.deleteChartSpec': { deleted: boolean };
  'sessions.resumable': { id: string; kind: string; config: unknown; steps: number; updatedAt: string }[];
  'sessions.listDatasets': SessionDataset[];
  'sessions.relink': SessionCheckpoint | SessionDataset;
  'sessions.relinkFolder': { relinked: { kind: 'checkpoint' | 'dataset'; id: number; path: string }[]; stillMissing: number };
  'sessions.rerunConfig': { config: unknown };
}

/** event 'session.changed' */
export interface SessionChangedEvent {
  path: string | null;
  what: 'opened' | 'closed' | 'runs' | 'checkpoints' | 'fits' | 'charts';
}
