/**
 * Runs of a session as the session browser shows them. The sessions domain returns them; until its
 * types are in the contract the rows are read field by field (nothing is made up: missing is "—").
 */
import { summarize, type ResultSummary } from './result';

export interface RunRow {
  id: string;
  status: string;
  checkpoint: string;
  series: string;
  method: string;
  p?: number;
  activation: string;
  createdAt?: string;
  note: string;
  result?: ResultSummary;
  config?: unknown;
}

const s = (v: unknown, d = '') => (typeof v === 'string' ? v : d);

export function toRow(raw: unknown): RunRow | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const o = raw as Record<string, unknown>;
  const id = typeof o.id === 'string' || typeof o.id === 'number' ? String(o.id) : undefined;
  if (!id) return undefined;
  const res = summarize(o.result ?? o.summary ?? o);
  return {
    id,
    status: s(o.status, 'unknown'),
    checkpoint: s(o.checkpointName, s(o.checkpoint, res?.checkpoint ?? '')),
    series: s(o.series),
    method: s(o.method, res?.method ?? ''),
    p: typeof o.p === 'number' ? o.p : res?.p,
    activation: s(o.activation),
    createdAt: s(o.createdAt, s(o.startedAt)) || undefined,
    note: s(o.note, s(o.notes)),
    result: res,
    config: o.config,
  };
}

export type SortKey = 'checkpoint' | 'series' | 'method' | 'status' | 'activationRatio' | 'pplRatio' | 'createdAt';

export function sortValue(r: RunRow, k: SortKey): string | number {
  if (k === 'activationRatio') return r.result?.activationRatio ?? Infinity;
  if (k === 'pplRatio') return r.result?.pplRatio ?? Infinity;
  return (r[k] as string | undefined) ?? '';
}
