/**
 * Where a long job keeps its progress so a killed run resumes at the last completed step
 * (main/store/README.md: every step of a run commits). Two implementations: the JSON file
 * below (standalone CLI runs) and the SQLite session store (main/store, same interface).
 *
 * The job owns the shape of `state`: any JSON-serialisable value, replaced as a whole by each
 * saveStep (e.g. the outer bisection's l/r history and the finished per-checkpoint results). A part of the result
 * that is finished while the job goes on (a p% sweep's point: its whole result, thresholds and per-neuron arrays) is
 * saved once with saveChild instead, so the steps after it write only what changed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';
import type { RunInputs } from '../base/file-hash';
import { writeFileAtomic, writeProblem } from '../base/atomic-write';
import { lockFileOf } from '../store/lock';
import { readJsonFile } from '../base/regular-file';

/** the largest job or child file read (a result with per-neuron arrays of a large model is tens of MB) */
const JOB_FILE_LIMIT = 1024 * 2 ** 20;

/** a job-state folder's JSON file (job or child) parsed: a FIFO, device or folder in its place is refused, never waited on */
function readJobJson(f: string): unknown {
  return readJsonFile(f, { limit: JOB_FILE_LIMIT, what: 'a job file', invalid: 'cannot be read as JSON', file: 'a job file' }, (m) => new LabError('BAD_DATA', `job file ${m}`));
}

export type JobStatus = 'running' | 'completed' | 'failed' | 'cancelled';

export interface StoredJob {
  id: string;
  /** 'measure' | 'measure-series' | 'sweep' ... */
  kind: string;
  /** the job's validated config, verbatim (used to check that a resume is the same job) */
  config: unknown;
  status: JobStatus;
  /** state after the last completed step; undefined before the first */
  state?: unknown;
  /** number of completed steps saved */
  steps: number;
  result?: unknown;
  error?: string;
  createdAt: string;
  updatedAt: string;
  /** content hashes of the checkpoint(s) and evaluation text when the job started (a resume re-checks them) */
  inputs?: RunInputs;
  /** the children saved by saveChild, in index order (those of a job not completed; absent when there are none) */
  children?: unknown[];
}

export interface JobPersistence {
  /** Records a new job (status 'running') with the hashes of what it reads; an id that exists already is an error. */
  create(id: string, kind: string, config: unknown, inputs?: RunInputs): Promise<void>;
  /** Saves the state after a completed step, replacing the previous state (atomic). */
  saveStep(id: string, state: unknown): Promise<void>;
  /**
   * Saves child `index` of the job's result (a p% sweep's finished point) when it finishes (atomic): written once, not
   * again by the steps after it; load() hands it back in `children`, finish() keeps it as saved. Saving an index again
   * (the same point finished again after a kill between this and the next step) replaces it.
   */
  saveChild(id: string, index: number, result: unknown): Promise<void>;
  /** The job as last saved, or undefined if unknown. */
  load(id: string): Promise<StoredJob | undefined>;
  /** Marks the job finished: 'completed' with its result, or 'failed'/'cancelled' with a message. */
  finish(id: string, status: Exclude<JobStatus, 'running'>, outcome: { result?: unknown; error?: string }): Promise<void>;
  /** Jobs still 'running' (killed or in flight), oldest first: candidates to resume. */
  listUnfinished(): Promise<StoredJob[]>;
  /** Where job `id` is (or would be) stored: a session file or a folder; runs are held by it (run-lock.ts). */
  where(id: string): string;
}

/**
 * A job-state file or folder that cannot be written (read-only, no permission, disk full), in words: the file, why, and
 * that what was saved before is kept (every write replaces a whole file or nothing).
 */
export function jobFolderError(file: string, e: unknown): LabError {
  if (e instanceof LabError) return e;
  return new LabError('SESSION_ERROR', `cannot save the job state to ${file}: ${writeProblem(e)}. Whatever was saved before is kept; choose a writable --state-dir (or --session) or free some space, then resume.`);
}

/**
 * Job `id`'s file in job-state folder `dir`. The id comes from outside (`--resume`, a runs.start request): one that is
 * no plain file name ('../x', a path) is refused, so nothing is read, written or locked outside the folder.
 */
export function jobFile(dir: string, id: string): string {
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(id) || id.startsWith('.')) throw new LabError('BAD_REQUEST', `job id "${id}" is not a safe file name`);
  return path.join(dir, `${id}.job.json`);
}

/** job `id`'s child file `index` (a sweep's or series' step result) beside its job file */
function childFile(dir: string, id: string, index: number): string {
  return jobFile(dir, id).replace(/\.job\.json$/, `.child-${index}.json`);
}

/**
 * How long a job-state folder keeps finished jobs (README "Job state"). A running job, one whose lock file is there (a
 * live run, or a killed one that the next start clears and names: run-lock.ts) and a file that cannot be read as a job
 * are never touched. A failed or cancelled job that saved no step holds nothing to resume (its config and error only):
 * the newest `unsaved` of them are kept. Every other finished job (a completed one's result; a failed or cancelled one
 * that a resume continues from its last step) is kept for `days` days, and the newest `newest` of them whatever their age.
 * A job file over 16 MiB (a large result) is kept unread.
 */
export const JOB_RETENTION = { unsaved: 20, days: 30, newest: 50 } as const;

/** job files above this size are kept without being read by the pruning (and not counted: it only keeps more) */
const PRUNE_READ_LIMIT = 16 * 2 ** 20;

/**
 * Applies JOB_RETENTION to job-state folder `dir` (a job file with its child files); returns the ids removed. Run when
 * a new job is recorded there, so failed measurements do not pile up in ~/.sparsity-lab/jobs.
 */
export function pruneJobFiles(dir: string, now = Date.now(), rule: { unsaved: number; days: number; newest: number } = JOB_RETENTION): string[] {
  if (!fs.existsSync(dir)) return [];
  const names = fs.readdirSync(dir);
  const unsaved: StoredJob[] = [];
  const kept: StoredJob[] = [];
  for (const name of names) {
    if (!name.endsWith('.job.json')) continue;
    const f = path.join(dir, name);
    // a file this large holds a result (never an unsaved failure): kept, and not read at every start
    if ((fs.statSync(f, { throwIfNoEntry: false })?.size ?? Infinity) > PRUNE_READ_LIMIT) continue;
    let j: StoredJob;
    let child0: string;
    try {
      j = readJobJson(f) as StoredJob;
      child0 = path.basename(childFile(dir, String(j?.id), 0)); // an id unsafe as a file name throws: not ours either
    } catch {
      continue; // not ours to judge: load() names it when asked for
    }
    if (!j || typeof j !== 'object' || `${j.id}.job.json` !== name || typeof j.updatedAt !== 'string' || Number.isNaN(Date.parse(j.updatedAt))) continue;
    if (j.status !== 'completed' && j.status !== 'failed' && j.status !== 'cancelled') continue; // running (or unknown)
    if (fs.existsSync(lockFileOf(f))) continue;
    (j.status !== 'completed' && !(j.steps > 0) && !names.includes(child0) ? unsaved : kept).push(j);
  }
  const newestFirst = (a: StoredJob, b: StoredJob) => Date.parse(b.updatedAt) - Date.parse(a.updatedAt);
  const drop = [
    ...unsaved.sort(newestFirst).slice(rule.unsaved),
    ...kept.sort(newestFirst).slice(rule.newest).filter((j) => now - Date.parse(j.updatedAt) > rule.days * 86_400_000),
  ];
  const removed: string[] = [];
  for (const j of drop) {
    try {
      for (let i = 0; fs.existsSync(childFile(dir, j.id, i)); i++) fs.rmSync(childFile(dir, j.id, i));
      fs.rmSync(jobFile(dir, j.id));
      removed.push(j.id);
    } catch {
      /* only tidying: a file that cannot be removed stays */
    }
  }
  return removed;
}

/** One JSON file per job in a folder; written to a temp file then renamed so a kill never leaves half a file. */
export class JsonFilePersistence implements JobPersistence {
  constructor(readonly dir: string) {}

  where(): string {
    return this.dir;
  }

  private file(id: string): string {
    return jobFile(this.dir, id);
  }

  private write(job: StoredJob): void {
    this.writeFile(this.file(job.id), JSON.stringify(job));
  }

  /** one whole file in the folder (atomic: the old one stays whole when this fails); a failure names the file and why */
  private writeFile(f: string, data: string): void {
    try {
      fs.mkdirSync(this.dir, { recursive: true });
      writeFileAtomic(f, data);
    } catch (e) {
      throw jobFolderError(f, e);
    }
  }

  /** child `index` of job `id`, beside its job file (not named *.job.json: listUnfinished does not take it for a job) */
  private childFile(id: string, index: number): string {
    return childFile(this.dir, id, index);
  }

  private read(f: string): StoredJob {
    const j = readJobJson(f) as StoredJob;
    if (!j || typeof j !== 'object' || typeof j.id !== 'string' || typeof j.status !== 'string' || typeof j.steps !== 'number')
      throw new LabError('BAD_DATA', `job file ${f} is not a job record (id/status/steps missing)`);
    return j;
  }

  async create(id: string, kind: string, config: unknown, inputs?: RunInputs): Promise<void> {
    if (fs.existsSync(this.file(id))) throw new LabError('BUSY', `job ${id} exists already in ${this.dir}`);
    const now = new Date().toISOString();
    this.write({ id, kind, config, status: 'running', steps: 0, createdAt: now, updatedAt: now, inputs });
    try {
      pruneJobFiles(this.dir); // the folder's retention rule (JOB_RETENTION); never fails the new job
    } catch {
      /* only tidying */
    }
  }

  async saveStep(id: string, state: unknown): Promise<void> {
    const j = await this.mustLoad(id);
    this.write({ ...j, state, steps: j.steps + 1, updatedAt: new Date().toISOString() });
  }

  async saveChild(id: string, index: number, result: unknown): Promise<void> {
    await this.mustLoad(id);
    this.writeFile(this.childFile(id, index), JSON.stringify(result));
  }

  /** whether job `id` has a job file here (an id that is no safe file name has none) */
  has(id: string): boolean {
    try {
      return fs.existsSync(this.file(id));
    } catch {
      return false;
    }
  }

  /** the job file as written (without its children: a rewrite of it never takes them in) */
  private readJob(id: string): StoredJob | undefined {
    const f = this.file(id);
    return fs.existsSync(f) ? this.read(f) : undefined;
  }

  async load(id: string): Promise<StoredJob | undefined> {
    const j = this.readJob(id);
    if (!j) return undefined;
    const children: unknown[] = [];
    for (let i = 0; j.status !== 'completed' && fs.existsSync(this.childFile(id, i)); i++) {
      children.push(readJobJson(this.childFile(id, i)));
    }
    return children.length ? { ...j, children } : j;
  }

  async finish(id: string, status: Exclude<JobStatus, 'running'>, outcome: { result?: unknown; error?: string }): Promise<void> {
    const j = await this.mustLoad(id);
    this.write({ ...j, status, result: outcome.result, error: outcome.error, updatedAt: new Date().toISOString() });
    // a completed job's result holds its children: their files have served (a resume of a completed job reads none)
    if (status === 'completed') for (let i = 0; fs.existsSync(this.childFile(id, i)); i++) fs.rmSync(this.childFile(id, i));
  }

  async listUnfinished(): Promise<StoredJob[]> {
    if (!fs.existsSync(this.dir)) return [];
    const out: StoredJob[] = [];
    for (const name of fs.readdirSync(this.dir)) {
      if (!name.endsWith('.job.json')) continue;
      try {
        const j = this.read(path.join(this.dir, name));
        if (j.status === 'running') out.push(j);
      } catch {
        // a damaged file is not a resumable job; load() reports it if asked for by id
      }
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  private async mustLoad(id: string): Promise<StoredJob> {
    const j = this.readJob(id);
    if (!j) throw new LabError('NOT_FOUND', `job ${id} not found in ${this.dir}`);
    return j;
  }
}
