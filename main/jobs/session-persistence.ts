/**
 * JobPersistence (main/jobs/persistence.ts) over the open session: a job is a run row; each completed step
 * replaces the run's saved state in one transaction, so `kill -9` loses at most the step in flight and the
 * run reopens as 'interrupted' with its state, ready to resume. A training series also gets one child run
 * per checkpoint when it finishes (that is what the charts plot against tokens). A p% sweep's points are child runs
 * written when each point finishes (saveChild), once: its steps after that save only the search in progress.
 */
import path from 'node:path';
import type { JobPersistence, JobStatus, StoredJob } from './persistence';
import { JsonFilePersistence } from './persistence';
import { fileHashAsync, type RunInputs } from '../base/file-hash';
import { inspectCheckpoint } from '../checkpoint/index';
import { APP_VERSION } from '../base/version';
import { onnxruntimeVersion } from '../inference/providers';
import { measurementProvenance, startProvenance } from '../store/provenance';
import type { SessionStore } from '../store/session';
import type { RunProvenance } from '../api/domains/sessions';
import { LabError } from '../api/errors';
import { sessionWriteError } from '../store/lock';

interface ConfigLike {
  kind?: string;
  method?: string;
  p?: number;
  param?: number;
  data?: string;
  seqLen?: number;
  tokens?: number;
  checkpoint?: string;
  checkpoints?: { path: string; tokensSeen?: number }[];
  series?: string;
  sweep?: number[];
  sweepP?: number[];
}

async function registerCheckpoint(s: SessionStore, p: string, extra: { series?: string; tokensTrained?: number } = {}): Promise<number> {
  try {
    const sum = await inspectCheckpoint(p);
    return s.upsertCheckpoint(sum, { series: extra.series ?? null, tokensTrained: extra.tokensTrained ?? null });
  } catch {
    // an unreadable checkpoint still gets a row: the run fails with the reader's message and stays visible
    return s.upsertCheckpoint({ path: path.resolve(p) }, { series: extra.series ?? null, tokensTrained: extra.tokensTrained ?? null });
  }
}

export function seriesNameOf(paths: string[]): string {
  const parents = [...new Set(paths.map((p) => path.basename(path.dirname(path.resolve(p)))))];
  return parents.length === 1 ? parents[0] : 'series';
}

/** One child run of a finished run: a checkpoint of a training series or a point of a sweep (its row and its result). */
interface ChildRun {
  kind: 'series-point' | 'sweep-point';
  method: string;
  checkpointId: number | null;
  p: number | null;
  param?: number | null;
  config: Record<string, unknown>;
  provenance?: RunProvenance;
  result: Record<string, unknown>;
}

/**
 * What a finished result stores: the parent's own result, its children (one per checkpoint or sweep point, in order)
 * and the result whose measurement the parent's provenance records. The three kinds of result with children differ
 * only here; writeChildren below is the one path that writes them.
 */
export function splitResult(s: SessionStore, id: string, res: Record<string, unknown>): { parent: Record<string, unknown>; children: ChildRun[]; measurement?: Record<string, unknown> } {
  const parent = s.getRun(id);
  const prov = s.runProvenance(id);
  if (Array.isArray(res.checkpoints)) {
    // training series: one child run per checkpoint, at the one CETT found on the last k (the stabilizing
    // strategy of Luo et al., "Sparsing Law", arXiv 2411.02335, App. E)
    const parentCfg = s.runConfig(id) as ConfigLike;
    const { checkpoints, ...summary } = res;
    const cks = checkpoints as Record<string, unknown>[];
    const children = cks.map((ck, i): ChildRun => {
      // the row of the bytes this point measured: its hash as recorded when the run started, by position: the result
      // lists the checkpoints in the config's order, as the inputs were recorded (paths may differ when a relocated
      // session resumed the run)
      const ckPath = path.resolve(String(ck.checkpoint));
      const input = prov?.inputs?.checkpoints.length === cks.length ? prov.inputs.checkpoints[i] : prov?.inputs?.checkpoints.find((x) => x.path === ckPath);
      return {
        kind: 'series-point',
        method: 'cett',
        checkpointId: s.findCheckpoint(ckPath, input?.hash ?? null),
        p: parentCfg.p ?? null,
        config: { parent: id, checkpoint: ck.checkpoint },
        provenance: prov ? { ...prov, inputs: { checkpoints: input ? [input] : [], data: prov.inputs?.data }, measurement: measurementProvenance(ck) } : undefined,
        result: ck,
      };
    });
    return { parent: { ...summary, checkpointCount: cks.length }, children, measurement: cks[cks.length - 1] };
  }
  if (res.kind === 'sweep' && res.sweepOver === 'p' && Array.isArray(res.runs)) {
    // a p% sweep (main/jobs/p-sweep.ts): each p is a full CETT-PPL-p% run, recorded as a child with its whole result
    // (thresholds, provenance) so it has its own run page and exports; the parent keeps the points table
    const { runs, ...summary } = res;
    const children = (runs as Record<string, unknown>[]).map((raw, i) => pSweepChild(s, id, raw, i));
    return { parent: summary, children, measurement: runs.length ? (runs[0] as Record<string, unknown>) : undefined };
  }
  if (res.kind === 'sweep' && Array.isArray(res.points)) {
    // a sweep: one child run per point, so every point has its own row (runs table, Compare, `runs` CLI) after the
    // monitor is gone; the parent keeps the whole result (issue 18)
    const cettSweep = res.method === 'cett-ppl' || res.method === undefined;
    const children = (res.points as Record<string, unknown>[]).map((raw, i): ChildRun => {
      const pt = raw ?? {};
      const param = typeof pt.param === 'number' ? pt.param : null;
      return {
        kind: 'sweep-point',
        method: cettSweep ? 'cett' : String(res.method),
        checkpointId: parent?.checkpointId ?? null,
        p: null,
        param,
        config: { parent: id, point: i, param },
        result: { ...pt, ...(cettSweep && param !== null ? { cett: param } : {}), provider: res.provider, dtype: res.dtype },
      };
    });
    return { parent: res, children, measurement: res };
  }
  return { parent: res, children: [], measurement: res };
}

/** Point i of p% sweep `id` as a child run: a CETT-PPL-p% run with its whole result (thresholds, provenance). */
function pSweepChild(s: SessionStore, id: string, raw: unknown, i: number): ChildRun {
  const r = (raw ?? {}) as Record<string, unknown>;
  const prov = s.runProvenance(id);
  const p = typeof r.p === 'number' ? r.p : null;
  return { kind: 'sweep-point', method: 'cett-ppl', checkpointId: s.getRun(id)?.checkpointId ?? null, p, config: { parent: id, point: i, p }, provenance: prov ? { ...prov, measurement: measurementProvenance(r) } : undefined, result: r };
}

/** A p% sweep's child saved when its point finished (saveChild): finish() keeps it as it is. */
const savedPoint = (s: SessionStore, childId: string, c: ChildRun) => c.kind === 'sweep-point' && c.method === 'cett-ppl' && s.hasResult(childId);

/** The one path that writes child runs: child i of run `id` is `id#i`, its row made once (a finish repeated after a
 * crash keeps it) and its result stored once per finish; a p% sweep's points saved as they finished are kept. */
function writeChildren(s: SessionStore, id: string, children: ChildRun[], from = 0): void {
  const parent = s.getRun(id);
  for (const [k, c] of children.entries()) {
    const i = from + k;
    const childId = `${id}#${i}`;
    if (savedPoint(s, childId, c)) continue;
    if (!s.hasRun(childId))
      s.createRun({
        id: childId,
        parentId: id,
        kind: c.kind,
        method: c.method,
        checkpointId: c.checkpointId,
        datasetId: parent?.datasetId ?? null,
        p: c.p,
        param: c.param ?? null,
        config: c.config,
        status: 'completed',
        appVersion: APP_VERSION,
        ortVersion: onnxruntimeVersion,
        provenance: c.provenance,
      });
    s.saveResult(childId, c.result);
  }
}

/**
 * A session write of a job: an SQLite failure (disk full, read-only, I/O) becomes one clear message naming the file and
 * what was being saved (main/store/lock.ts sessionWriteError); the transaction left nothing half-written.
 */
async function saving<T>(s: SessionStore, doing: string, write: () => T | Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (e) {
    throw sessionWriteError(s.file, e, doing);
  }
}

export class SessionJobPersistence implements JobPersistence {
  constructor(
    private readonly session: () => SessionStore | undefined,
    private readonly fallback: JsonFilePersistence,
  ) {}

  private s(): SessionStore | undefined {
    const s = this.session();
    return s && !s.readOnly ? s : undefined;
  }

  /**
   * the open session's file for a run it holds or a new run (create puts it there), else the job-file folder (as load
   * and saveStep below choose). A new run is held by the session's lock: it takes no lock in the job-file folder, where a
   * process killed mid-run would leave one for a job that folder never had.
   */
  where(id: string): string {
    const s = this.s();
    return s && (s.hasRun(id) || !this.fallback.has(id)) ? s.file : this.fallback.where();
  }

  async create(id: string, kind: string, config: unknown, inputs?: RunInputs): Promise<void> {
    const s = this.s();
    if (!s) return this.fallback.create(id, kind, config, inputs);
    return saving(s, `recording the new run ${id}`, () => this.createIn(s, id, kind, config, inputs));
  }

  private async createIn(s: SessionStore, id: string, kind: string, config: unknown, inputs?: RunInputs): Promise<void> {
    const c = (config ?? {}) as ConfigLike;
    let checkpointId: number | null = null;
    if (c.checkpoint) checkpointId = await registerCheckpoint(s, c.checkpoint);
    if (c.checkpoints?.length) {
      const series = c.series ?? seriesNameOf(c.checkpoints.map((x) => x.path));
      for (const ck of c.checkpoints) checkpointId = await registerCheckpoint(s, ck.path, { series, tokensTrained: ck.tokensSeen });
    }
    // tokens = the run's token budget (N tokens cut into N/S sequences of length S)
    const dataHash = inputs?.data?.hash ?? (c.data ? await fileHashAsync(c.data) : undefined);
    const datasetId = c.data ? s.upsertDataset({ path: path.resolve(c.data), seqLen: c.seqLen, hash: dataHash ?? undefined, tokens: c.tokens }) : null;
    // p only for one CETT-PPL-p% measurement: a CETT sweep fixes CETT, not p% (its row must not read 'CETT-PPL-1%'),
    // and a p% sweep has one p per point
    s.createRun({ id, kind, method: c.method ?? 'cett-ppl', checkpointId, datasetId, p: (c.method === 'cett-ppl' || !c.method) && !c.sweep && !c.sweepP ? (c.p ?? null) : null, param: c.param ?? null, config, status: 'running', appVersion: APP_VERSION, ortVersion: onnxruntimeVersion, provenance: startProvenance(inputs) });
  }

  async saveStep(id: string, state: unknown): Promise<void> {
    const s = this.s();
    if (!s || !s.hasRun(id)) return this.fallback.saveStep(id, state);
    const cur = s.runState(id);
    return saving(s, `saving step ${cur.steps + 1} of run ${id}`, () => s.updateRun(id, { state, steps: cur.steps + 1, status: 'running' }));
  }

  async saveChild(id: string, index: number, result: unknown): Promise<void> {
    const s = this.s();
    if (!s || !s.hasRun(id)) return this.fallback.saveChild(id, index, result);
    if (!(s.runConfig(id) as ConfigLike | null)?.sweepP) throw new LabError('INTERNAL', `run ${id} is not a p% sweep: only a p% sweep's points are saved as they finish`);
    const c = pSweepChild(s, id, result, index);
    // saved again (the point finished again after a kill before the next step): replaced
    return saving(s, `saving point ${index + 1} of run ${id}`, () =>
      s.db.transaction(() => {
        if (s.hasResult(`${id}#${index}`)) s.saveResult(`${id}#${index}`, c.result);
        else writeChildren(s, id, [c], index);
      })(),
    );
  }

  async load(id: string): Promise<StoredJob | undefined> {
    const s = this.s();
    if (!s || !s.hasRun(id)) return this.fallback.load(id);
    const r = s.getRun(id)!;
    const st = s.runState(id);
    const status: JobStatus = r.status === 'completed' ? 'completed' : r.status === 'failed' ? 'failed' : r.status === 'cancelled' ? 'cancelled' : 'running';
    const inputs = s.runProvenance(id)?.inputs;
    // the points a p% sweep saved as they finished (saveChild): what a resume keeps
    const children: unknown[] = [];
    for (let i = 0; status !== 'completed' && (s.runConfig(id) as ConfigLike | null)?.sweepP && s.hasResult(`${id}#${i}`); i++) children.push(s.getResult(`${id}#${i}`));
    return { id, kind: r.kind, config: s.runConfig(id), status, state: st.state, steps: st.steps, error: r.error ?? undefined, createdAt: r.createdAt, updatedAt: r.updatedAt, inputs, ...(children.length ? { children } : {}) };
  }

  async finish(id: string, status: Exclude<JobStatus, 'running'>, outcome: { result?: unknown; error?: string }): Promise<void> {
    const s = this.s();
    if (!s || !s.hasRun(id)) return this.fallback.finish(id, status, outcome);
    const res = outcome.result as Record<string, unknown> | undefined;
    return saving(s, `saving the ${status === 'completed' ? 'result' : `end (${status})`} of run ${id}`, () => this.finishIn(s, id, status, outcome, res));
  }

  private finishIn(s: SessionStore, id: string, status: Exclude<JobStatus, 'running'>, outcome: { error?: string }, res: Record<string, unknown> | undefined): void {
    s.db.transaction(() => {
      if (res) {
        const split = splitResult(s, id, res);
        writeChildren(s, id, split.children);
        s.saveResult(id, split.parent);
        if (split.measurement && s.runProvenance(id)) s.addProvenance(id, { measurement: measurementProvenance(split.measurement) });
      }
      s.updateRun(id, { status, error: outcome.error ?? null });
    })();
  }

  async listUnfinished(): Promise<StoredJob[]> {
    const s = this.s();
    if (!s) return this.fallback.listUnfinished();
    const out: StoredJob[] = [];
    for (const r of s.listRuns({ parentId: null })) if (r.status === 'running' || r.status === 'interrupted') out.push((await this.load(r.id))!);
    return out;
  }
}
