/** Sorting of the session browser's runs table (SessionRun rows of the sessions domain). */
import type { SessionRun } from '../../main/api/contract';

export type SortKey = 'checkpoint' | 'series' | 'method' | 'status' | 'activationRatio' | 'pplRatio' | 'createdAt' | 'tokensTrained';

export function sortValue(r: SessionRun, k: SortKey): string | number {
  const v = r[k];
  // Missing numbers sort after every measured one; missing text sorts first.
  if (v === null || v === undefined) return k === 'activationRatio' || k === 'pplRatio' || k === 'tokensTrained' ? Infinity : '';
  return v;
}

export function methodLabel(r: Pick<SessionRun, 'method' | 'p' | 'param'>): string {
  if (r.method === 'cett-ppl') return `CETT-PPL-${r.p ?? '?'}%`;
  return r.param !== null && r.param !== undefined ? `${r.method} ${r.param}` : r.method;
}
