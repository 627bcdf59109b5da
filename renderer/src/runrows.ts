/** Sorting of the session browser's runs table (SessionRun rows of the sessions domain). */
import type { SessionRun } from '../../main/api/contract';
import { runMethodText, sweepName } from '../../common/run-label';
import { distinctNames } from '../../common/naming';

export type SortKey = 'checkpoint' | 'series' | 'method' | 'status' | 'activationRatio' | 'pplRatio' | 'createdAt' | 'tokensTrained';

export function sortValue(r: SessionRun, k: SortKey): string | number {
  const v = r[k];
  // Missing numbers sort after every measured one; missing text sorts first.
  if (v === null || v === undefined) return k === 'activationRatio' || k === 'pplRatio' || k === 'tokensTrained' ? Infinity : '';
  return v;
}

/**
 * The method column. A sweep is named by what it varies, with its point count and values ('CETT sweep ×5 (0.01, 0.05,
 * …)', common/run-label sweepName), never 'CETT-PPL-1%' (the p% of its config plays no part); a sweep point by its
 * parameter ('CETT 0.2', 'FAT-ε 0.01'). The row's `sweep` (from its config) says what it sweeps, so a sweep whose
 * points live only in its result (recorded before points were runs) or that was interrupted is named as one.
 * Without it: `sweepPoints`, the run's sweep children; `overP`: they are a p% sweep's (each point a 'CETT-PPL-5%' run).
 */
export function methodLabel(
  r: Pick<SessionRun, 'method' | 'p' | 'param'> & { kind?: string; sweep?: SessionRun['sweep']; cett?: number | null },
  sweepPoints = 0,
  overP = false,
  seriesPoints = 0,
): string {
  if (r.sweep?.values.length) return sweepName(r.method, r.sweep.over, r.sweep.values.length, r.sweep.values);
  if (sweepPoints > 0) return sweepName(r.method, overP ? 'p' : 'param', sweepPoints);
  // a training series' run (measure-series): its checkpoints are its children, measured with the one CETT it found
  if (seriesPoints > 0) return `${r.method === 'cett-ppl' && r.p !== null && r.p !== undefined ? `CETT-PPL-${r.p}% ` : ''}series ×${seriesPoints}`;
  // a cett-ppl row without p is a sweep whose points are not recorded yet (it is running, or failed)
  if (r.method === 'cett-ppl' && (r.p === null || r.p === undefined)) return 'sweep (no points yet)';
  // one run (a fixed CETT without a swept value, a series checkpoint measured with its series' CETT: 'CETT 0.07373')
  return runMethodText(r);
}

/** Child rows of one kind per parent run id. */
function childCounts(rows: Pick<SessionRun, 'parentId' | 'kind'>[], kind: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of rows) if (r.kind === kind && r.parentId) m.set(r.parentId, (m.get(r.parentId) ?? 0) + 1);
  return m;
}

/** Sweep points per parent run id (rows of kind 'sweep-point'). */
export const sweepCounts = (rows: Pick<SessionRun, 'parentId' | 'kind'>[]) => childCounts(rows, 'sweep-point');

/** Checkpoints per training-series run id (rows of kind 'series-point': a measure-series run's checkpoints). */
export const seriesCounts = (rows: Pick<SessionRun, 'parentId' | 'kind'>[]) => childCounts(rows, 'series-point');

/** Parents whose sweep points are CETT-PPL-p% runs (a p% sweep; a CETT sweep's points are method 'cett'). */
export function pSweeps(rows: Pick<SessionRun, 'parentId' | 'kind' | 'method'>[]): Set<string> {
  return new Set(rows.filter((r) => r.kind === 'sweep-point' && r.method === 'cett-ppl' && r.parentId).map((r) => r.parentId!));
}

/**
 * The runs table's Checkpoint column, by checkpoint record id: the name of the record the run was measured on, the
 * name its run page shows (SessionRun.checkpoint). Two records of one content may share a path with different names
 * (the demo's models/relu is a copy of relu-64x2/003000, recorded once as each): named by path, the table called a
 * run "relu" that its page calls "relu-64x2/003000". Records of different checkpoints that share a name
 * (model-A/ckpt/003000, model-B/ckpt/003000) are told apart by the shortest tail of their paths (`paths`: where the
 * session finds each record now).
 */
export function runCheckpointNames(runs: readonly Pick<SessionRun, 'checkpointId' | 'checkpoint'>[], paths: ReadonlyMap<number, string>): Map<number, string> {
  const names = new Map<number, string>();
  for (const r of runs) if (r.checkpointId !== null && r.checkpoint && !names.has(r.checkpointId)) names.set(r.checkpointId, r.checkpoint);
  const idsByName = new Map<string, number[]>();
  for (const [id, name] of names) idsByName.set(name, [...(idsByName.get(name) ?? []), id]);
  for (const ids of idsByName.values()) {
    const where = ids.map((id) => paths.get(id)).filter((p): p is string => !!p);
    if (new Set(where).size < 2) continue; // one record, or the same place: one name
    const tails = distinctNames(where);
    for (const id of ids) {
      const tail = tails.get(paths.get(id) ?? '');
      if (tail) names.set(id, tail);
    }
  }
  return names;
}
