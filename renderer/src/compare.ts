/**
 * Compare's table (issue 18): one row per setting or figure, one column per run, and whether the row differs across
 * the runs. Rows are compared on what the table shows (formatted), so 0.25 and 0.2500001 shown alike are not flagged.
 */
import type { ComparedRun } from '../../main/api/contract';
import { fmtDate, fmtInt, fmtNum, fmtPct } from './format';
import { methodLabel } from './runrows';

export interface CompareRow {
  key: string;
  label: string;
  /** one per run, as shown */
  values: string[];
  /** full text on hover (hashes are shown short) */
  titles?: string[];
  differs: boolean;
  /** 'config': what was asked for; 'result': what came out; 'identity': which bytes */
  group: 'config' | 'result' | 'identity';
}

const NOT_FLAGGED = new Set(['id', 'created']);
const short = (h: string | null) => (h ? h.slice(0, 12) : '—');
const dash = (v: string | number | null | undefined) => (v === null || v === undefined || v === '' ? '—' : String(v));

function thresholdsText(t: ComparedRun['thresholds']): string {
  return t ? `${t.layers} layers: ${fmtNum(t.min, 3)}–${fmtNum(t.max, 3)}, mean ${fmtNum(t.mean, 3)}` : '—';
}

export function compareRows(runs: ComparedRun[]): CompareRow[] {
  const rows: Omit<CompareRow, 'differs'>[] = [
    { key: 'session', label: 'Session', group: 'identity', values: runs.map((r) => r.sessionName), titles: runs.map((r) => r.session) },
    { key: 'checkpoint', label: 'Checkpoint', group: 'config', values: runs.map((r) => dash(r.run.checkpoint)) },
    { key: 'method', label: 'Method', group: 'config', values: runs.map((r) => methodLabel(r.run)) },
    { key: 'p', label: 'p (PPL tolerance)', group: 'config', values: runs.map((r) => (r.run.method === 'cett-ppl' && r.run.p !== null ? `${r.run.p}%` : '—')) },
    { key: 'tokens', label: 'Tokens', group: 'config', values: runs.map((r) => fmtInt(r.tokens)) },
    { key: 'seqLen', label: 'Sequence length', group: 'config', values: runs.map((r) => dash(r.seqLen)) },
    { key: 'batch', label: 'Batch', group: 'config', values: runs.map((r) => dash(r.batch)) },
    { key: 'provider', label: 'Provider / dtype', group: 'config', values: runs.map((r) => dash(r.phases)) },
    { key: 'cett', label: 'CETT', group: 'result', values: runs.map((r) => fmtNum(r.run.cett, 4)) },
    { key: 'activationRatio', label: 'Activation ratio', group: 'result', values: runs.map((r) => fmtPct(r.run.activationRatio)) },
    { key: 'sparsity', label: 'Sparsity', group: 'result', values: runs.map((r) => (r.run.activationRatio === null ? '—' : fmtPct(1 - r.run.activationRatio))) },
    { key: 'pplRatio', label: 'PPL ratio', group: 'result', values: runs.map((r) => fmtNum(r.run.pplRatio, 5)) },
    { key: 'pplDense', label: 'PPL dense', group: 'result', values: runs.map((r) => fmtNum(r.run.pplDense, 5)) },
    { key: 'pplSparse', label: 'PPL sparse', group: 'result', values: runs.map((r) => fmtNum(r.run.pplSparse, 5)) },
    { key: 'thresholds', label: 'Thresholds ε', group: 'result', values: runs.map((r) => thresholdsText(r.thresholds)) },
    { key: 'target', label: 'p% target not met', group: 'result', values: runs.map((r) => (r.targetNotMet ? 'not met' : '—')), titles: runs.map((r) => r.targetNotMet ?? '') },
    { key: 'status', label: 'Status', group: 'result', values: runs.map((r) => r.run.status) },
    { key: 'checkpointHash', label: 'Checkpoint hash', group: 'identity', values: runs.map((r) => short(r.checkpointHash)), titles: runs.map((r) => r.checkpointHash ?? '') },
    { key: 'datasetHash', label: 'Text hash', group: 'identity', values: runs.map((r) => short(r.datasetHash)), titles: runs.map((r) => r.datasetHash ?? '') },
    { key: 'contentHash', label: 'Run content hash', group: 'identity', values: runs.map((r) => short(r.contentHash)), titles: runs.map((r) => r.contentHash) },
    { key: 'created', label: 'Measured', group: 'identity', values: runs.map((r) => fmtDate(r.run.createdAt)) },
    { key: 'id', label: 'Run id', group: 'identity', values: runs.map((r) => r.run.id) },
  ];
  // every value of a row the same (hover text included): not a difference; a single run has none; ids and dates always
  // differ, so they are not flagged
  return rows.map((r) => ({ ...r, differs: runs.length > 1 && !NOT_FLAGGED.has(r.key) && new Set(r.values.map((v, i) => `${v}\u0000${r.titles?.[i] ?? ''}`)).size > 1 }));
}

/** A picked run in the route's query: `<id>|<session file>` (ids have no '|'; the path is all that follows). */
export function encodePick(p: { session: string; id: string }): string {
  return `${p.id}|${p.session}`;
}
export function decodePick(s: string): { session: string; id: string } | null {
  const i = s.indexOf('|');
  return i > 0 && i < s.length - 1 ? { id: s.slice(0, i), session: s.slice(i + 1) } : null;
}
