/**
 * The session file's schema and its migrations (PRAGMA user_version). Each migration takes a file of the
 * previous version to the next; a file newer than SCHEMA_VERSION opens read-only.
 * v1: checkpoints, datasets, runs, results (JSON summary + typed-array BLOBs), fits, chart settings.
 * v2: notes on runs and checkpoints, run labels (rename), indexes for the runs table's filters.
 * v3: indexes for the runs table's sort/filter columns (method, p, cett, activation ratio, PPL ratio); saved chart
 *     specifications keyed by (kind, series) — the `charts` table keeps one UI settings blob per chart kind.
 * v4: immutable provenance (issue 17). Checkpoints and datasets are identified by content hash, not by path: the
 *     UNIQUE(path) and UNIQUE(path, seq_len) keys go (the tables are rebuilt, ids kept, so runs keep pointing at
 *     the row they measured); a changed file becomes a new row. Each reference also keeps `rel_path`, its path
 *     relative to the session file (sessions are relocatable; `path` is the last absolute path). Runs get
 *     `provenance`, a JSON record of everything that decides their number (main/store/provenance.ts).
 *     Run with foreign keys off (main/store/db.ts) and checked with `foreign_key_check` before commit.
 * v5: cluster_arrays / cluster_tasks: Slurm job arrays submitted from the session and what `cluster collect`
 *     found of each task (state, reason, log tail, the runs it brought in, the hash of the task's session).
 * v6: tags on runs (issue 18): `runs.tags`, a JSON array of strings ('[]' for runs made before).
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
  // 3 → 4
  (db) => {
    db.exec(`
    CREATE TABLE checkpoints_v4 (
      id INTEGER PRIMARY KEY, path TEXT NOT NULL, rel_path TEXT, name TEXT NOT NULL, content_hash TEXT,
      family TEXT, activation TEXT, hidden_size INTEGER, layers INTEGER, intermediate_size INTEGER,
      parameters INTEGER, non_embedding_parameters INTEGER, width_depth_ratio REAL,
      tokens_trained REAL, series TEXT, summary TEXT, created_at TEXT NOT NULL, notes TEXT NOT NULL DEFAULT '');
    INSERT INTO checkpoints_v4 (id, path, name, content_hash, family, activation, hidden_size, layers, intermediate_size, parameters,
      non_embedding_parameters, width_depth_ratio, tokens_trained, series, summary, created_at, notes)
      SELECT id, path, name, content_hash, family, activation, hidden_size, layers, intermediate_size, parameters,
      non_embedding_parameters, width_depth_ratio, tokens_trained, series, summary, created_at, notes FROM checkpoints;
    DROP TABLE checkpoints;
    ALTER TABLE checkpoints_v4 RENAME TO checkpoints;
    CREATE INDEX checkpoints_hash ON checkpoints(content_hash);
    CREATE INDEX checkpoints_path ON checkpoints(path);
    CREATE TABLE datasets_v4 (
      id INTEGER PRIMARY KEY, path TEXT NOT NULL, rel_path TEXT, hash TEXT, tokens INTEGER, seq_len INTEGER, created_at TEXT NOT NULL);
    INSERT INTO datasets_v4 (id, path, hash, tokens, seq_len, created_at) SELECT id, path, hash, tokens, seq_len, created_at FROM datasets;
    DROP TABLE datasets;
    ALTER TABLE datasets_v4 RENAME TO datasets;
    CREATE INDEX datasets_hash ON datasets(hash);
    ALTER TABLE runs ADD COLUMN provenance TEXT;
  `);
    const broken = db.pragma('foreign_key_check') as unknown[];
    if (broken.length) throw new Error(`${broken.length} run(s) would point at no checkpoint or dataset after the upgrade`);
  },
  // 4 → 5: Slurm job arrays sent from this session and the state of their tasks (issue 20, main/cluster).
  (db) =>
    db.exec(`
    CREATE TABLE cluster_arrays (
      id TEXT PRIMARY KEY, slurm_job_id TEXT, results_dir TEXT NOT NULL, tasks INTEGER NOT NULL, manifest TEXT NOT NULL,
      submitted_at TEXT NOT NULL, cancelled_at TEXT);
    CREATE TABLE cluster_tasks (
      array_id TEXT NOT NULL REFERENCES cluster_arrays(id) ON DELETE CASCADE, task INTEGER NOT NULL, state TEXT NOT NULL,
      reason TEXT, log_tail TEXT, run_ids TEXT NOT NULL DEFAULT '[]', session_sha256 TEXT, provenance TEXT,
      updated_at TEXT NOT NULL, PRIMARY KEY (array_id, task));
  `),
  // 5 → 6: tags on runs (issue 18: the run page adds and removes them, the runs table filters by them)
  (db) => db.exec(`ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';`),
];

export const SCHEMA_VERSION = MIGRATIONS.length;
