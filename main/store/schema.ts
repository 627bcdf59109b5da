/**
 * The session file's schema and its migrations (PRAGMA user_version). Each migration takes a file of the
 * previous version to the next; a file newer than SCHEMA_VERSION opens read-only.
 * v1: checkpoints, datasets, runs, results (JSON summary + typed-array BLOBs), fits, chart settings.
 * v2: notes on runs and checkpoints, run labels (rename), indexes for the runs table's filters.
 * v3: indexes for the runs table's sort/filter columns (method, p, cett, activation ratio, PPL ratio); saved chart
 *     specifications keyed by (kind, series) — the `charts` table keeps one UI settings blob per chart kind.
 */
import type Database from 'better-sqlite3';

export const MIGRATIONS: ((db: Database.Database) => void)[] = [
  // 0 → 1
  (db) =>
    db.exec(`
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE checkpoints (
      id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, name TEXT NOT NULL, content_hash TEXT,
      family TEXT, activation TEXT, hidden_size INTEGER, layers INTEGER, intermediate_size INTEGER,
      parameters INTEGER, non_embedding_parameters INTEGER, width_depth_ratio REAL,
      tokens_trained REAL, series TEXT, summary TEXT, created_at TEXT NOT NULL);
    CREATE TABLE datasets (
      id INTEGER PRIMARY KEY, path TEXT NOT NULL, hash TEXT, tokens INTEGER, seq_len INTEGER, created_at TEXT NOT NULL,
      UNIQUE (path, seq_len));
    CREATE TABLE runs (
      id TEXT PRIMARY KEY, parent_id TEXT REFERENCES runs(id) ON DELETE CASCADE,
      kind TEXT NOT NULL, method TEXT NOT NULL, checkpoint_id INTEGER REFERENCES checkpoints(id),
      dataset_id INTEGER REFERENCES datasets(id), p REAL, param REAL, config TEXT NOT NULL,
      status TEXT NOT NULL, state TEXT, steps INTEGER NOT NULL DEFAULT 0,
      cett REAL, activation_ratio REAL, ppl_ratio REAL, ppl_dense REAL, ppl_sparse REAL,
      provider TEXT, dtype TEXT, app_version TEXT, ort_version TEXT, error TEXT, timings TEXT,
      created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE results (run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE, summary TEXT NOT NULL);
    CREATE TABLE arrays (
      run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, name TEXT NOT NULL,
      dtype TEXT NOT NULL, shape TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (run_id, name));
    CREATE TABLE fits (id INTEGER PRIMARY KEY, series TEXT, kind TEXT NOT NULL, spec TEXT NOT NULL, result TEXT NOT NULL, created_at TEXT NOT NULL);
    CREATE TABLE charts (kind TEXT PRIMARY KEY, settings TEXT NOT NULL, updated_at TEXT NOT NULL);
  `),
  // 1 → 2
  (db) =>
    db.exec(`
    ALTER TABLE runs ADD COLUMN notes TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN label TEXT NOT NULL DEFAULT '';
    ALTER TABLE checkpoints ADD COLUMN notes TEXT NOT NULL DEFAULT '';
    CREATE INDEX runs_status ON runs(status);
    CREATE INDEX runs_checkpoint ON runs(checkpoint_id);
    CREATE INDEX runs_parent ON runs(parent_id);
  `),
  // 2 → 3
  (db) =>
    db.exec(`
    CREATE INDEX runs_method_p ON runs(method, p);
    CREATE INDEX runs_cett ON runs(cett);
    CREATE INDEX runs_activation_ratio ON runs(activation_ratio);
    CREATE INDEX runs_ppl_ratio ON runs(ppl_ratio);
    CREATE TABLE chart_specs (kind TEXT NOT NULL, series TEXT NOT NULL DEFAULT '', spec TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (kind, series));
  `),
];

export const SCHEMA_VERSION = MIGRATIONS.length;
