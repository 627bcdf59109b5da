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
  'sessions.saveAs': z.object({ path: filePath }).strict(),
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
  'sessions.updateRun': z.object({ id: runId, label: z.string().max(200).optional(), notes: z.string().max(20000).optional() }).strict(),
  'sessions.listCheckpoints': z.object({}).strict(),
  'sessions.addCheckpoint': z
    .object({ path: filePath, series: z.string().max(200).optional(), tokensTrained: z.number().nonnegative().optional(), family: z.string().max(40).optional() })
    .strict(),
  'sessions.updateCheckpoint': z
    .object({ id: z.number().int().positive(), name: z.string().max(300).optional(), series: z.string().max(200).nullable().optional(), tokensTrained: z.number().nonnegative().nullable().optional(), notes: z.string().max(20000).optional() })
    .strict(),
  'sessions.importRuns': z.object({ from: filePath }).strict(),
  'sessions.exportRun': z.object({ id: runId, format: z.enum(['json', 'csv']), out: filePath }).strict(),
  /** fits (engineer E) and chart specifications (engineer G), stored as JSON keyed by kind and series */
  'sessions.saveFit': z.object({ kind: z.string().min(1).max(100), series: z.string().max(500).nullable().optional(), spec: z.unknown(), result: z.unknown() }).strict(),
  'sessions.listFits': z.object({ kind: z.string().min(1).max(100).optional() }).strict(),
  'sessions.saveChartSpec': z.object({ kind: z.string().min(1).max(100), series: z.string().max(500).nullable().optional(), spec: z.unknown() }).strict(),
  'sessions.listChartSpecs': z.object({ kind: z.string().min(1).max(100).optional() }).strict(),
  'sessions.deleteChartSpec': z.object({ kind: z.string().min(1).max(100), series: z.string().max(500).nullable().optional() }).strict(),
  /** interrupted runs of the open session with the config to resume them (runs.start {config, resume: id}) */
  'sessions.resumable': z.object({}).strict(),
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
  path: string;
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

export interface SessionRun {
  id: string;
  parentId: string | null;
  kind: string;
  method: string;
  label: string;
  checkpointId: number | null;
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
  createdAt: string;
  updatedAt: string;
  deleted: boolean;
}

export interface SessionsResponses {
  'sessions.new': SessionInfo;
  'sessions.open': SessionInfo;
  'sessions.saveAs': SessionInfo;
  'sessions.close': { closed: boolean };
  'sessions.current': SessionInfo | null;
  'sessions.listRuns': SessionRun[];
  'sessions.getRun': { run: SessionRun; config: unknown; result: Record<string, unknown> | null; children: SessionRun[] };
  'sessions.compareRuns': { runs: SessionRun[]; results: (Record<string, unknown> | null)[] };
  'sessions.deleteRun': { deleted: string };
  'sessions.undoDelete': { restored: string };
  'sessions.updateRun': SessionRun;
  'sessions.listCheckpoints': SessionCheckpoint[];
  'sessions.addCheckpoint': SessionCheckpoint;
  'sessions.updateCheckpoint': SessionCheckpoint;
  'sessions.importRuns': { imported: number; skipped: number; checkpoints: number };
  'sessions.exportRun': { path: string; bytes: number };
  'sessions.saveFit': { id: number };
  'sessions.listFits': { id: number; series: string | null; kind: string; spec: unknown; result: unknown; createdAt: string }[];
  'sessions.saveChartSpec': { kind: string; series: string | null };
  'sessions.listChartSpecs': { kind: string; series: string | null; spec: unknown; updatedAt: string }[];
  'sessions.deleteChartSpec': { deleted: boolean };
  'sessions.resumable': { id: string; kind: string; config: unknown; steps: number; updatedAt: string }[];
}

/** event 'session.changed' */
export interface SessionChangedEvent {
  path: string | null;
  what: 'opened' | 'closed' | 'runs' | 'checkpoints' | 'fits' | 'charts';
}
