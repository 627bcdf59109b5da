/**
 * The p% sweep (issue 18): CETT-PPL-p% for several p on one checkpoint — the paper's trade-off between perplexity and
 * sparsity (Luo et al., Sec. 4.2: p = 1, 5, 10 …). Each value of p is a full CETT-PPL-p% search and final measurement,
 * the same numbers as a separate run with that p (main/metrics/cett-ppl.ts measureCettPplOverP keeps one dense pass
 * for all of them); each point is flagged on its own when its target cannot be met (target-reach.ts).
 *
 * The result is a sweep ({kind: 'sweep', sweepOver: 'p'}) whose `points` are the (p, activation ratio, PPL ratio)
 * rows the tables and charts read, and whose `runs` are the full per-p results: a session records each as a child run
 * of kind 'sweep-point' (main/jobs/session-persistence.ts), so every point has its thresholds, provenance and run page.
 *
 * A killed sweep resumes like a single run (main/jobs/runner.ts): each finished point's whole result is saved once, when
 * it finishes (JobPersistence.saveChild: a session's child run), and kept as it is; the saved state (PSweepState)
 * says how many points are finished and holds the outer search of the point in progress, which goes on from its last
 * saved step. A step writes only that search, never the finished points again. Only the dense pass is done again (it
 * is not saved: its curves are the size of the activations).
 */
import { LabError } from '../api/errors';
import { pProblem } from '../api/domains/runs';
import type { MeasureResult, SearchState } from '../metrics/types';

/** Checks a p% sweep's values: each a valid p (0 < p ≤ 100: main/api/domains/runs.ts pProblem), no value twice; at least one. Throws BAD_REQUEST naming the problem. */
export function checkSweepP(ps: readonly number[] | undefined, where = 'p% sweep'): number[] {
  if (!ps || ps.length === 0) throw new LabError('BAD_REQUEST', `the ${where} needs at least one value of p`);
  for (const [i, p] of ps.entries()) {
    const problem = pProblem(p);
    if (problem) throw new LabError('BAD_REQUEST', `the ${where}, value ${i + 1} of ${ps.length}: ${problem}`);
  }
  const seen = new Set<number>();
  for (const p of ps) {
    if (seen.has(p)) throw new LabError('BAD_REQUEST', `the ${where} lists p = ${p} twice; each value is one run`);
    seen.add(p);
  }
  return [...ps];
}

/** One row of a p% sweep's table and chart. */
export interface PSweepPoint {
  /** p, as `param` so the sweep tables and charts that read (param, activationRatio, pplRatio, pplSparse) read it */
  param: number;
  p: number;
  cett: number;
  activationRatio: number;
  pplRatio: number;
  pplSparse: number;
  pplDense: number;
  /** the reason the target could not be met (the numbers are those at the edge of the search) */
  targetNotMet?: string;
}

export interface PSweepResult {
  kind: 'sweep';
  sweepOver: 'p';
  method: 'cett-ppl';
  checkpoint: string;
  points: PSweepPoint[];
  /** the full result of each p, in the order of `points` */
  runs: (MeasureResult & { targetNotMet?: string })[];
  provider: string;
  dtype: string;
  tokens: number;
  execution?: MeasureResult['execution'];
  /** how many points could not meet their target (0: all met) */
  targetsNotMet: number;
}

/** The sweep's result from its per-p results (already flagged). */
export function pSweepResult(checkpoint: string, runs: (MeasureResult & { targetNotMet?: string })[]): PSweepResult {
  const first = runs[0];
  return {
    kind: 'sweep',
    sweepOver: 'p',
    method: 'cett-ppl',
    checkpoint,
    points: runs.map((r) => ({
      param: r.p!,
      p: r.p!,
      cett: r.cett!,
      activationRatio: r.activationRatio,
      pplRatio: r.pplRatio,
      pplSparse: r.pplSparse,
      pplDense: r.pplDense,
      ...(r.targetNotMet ? { targetNotMet: r.targetNotMet } : {}),
    })),
    runs,
    provider: first.provider,
    dtype: first.dtype,
    tokens: first.tokens,
    ...(first.execution ? { execution: first.execution } : {}),
    targetsNotMet: runs.filter((r) => r.targetNotMet).length,
  };
}

/** What a p% sweep job saves after each step: how many points are finished (saved as children) and the current search. */
export interface PSweepState {
  kind: 'p-sweep';
  done: number;
  search?: SearchState;
}

/** A p% sweep being resumed: its finished points (in the order of p) and the search of the next one. */
export interface PSweepResume {
  points: MeasureResult[];
  search?: SearchState;
}

const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/**
 * The saved state of a p% sweep being resumed (read from a job file or a session: any shape) and the points it saved
 * as they finished (`children`), checked against its p values; undefined (nothing saved yet) starts afresh. A state
 * saved before points were children holds them itself (`points`). Throws BAD_DATA naming what is wrong.
 */
export function pSweepResumeState(raw: unknown, children: readonly unknown[] | undefined, ps: readonly number[], run = 'this p% sweep'): PSweepResume | undefined {
  if (raw === undefined || raw === null) return undefined;
  const bad = (why: string) => new LabError('BAD_DATA', `the saved state of ${run} cannot be resumed: ${why}; start a new run instead`);
  const st = raw as Partial<PSweepState> & { points?: unknown };
  const saved = children ?? [];
  if (typeof raw !== 'object' || st.kind !== 'p-sweep' || !(Array.isArray(st.points) || (Number.isInteger(st.done) && st.done! >= 0)))
    throw bad('it is not a p% sweep\'s (kind "p-sweep" with its count of finished points)');
  if (!Array.isArray(st.points) && st.done! > saved.length) throw bad(`it counts ${st.done} finished points but ${saved.length} are saved`);
  const points: unknown[] = Array.isArray(st.points) ? st.points : saved.slice(0, st.done);
  if (points.length > ps.length) throw bad(`it holds ${points.length} finished points for ${ps.length} values of p`);
  for (const [i, r] of points.entries()) {
    const pt = r as Partial<MeasureResult> | null;
    if (!pt || typeof pt !== 'object' || pt.p !== ps[i] || !finite(pt.cett) || !finite(pt.activationRatio) || !finite(pt.pplRatio))
      throw bad(`point ${i + 1} is not a finished CETT-PPL-${ps[i]}% result`);
  }
  const q = st.search as Partial<SearchState> | undefined;
  if (q !== undefined && !(q && finite(q.l) && finite(q.r) && q.l >= 0 && q.r <= 1 && q.l <= q.r && Array.isArray(q.history)))
    throw bad('the search in progress is not an interval of CETT in [0, 1] with its history');
  if (q !== undefined && points.length === ps.length) throw bad('it has a search in progress after the last point');
  return { points: points as MeasureResult[], ...(q ? { search: q as SearchState } : {}) };
}
