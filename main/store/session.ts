/**
 * One open session file (main/store/README.md). Every mutation commits immediately, so there is
 * no unsaved state: closing the app or a crash loses nothing. Deleted runs are soft-deleted (undo until the
 * session is closed, then purged).
 */
import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { acquireSessionLock, hasLiveWriter, lockFileOf, releaseSessionLock, sessionWriteError, staleLockWords } from './lock';
import { validateStoredJobState, validateStoredResult } from './validate';
import { LabError } from '../api/errors';
import { checkSessionFile, createDb, openDb, tidyAfterReader } from './db';
import { fromBlob, toBlob, type StoredArray } from './arrays';
import type { CheckpointSummary } from '../checkpoint/index';
import type { RunProvenance, SessionCheckpoint, SessionDataset, SessionRun } from '../api/domains/sessions';
import { distinctNames } from '../../common/naming';

export type CheckpointRow = SessionCheckpoint;

export type RunStatus = SessionRun['status'];

export type RunRow = SessionRun;

export interface RunFilter {
  series?: string;
  method?: string;
  activation?: string;
  status?: string;
  checkpointId?: number;
  parentId?: string | null;
  includeDeleted?: boolean;
  sort?: 'createdAt' | 'activationRatio' | 'cett' | 'tokensTrained' | 'checkpoint' | 'pplRatio';
  desc?: boolean;
  limit?: number;
}

// Explicit columns: the job state / config / timings JSON stays out of listings (it can be large).
const RUN_SELECT = `SELECT r.id, r.parent_id, r.kind, r.method, r.label, r.checkpoint_id, r.dataset_id, r.p, r.param, r.status, r.steps, r.cett,
  r.activation_ratio, r.ppl_ratio, r.ppl_dense, r.ppl_sparse, r.provider, r.dtype, r.app_version, r.ort_version, r.error, r.notes, r.tags,
  (SELECT coalesce(json_extract(x.summary, '$.targetNotMet'), CASE WHEN json_extract(x.summary, '$.targetsNotMet') > 0
    THEN json_extract(x.summary, '$.targetsNotMet') || ' of the sweep''s p% targets cannot be met (see its points)' END) FROM results x WHERE x.run_id = r.id) AS target_not_met,
  CASE WHEN json_valid(r.config) THEN json_extract(r.config, '$.sweepP') END AS sweep_p,
  CASE WHEN json_valid(r.config) THEN json_extract(r.config, '$.sweep') END AS sweep_param,
  r.created_at, r.updated_at, r.deleted, c.name AS ck_name, c.activation AS ck_activation, c.series AS ck_series, c.tokens_trained AS ck_tokens
  FROM runs r LEFT JOIN checkpoints c ON c.id = r.checkpoint_id`;

/**
 * A sweep run's values from its config's `sweepP` / `sweep` (JSON text from json_extract): a list of finite numbers,
 * else nothing (a config written by hand or by another version may hold anything there: the row then names no sweep).
 */
function sweepOfConfig(sweepP: unknown, sweep: unknown): { sweep?: RunRow['sweep'] } {
  for (const [over, raw] of [['p', sweepP], ['param', sweep]] as const) {
    if (typeof raw !== 'string') continue;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch {
      continue;
    }
    if (Array.isArray(v) && v.length && v.every((x) => typeof x === 'number' && Number.isFinite(x))) return { sweep: { over, values: v as number[] } };
  }
  return {};
}

function toRun(r: Record<string, unknown>): RunRow {
  return {
    id: r.id as string,
    parentId: (r.parent_id as string) ?? null,
    kind: r.kind as string,
    method: r.method as string,
    label: (r.label as string) ?? '',
    checkpointId: (r.checkpoint_id as number) ?? null,
    datasetId: (r.dataset_id as number) ?? null,
    checkpoint: (r.ck_name as string) ?? null,
    activation: (r.ck_activation as string) ?? null,
    series: (r.ck_series as string) ?? null,
    tokensTrained: (r.ck_tokens as number) ?? null,
    p: (r.p as number) ?? null,
    param: (r.param as number) ?? null,
    status: r.status as RunStatus,
    steps: r.steps as number,
    cett: (r.cett as number) ?? null,
    activationRatio: (r.activation_ratio as number) ?? null,
    pplRatio: (r.ppl_ratio as number) ?? null,
    pplDense: (r.ppl_dense as number) ?? null,
    pplSparse: (r.ppl_sparse as number) ?? null,
    provider: (r.provider as string) ?? null,
    dtype: (r.dtype as string) ?? null,
    appVersion: (r.app_version as string) ?? null,
    ortVersion: (r.ort_version as string) ?? null,
    error: (r.error as string) ?? null,
    notes: (r.notes as string) ?? '',
    tags: parseTags(r.tags),
    targetNotMet: typeof r.target_not_met === 'string' ? r.target_not_met : null,
    ...sweepOfConfig(r.sweep_p, r.sweep_param),
    createdAt: r.created_at as string,
    updatedAt: r.updated_at as string,
    deleted: !!r.deleted,
  };
}

/** A run's tags as stored (JSON array of strings); anything else reads as none. */
function parseTags(v: unknown): string[] {
  try {
    const t = typeof v === 'string' ? JSON.parse(v) : [];
    return Array.isArray(t) ? t.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** Tags as the store keeps them: trimmed, non-empty, at most 40 characters each, no repeats, at most 20. */
export function normalizeTags(tags: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of tags) {
    const t = raw.trim();
    if (!t) continue;
    if (t.length > 40) throw new LabError('BAD_REQUEST', `a tag is at most 40 characters (got "${t.slice(0, 50)}…")`);
    if (!out.includes(t)) out.push(t);
  }
  if (out.length > 20) throw new LabError('BAD_REQUEST', `a run has at most 20 tags (got ${out.length})`);
  return out;
}

/**
 * Where a referenced file is now (relocatable sessions): its path relative to the session file first, then the
 * last absolute path; `missing` when neither exists (the UI asks to re-point it: sessions.relink).
 */
export function resolveRef(sessionFile: string, relPath: string | null, lastPath: string): { path: string; missing: boolean; expected: string | null } {
  const expected = relPath ? path.resolve(path.dirname(sessionFile), relPath) : null;
  if (expected && fs.existsSync(expected)) return { path: expected, missing: false, expected };
  return { path: lastPath, missing: !fs.existsSync(lastPath), expected };
}

/** `abs` relative to the session file's folder, with '/' separators; null when there is none (another drive). */
export function relativeRef(sessionFile: string, abs: string): string | null {
  const rel = path.relative(path.dirname(sessionFile), abs);
  return rel && !path.isAbsolute(rel) ? rel.split(path.sep).join('/') : null;
}

function toCheckpoint(r: Record<string, unknown>, sessionFile: string): CheckpointRow {
  const where = resolveRef(sessionFile, (r.rel_path as string) ?? null, r.path as string);
  return {
    id: r.id as number,
    path: where.path,
    lastPath: r.path as string,
    relPath: (r.rel_path as string) ?? null,
    expectedPath: where.expected,
    missing: where.missing,
    name: r.name as string,
    contentHash: (r.content_hash as string) ?? null,
    family: (r.family as string) ?? null,
    activation: (r.activation as string) ?? null,
    hiddenSize: (r.hidden_size as number) ?? null,
    layers: (r.layers as number) ?? null,
    intermediateSize: (r.intermediate_size as number) ?? null,
    parameters: (r.parameters as number) ?? null,
    nonEmbeddingParameters: (r.non_embedding_parameters as number) ?? null,
    widthDepthRatio: (r.width_depth_ratio as number) ?? null,
    tokensTrained: (r.tokens_trained as number) ?? null,
    series: (r.series as string) ?? null,
    notes: (r.notes as string) ?? '',
  };
}

function withSessionLock(abs: string, open: (stale: string | undefined) => SessionStore): SessionStore {
  const replaced = acquireSessionLock(abs);
  // a lock its dead writer left (kill -9, a crash): taken over, and said (the runs it left are marked interrupted)
  const stale = replaced === undefined ? undefined : `The lock ${lockFileOf(abs)} was ${staleLockWords(replaced)}; it is cleared, and runs that process left unfinished are marked interrupted (resumable).`;
  try {
    return open(stale);
  } catch (e) {
    releaseSessionLock(abs);
    throw e;
  }
}

/** Parses JSON stored in the file; hostile or damaged JSON becomes a clear error, not a crash. */
export function parseStored<T>(text: unknown, what: string): T {
  if (typeof text !== 'string') throw new LabError('SESSION_ERROR', `${what}: stored value is not text`);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new LabError('SESSION_ERROR', `${what}: stored JSON is damaged`);
  }
}

/** The large arrays of a result go to BLOBs (compact); the rest stays as a JSON summary. */
const ARRAY_FIELDS = ['tau', 'neuronFrequency', 'sampleMatrix', 'thresholdsPerBatch'] as const;

const now = () => new Date().toISOString();

/** A readable name: a step folder (`003000`, `step-1200`, `checkpoint-500`) keeps its run's folder name in front (the
 * one folder-name reader, common/naming.ts, as the run labels and the runs table name it). */
export function checkpointName(p: string): string {
  const abs = path.resolve(p);
  return distinctNames([abs]).get(abs) ?? path.basename(abs);
}

export class SessionStore {
  private constructor(
    readonly file: string,
    readonly db: Database.Database,
    readonly readOnly: boolean,
    readonly notice?: string,
  ) {}

  static create(file: string): SessionStore {
    const abs = path.resolve(file);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    return withSessionLock(abs, () => new SessionStore(abs, createDb(abs), false));
  }

  static open(file: string, opts: { readOnly?: boolean } = {}): SessionStore {
    const abs = path.resolve(file);
    const walBefore = fs.existsSync(`${abs}-wal`); // a reader tidies up only what it made (db.ts tidyAfterReader)
    if (opts.readOnly) {
      // read as it is: an older schema is not upgraded (the queries read what it has), nothing is written
      const o = openDb(abs, opts);
      const s = new SessionStore(abs, o.db, true, o.notice);
      s.walBefore = walBefore;
      s.dropCopy = o.dropCopy;
      return s;
    }
    // a writer owns the file across processes (lock.ts): a second writer gets "in use by PID …"; a folder, device or
    // special file is named as such first, not as a lock file that cannot be made beside it
    checkSessionFile(abs);
    return withSessionLock(abs, (stale) => {
      const o = openDb(abs, opts);
      const s = new SessionStore(abs, o.db, o.readOnly, [o.notice, stale].filter(Boolean).join(' ') || undefined);
      s.walBefore = walBefore;
      s.dropCopy = o.dropCopy;
      if (o.readOnly) releaseSessionLock(abs);
      else s.markInterrupted();
      return s;
    });
  }

  /** whether a -wal file was beside the session when it was opened (read-only stores only tidy what they made) */
  private walBefore = true;
  /** a session in a folder this process cannot write is read from a temporary copy (db.ts readOnlyCopy): its removal */
  private dropCopy?: () => void;

  get name(): string {
    return path.basename(this.file).replace(/\.sparsitylab$/, '');
  }

  private writable(): void {
    if (this.readOnly) throw new LabError('READ_ONLY', `${this.file} is open read-only${this.notice ? `: ${this.notice}` : ''}`);
  }

  /** Runs left 'running' by a process that died are 'interrupted' (resumable). */
  private markInterrupted(): void {
    this.db.prepare("UPDATE runs SET status='interrupted', updated_at=? WHERE status IN ('running','queued')").run(now());
  }

  close(): void {
    if (!this.db.open) return;
    try {
      if (!this.readOnly) {
        this.db.prepare('DELETE FROM runs WHERE deleted=1').run(); // soft deletes become final
        this.db.pragma('wal_checkpoint(TRUNCATE)');
      }
    } catch (e) {
      throw sessionWriteError(this.file, e, 'closing the session'); // e.g. disk full: WAL keeps what was saved
    } finally {
      this.db.close();
      if (!this.readOnly) releaseSessionLock(this.file);
      else if (this.dropCopy) this.dropCopy();
      else if (!hasLiveWriter(this.file)) tidyAfterReader(this.file, this.walBefore);
    }
  }

  /** Engine.dispose() closes services that have dispose(). */
  dispose(): void {
    this.close();
  }

  /** Online backup to `dest` (a consistent copy even while runs write). */
  async backupTo(dest: string): Promise<void> {
    const abs = path.resolve(dest);
    if (abs === this.file) throw new LabError('BAD_REQUEST', 'save-as target is the open session itself');
    try {
      await this.db.backup(abs);
    } catch (e) {
      throw new LabError('SESSION_ERROR', `${abs}: cannot write the copy (${(e as Error).message})`);
    }
  }

  // ---------- checkpoints ----------
  /**
   * The row of this checkpoint's CONTENT (schema v4): the same content hash finds the same row (preferring one last
   * seen at this path), other content is a new row even at the same path, so a run keeps pointing at the bytes it
   * measured. An existing row's identity is never rewritten: only where the file was last seen, and fields still
   * unknown, are filled in. Without a hash (an unreadable file) the row is found by path among hash-less rows.
   */
  upsertCheckpoint(s: Pick<CheckpointSummary, 'path'> & Partial<CheckpointSummary>, extra: { series?: string | null; tokensTrained?: number | null; name?: string } = {}): number {
    this.writable();
    const hash = s.contentHash ?? null;
    const existingId = hash ? this.findCheckpoint(s.path, hash) : ((this.db.prepare('SELECT id FROM checkpoints WHERE content_hash IS NULL AND path=? ORDER BY id LIMIT 1').get(s.path) as { id: number } | undefined)?.id ?? null);
    const existing = existingId === null ? undefined : { id: existingId };
    const name = extra.name ?? checkpointName(s.path);
    const rel = relativeRef(this.file, s.path);
    if (existing) {
      this.db
        .prepare(
          `UPDATE checkpoints SET path=?, rel_path=?, family=coalesce(family,?), activation=coalesce(activation,?), hidden_size=coalesce(hidden_size,?),
           layers=coalesce(layers,?), intermediate_size=coalesce(intermediate_size,?), parameters=coalesce(parameters,?),
           non_embedding_parameters=coalesce(non_embedding_parameters,?), width_depth_ratio=coalesce(width_depth_ratio,?),
           tokens_trained=coalesce(tokens_trained,?), series=coalesce(series,?), summary=coalesce(summary,?) WHERE id=?`,
        )
        .run(s.path, rel, s.family ?? null, s.activation ?? null, s.hiddenSize ?? null, s.layers ?? null, s.intermediateSize ?? null, s.parameters ?? null, s.nonEmbeddingParameters ?? null, s.widthDepthRatio ?? null, extra.tokensTrained ?? null, extra.series ?? null, s.family ? JSON.stringify(s) : null, existing.id);
      return existing.id;
    }
    const r = this.db
      .prepare(
        `INSERT INTO checkpoints (path,rel_path,name,content_hash,family,activation,hidden_size,layers,intermediate_size,parameters,non_embedding_parameters,width_depth_ratio,tokens_trained,series,summary,created_at)
         VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
      )
      .run(s.path, rel, name, hash, s.family ?? null, s.activation ?? null, s.hiddenSize ?? null, s.layers ?? null, s.intermediateSize ?? null, s.parameters ?? null, s.nonEmbeddingParameters ?? null, s.widthDepthRatio ?? null, extra.tokensTrained ?? null, extra.series ?? null, s.family ? JSON.stringify(s) : null, now());
    return Number(r.lastInsertRowid);
  }

  listCheckpoints(): CheckpointRow[] {
    return (this.db.prepare('SELECT * FROM checkpoints ORDER BY series, tokens_trained, name, id').all() as Record<string, unknown>[]).map((r) => toCheckpoint(r, this.file));
  }

  getCheckpoint(id: number): CheckpointRow | undefined {
    const r = this.db.prepare('SELECT * FROM checkpoints WHERE id=?').get(id) as Record<string, unknown> | undefined;
    return r && toCheckpoint(r, this.file);
  }

  /** The row of a checkpoint's content (by hash, preferring one last seen at `abs`), or by path when no hash. */
  findCheckpoint(abs: string, hash: string | null): number | null {
    const r = (
      hash
        ? this.db.prepare('SELECT id FROM checkpoints WHERE content_hash=? ORDER BY (path=?) DESC, id LIMIT 1').get(hash, abs)
        : this.db.prepare('SELECT id FROM checkpoints WHERE path=? ORDER BY (content_hash IS NULL) DESC, id DESC LIMIT 1').get(abs)
    ) as { id: number } | undefined;
    return r?.id ?? null;
  }

  /**
   * Re-points a reference (checkpoint or dataset row) at `abs`, which must have the row's recorded content hash
   * (`hash`, computed by the caller: main/store/relink.ts). Only the location changes.
   */
  relocate(table: 'checkpoints' | 'datasets', id: number, abs: string, hash: string): void {
    this.writable();
    const col = table === 'checkpoints' ? 'content_hash' : 'hash';
    const row = this.db.prepare(`SELECT ${col} AS h FROM ${table} WHERE id=?`).get(id) as { h: string | null } | undefined;
    if (!row) throw new LabError('NOT_FOUND', `no ${table === 'checkpoints' ? 'checkpoint' : 'dataset'} ${id} in ${this.file}`);
    if (!row.h) throw new LabError('BAD_REQUEST', `${table === 'checkpoints' ? 'checkpoint' : 'dataset'} ${id} has no recorded content hash, so no file can be shown to be the same one; measure ${abs} as a new one instead`);
    if (row.h !== hash)
      throw new LabError('BAD_REQUEST', `${abs} is not the file this session measured: its content hash ${hash.slice(0, 23)}… differs from the recorded ${row.h.slice(0, 23)}…; measure it as a new ${table === 'checkpoints' ? 'checkpoint' : 'dataset'} instead`);
    this.db.prepare(`UPDATE ${table} SET path=?, rel_path=? WHERE id=?`).run(abs, relativeRef(this.file, abs), id);
  }

  updateCheckpoint(id: number, u: { name?: string; series?: string | null; tokensTrained?: number | null; notes?: string }): void {
    this.writable();
    const cur = this.getCheckpoint(id);
    if (!cur) throw new LabError('NOT_FOUND', `no checkpoint ${id} in ${this.file}`);
    this.db
      .prepare('UPDATE checkpoints SET name=?, series=?, tokens_trained=?, notes=? WHERE id=?')
      .run(u.name ?? cur.name, u.series === undefined ? cur.series : u.series, u.tokensTrained === undefined ? cur.tokensTrained : u.tokensTrained, u.notes ?? cur.notes, id);
  }

  /**
   * The row of this evaluation text as a run used it: content hash, token budget and sequence length (schema v4).
   * A row is never rewritten (only where the file was last seen): other text, or another cut of it, is a new row.
   */
  upsertDataset(d: { path: string; hash?: string; tokens?: number; seqLen?: number }): number {
    this.writable();
    const ex = (
      d.hash
        ? this.db.prepare('SELECT id FROM datasets WHERE hash=? AND seq_len IS ? AND tokens IS ? ORDER BY (path=?) DESC, id LIMIT 1').get(d.hash, d.seqLen ?? null, d.tokens ?? null, d.path)
        : this.db.prepare('SELECT id FROM datasets WHERE hash IS NULL AND path=? AND seq_len IS ? AND tokens IS ? ORDER BY id LIMIT 1').get(d.path, d.seqLen ?? null, d.tokens ?? null)
    ) as { id: number } | undefined;
    const rel = relativeRef(this.file, d.path);
    if (ex) {
      this.db.prepare('UPDATE datasets SET path=?, rel_path=? WHERE id=?').run(d.path, rel, ex.id);
      return ex.id;
    }
    return Number(this.db.prepare('INSERT INTO datasets (path,rel_path,hash,tokens,seq_len,created_at) VALUES (?,?,?,?,?,?)').run(d.path, rel, d.hash ?? null, d.tokens ?? null, d.seqLen ?? null, now()).lastInsertRowid);
  }

  listDatasets(): SessionDataset[] {
    const rows = this.db.prepare('SELECT id, path, rel_path, hash, tokens, seq_len FROM datasets ORDER BY id').all() as Record<string, unknown>[];
    return rows.map((r) => this.toDataset(r));
  }

  getDataset(id: number): SessionDataset | undefined {
    const r = this.db.prepare('SELECT id, path, rel_path, hash, tokens, seq_len FROM datasets WHERE id=?').get(id) as Record<string, unknown> | undefined;
    return r && this.toDataset(r);
  }

  private toDataset(r: Record<string, unknown>): SessionDataset {
    const where = resolveRef(this.file, (r.rel_path as string) ?? null, r.path as string);
    return { id: r.id as number, path: where.path, lastPath: r.path as string, relPath: (r.rel_path as string) ?? null, expectedPath: where.expected, missing: where.missing, hash: (r.hash as string) ?? null, tokens: (r.tokens as number) ?? null, seqLen: (r.seq_len as number) ?? null };
  }

  // ---------- runs ----------
  createRun(r: { id: string; parentId?: string; kind: string; method: string; checkpointId?: number | null; datasetId?: number | null; p?: number | null; param?: number | null; config: unknown; status?: RunStatus; appVersion?: string; ortVersion?: string; provenance?: RunProvenance }): void {
    this.writable();
    if (this.hasRun(r.id)) throw new LabError('BUSY', `run ${r.id} exists already in ${this.file}`);
    const t = now();
    this.db
      .prepare(
        `INSERT INTO runs (id,parent_id,kind,method,checkpoint_id,dataset_id,p,param,config,status,app_version,ort_version,provenance,created_at,updated_at)
         VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
      )
      .run(r.id, r.parentId ?? null, r.kind, r.method, r.checkpointId ?? null, r.datasetId ?? null, r.p ?? null, r.param ?? null, JSON.stringify(r.config ?? null), r.status ?? 'running', r.appVersion ?? null, r.ortVersion ?? null, r.provenance ? JSON.stringify(r.provenance) : null, t, t);
  }

  /** The run's provenance record (main/store/provenance.ts); null for runs made before schema v4. */
  runProvenance(id: string): RunProvenance | null {
    const r = this.db.prepare('SELECT provenance FROM runs WHERE id=?').get(id) as { provenance: string | null } | undefined;
    if (!r) throw new LabError('NOT_FOUND', `no run ${id} in ${this.file}`);
    return r.provenance == null ? null : parseStored<RunProvenance>(r.provenance, `run ${id} provenance`);
  }

  /** Adds to the provenance record (what the finished measurement reports); what was recorded at the start stays. */
  addProvenance(id: string, more: Partial<RunProvenance>): void {
    this.writable();
    const cur = this.runProvenance(id) ?? ({} as RunProvenance);
    this.db.prepare('UPDATE runs SET provenance=? WHERE id=?').run(JSON.stringify({ ...more, ...cur }), id);
  }

  hasRun(id: string): boolean {
    return !!this.db.prepare('SELECT 1 FROM runs WHERE id=?').get(id);
  }

  updateRun(id: string, u: Partial<{ status: RunStatus; state: unknown; steps: number; error: string | null; label: string; notes: string; tags: string[]; provider: string; dtype: string; timings: unknown }>): void {
    this.writable();
    const sets: string[] = ['updated_at=?'];
    const vals: unknown[] = [now()];
    const col: Record<string, string> = { status: 'status', steps: 'steps', error: 'error', label: 'label', notes: 'notes', provider: 'provider', dtype: 'dtype' };
    for (const [k, v] of Object.entries(u)) {
      if (v === undefined && k !== 'state') continue; // absent fields keep their value
      if (k === 'tags') {
        sets.push('tags=?');
        vals.push(JSON.stringify(normalizeTags(v as string[])));
      } else if (k === 'state' || k === 'timings') {
        sets.push(`${k}=?`);
        vals.push(v === undefined ? null : JSON.stringify(v));
      } else if (col[k]) {
        sets.push(`${col[k]}=?`);
        vals.push(v);
      }
    }
    const res = this.db.prepare(`UPDATE runs SET ${sets.join(', ')} WHERE id=?`).run(...vals, id);
    if (res.changes === 0) throw new LabError('NOT_FOUND', `no run ${id} in ${this.file}`);
  }

  getRun(id: string): RunRow | undefined {
    const r = this.db.prepare(`${this.runSelect()} WHERE r.id=?`).get(id) as Record<string, unknown> | undefined;
    return r && this.shown(toRun(r));
  }

  private hasTags?: boolean;
  /** RUN_SELECT; a file older than v6 opened read-only (not upgraded) has no tags column: its runs read as untagged */
  private runSelect(): string {
    this.hasTags ??= (this.db.pragma('table_info(runs)') as { name: string }[]).some((c) => c.name === 'tags');
    return this.hasTags ? RUN_SELECT : RUN_SELECT.replace('r.tags,', "'[]' AS tags,");
  }

  /** A read-only open cannot mark dead runs (markInterrupted writes): with no live writer, 'running' is shown as 'interrupted'. */
  private shown(r: RunRow): RunRow {
    return this.readOnly && (r.status === 'running' || r.status === 'queued') && !hasLiveWriter(this.file) ? { ...r, status: 'interrupted' } : r;
  }

  runConfig(id: string): unknown {
    const r = this.db.prepare('SELECT config FROM runs WHERE id=?').get(id) as { config: string } | undefined;
    if (!r) throw new LabError('NOT_FOUND', `no run ${id} in ${this.file}`);
    return parseStored(r.config, `run ${id} config`);
  }

  runState(id: string): { state?: unknown; steps: number } {
    const r = this.db.prepare('SELECT state, steps, kind FROM runs WHERE id=?').get(id) as { state: string | null; steps: number; kind: string } | undefined;
    if (!r) throw new LabError('NOT_FOUND', `no run ${id} in ${this.file}`);
    if (r.state == null) return { state: undefined, steps: r.steps };
    const state = parseStored(r.state, `run ${id} state`);
    // the measurement kinds save the threshold search's state: checked before a resume continues from it (validate.ts)
    return { state: r.kind === 'measure' || r.kind === 'measure-series' ? validateStoredJobState(state, `${this.file}: saved state of run ${id}`) : state, steps: r.steps };
  }

  listRuns(f: RunFilter = {}): RunRow[] {
    const where: string[] = [];
    const vals: unknown[] = [];
    if (!f.includeDeleted) where.push('r.deleted=0');
    if (f.series !== undefined) {
      where.push('c.series=?');
      vals.push(f.series);
    }
    if (f.method !== undefined) {
      where.push('r.method=?');
      vals.push(f.method);
    }
    if (f.activation !== undefined) {
      where.push('c.activation=?');
      vals.push(f.activation);
    }
    if (f.status !== undefined) {
      where.push('r.status=?');
      vals.push(f.status);
    }
    if (f.checkpointId !== undefined) {
      where.push('r.checkpoint_id=?');
      vals.push(f.checkpointId);
    }
    if (f.parentId === null) where.push('r.parent_id IS NULL');
    else if (f.parentId !== undefined) {
      where.push('r.parent_id=?');
      vals.push(f.parentId);
    }
    const sortCol: Record<string, string> = { createdAt: 'r.created_at', activationRatio: 'r.activation_ratio', cett: 'r.cett', tokensTrained: 'c.tokens_trained', checkpoint: 'c.name', pplRatio: 'r.ppl_ratio' };
    const order = `${sortCol[f.sort ?? 'createdAt'] ?? 'r.created_at'} ${f.desc ? 'DESC' : 'ASC'}, r.id`;
    const sql = `${this.runSelect()}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${order}${f.limit ? ` LIMIT ${Math.max(1, Math.floor(f.limit))}` : ''}`;
    return (this.db.prepare(sql).all(...vals) as Record<string, unknown>[]).map((r) => this.shown(toRun(r)));
  }

  deleteRun(id: string): void {
    this.writable();
    if (this.db.prepare('UPDATE runs SET deleted=1, updated_at=? WHERE id=? OR parent_id=?').run(now(), id, id).changes === 0) throw new LabError('NOT_FOUND', `no run ${id} in ${this.file}`);
  }

  undoDelete(id: string): void {
    this.writable();
    if (this.db.prepare('UPDATE runs SET deleted=0, updated_at=? WHERE (id=? OR parent_id=?) AND deleted=1').run(now(), id, id).changes === 0)
      throw new LabError('NOT_FOUND', `run ${id} is not deleted (or the session was closed since)`);
  }

  // ---------- results ----------
  /** Stores a finished measurement: indexed scalars on the run, the summary as JSON, big arrays as BLOBs. */
  saveResult(runId: string, result: Record<string, unknown>): void {
    this.writable();
    const summary: Record<string, unknown> = { ...result };
    const arrays: [string, StoredArray][] = [];
    for (const f of ARRAY_FIELDS) {
      const v = result[f];
      if (Array.isArray(v) && v.length && Array.isArray(v[0])) {
        const rows = v as number[][];
        const cols = rows[0].length;
        if (rows.every((r) => Array.isArray(r) && r.length === cols)) {
          // rows copied into one typed array, not rows.flat(): flat() on nested number arrays is ~30× slower in V8 and
          // dominated `cluster collect` (bench/collect.ts)
          const data = new Float64Array(rows.length * cols);
          rows.forEach((r, i) => data.set(r, i * cols));
          arrays.push([f, { dtype: f === 'thresholdsPerBatch' ? 'float64' : 'float32', shape: [rows.length, cols], data }]);
          delete summary[f];
        }
      }
    }
    const num = (k: string) => (typeof result[k] === 'number' && Number.isFinite(result[k]) ? (result[k] as number) : null);
    this.db.transaction(() => {
      this.db
        .prepare('UPDATE runs SET cett=?, activation_ratio=?, ppl_ratio=?, ppl_dense=?, ppl_sparse=?, provider=coalesce(?,provider), dtype=coalesce(?,dtype), timings=coalesce(?,timings), updated_at=? WHERE id=?')
        .run(num('cett'), num('activationRatio'), num('pplRatio'), num('pplDense'), num('pplSparse'), (result.provider as string) ?? null, (result.dtype as string) ?? null, result.timingsMs ? JSON.stringify(result.timingsMs) : null, now(), runId);
      this.db.prepare('INSERT OR REPLACE INTO results (run_id, summary) VALUES (?, ?)').run(runId, JSON.stringify(summary));
      const ins = this.db.prepare('INSERT OR REPLACE INTO arrays (run_id, name, dtype, shape, data) VALUES (?,?,?,?,?)');
      for (const [name, a] of arrays) ins.run(runId, name, a.dtype, JSON.stringify(a.shape), toBlob(a));
    })();
  }

  /** Whether run `runId` has a stored result (without reading it). */
  hasResult(runId: string): boolean {
    return !!this.db.prepare('SELECT 1 FROM results WHERE run_id=?').get(runId);
  }

  /** The stored result with its arrays restored as nested number arrays. */
  getResult(runId: string): Record<string, unknown> | undefined {
    const r = this.db.prepare('SELECT summary FROM results WHERE run_id=?').get(runId) as { summary: string } | undefined;
    if (!r) return undefined;
    const out = parseStored<Record<string, unknown>>(r.summary, `result of run ${runId}`);
    for (const a of this.db.prepare('SELECT name, dtype, shape, data FROM arrays WHERE run_id=?').all(runId) as { name: string; dtype: string; shape: string; data: Buffer }[]) {
      const shape = parseStored<number[]>(a.shape, `array ${a.name} of run ${runId}`);
      const flat = fromBlob(a.data, a.dtype, shape, `${this.file}: array ${a.name} of run ${runId}`);
      out[a.name] = shape.length === 2 ? Array.from({ length: shape[0] }, (_, i) => Array.from(flat.subarray(i * shape[1], (i + 1) * shape[1]))) : Array.from(flat);
    }
    return validateStoredResult(out, `${this.file}: result of run ${runId}`);
  }

  // ---------- fits and charts ----------
  saveFit(f: { series?: string | null; kind: string; spec: unknown; result: unknown }): number {
    this.writable();
    this.db.prepare('DELETE FROM fits WHERE kind=? AND series IS ?').run(f.kind, f.series ?? null);
    return Number(this.db.prepare('INSERT INTO fits (series, kind, spec, result, created_at) VALUES (?,?,?,?,?)').run(f.series ?? null, f.kind, JSON.stringify(f.spec), JSON.stringify(f.result), now()).lastInsertRowid);
  }

  listFits(kind?: string): { id: number; series: string | null; kind: string; spec: unknown; result: unknown; createdAt: string }[] {
    const rows = (kind ? this.db.prepare('SELECT * FROM fits WHERE kind=?').all(kind) : this.db.prepare('SELECT * FROM fits').all()) as Record<string, unknown>[];
    return rows.map((r) => ({ id: r.id as number, series: (r.series as string) ?? null, kind: r.kind as string, spec: parseStored(r.spec, 'fit spec'), result: parseStored(r.result, 'fit result'), createdAt: r.created_at as string }));
  }

  saveChart(kind: string, settings: unknown): void {
    this.writable();
    this.db.prepare('INSERT OR REPLACE INTO charts (kind, settings, updated_at) VALUES (?,?,?)').run(kind, JSON.stringify(settings), now());
  }

  /** Saved chart specifications (engineer G's chart JSON), one per (kind, series); '' = no series. */
  saveChartSpec(kind: string, series: string | null | undefined, spec: unknown): void {
    this.writable();
    this.db.prepare('INSERT OR REPLACE INTO chart_specs (kind, series, spec, updated_at) VALUES (?,?,?,?)').run(kind, series ?? '', JSON.stringify(spec), now());
  }

  listChartSpecs(kind?: string): { kind: string; series: string | null; spec: unknown; updatedAt: string }[] {
    const rows = (kind ? this.db.prepare('SELECT * FROM chart_specs WHERE kind=? ORDER BY series').all(kind) : this.db.prepare('SELECT * FROM chart_specs ORDER BY kind, series').all()) as Record<string, string>[];
    return rows.map((r) => ({ kind: r.kind, series: r.series || null, spec: parseStored(r.spec, `chart spec ${r.kind}/${r.series}`), updatedAt: r.updated_at }));
  }

  deleteChartSpec(kind: string, series: string | null | undefined): boolean {
    this.writable();
    return this.db.prepare('DELETE FROM chart_specs WHERE kind=? AND series=?').run(kind, series ?? '').changes > 0;
  }

  getChart(kind: string): unknown {
    const r = this.db.prepare('SELECT settings FROM charts WHERE kind=?').get(kind) as { settings: string } | undefined;
    return r ? parseStored(r.settings, `chart settings ${kind}`) : undefined;
  }
}
