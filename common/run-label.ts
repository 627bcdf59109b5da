/**
 * A job's label in words ('CETT-PPL-1% · model-dir · sweep ×3'), made from its run configuration. One function for the
 * engine (runs.active reports it, so a reloaded or second window shows the same label) and the renderer's monitor.
 */
import { distinctNames } from './naming';

export interface LabelConfig {
  kind: string;
  method?: string;
  p?: number;
  param?: number;
  checkpoint?: string;
  checkpoints?: unknown[];
  sweep?: number[];
  /** a p% sweep: one CETT-PPL-p% run per value */
  sweepP?: number[];
}

const NAMES: Record<string, string> = { 'cett-ppl': 'CETT', cett: 'CETT', fat: 'FAT-ε', relu: 'ReLU', topk: 'Top-k', 'topk-token': 'Top-k (token)', 'topk-batch': 'Top-k (batch)' };

/** A method's family in words, without its parameter: 'CETT' (CETT-PPL-p% and a fixed CETT), 'Top-k (token)', 'FAT-ε'. */
export const methodFamily = (method: string): string => NAMES[method] ?? method;

/** The method in words: 'CETT-PPL-1%', 'CETT' (what a CETT sweep varies), 'FAT-ε 0.01', 'ReLU'. */
export function methodName(c: Pick<LabelConfig, 'method' | 'p' | 'param' | 'sweep'>): string {
  const method = c.method ?? 'cett-ppl';
  return method === 'cett-ppl' ? (c.sweep ? 'CETT' : `CETT-PPL-${c.p ?? 1}%`) : `${methodFamily(method)}${c.param !== undefined && !c.sweep ? ` ${c.param}` : ''}`;
}

/** What a recorded run says of its method (a session row, a chart's run, a result); null and undefined are 'not recorded'. */
export interface RunMethod {
  method: string;
  p?: number | null;
  /** the swept or fixed parameter: k for Top-k, ε for FAT-ε, the CETT of a fixed-CETT run */
  param?: number | null;
  /** the CETT the run was measured with (a fixed-CETT run: a series checkpoint measured with its series' CETT) */
  cett?: number | null;
}

/**
 * One run's method as the runs table names it, everywhere a run is named (runs table, run page, result card, chart
 * titles and legends): 'CETT-PPL-1%', 'CETT 0.07373' (a fixed CETT), 'FAT-ε 0.01', 'Top-k (token) 0.1', 'ReLU'.
 * Numbers of a fixed CETT to 4 significant digits; a parameter as recorded. Sweeps are named by sweepName.
 */
export function runMethodText(r: RunMethod): string {
  const has = (v: number | null | undefined): v is number => typeof v === 'number';
  if (r.method === 'cett-ppl' && has(r.p)) return `CETT-PPL-${r.p}%`;
  if (has(r.param)) return `${methodFamily(r.method)} ${r.param}`;
  if ((r.method === 'cett' || r.method === 'cett-ppl') && has(r.cett)) return `CETT ${+r.cett.toPrecision(4)}`;
  return methodFamily(r.method);
}

/**
 * A sweep's values in words: 'p = 1, 5, 10%' (a p% sweep), '0.05, 0.1, 0.2' (a fixed-CETT or baseline parameter); past
 * six values the first three, '…' and the last two. Numbers to 4 significant digits (no 0.30000000000000004).
 */
export function sweepValuesText(over: 'p' | 'param', values: readonly number[]): string {
  const v = values.map((x) => String(+x.toPrecision(4)));
  const list = v.length > 6 ? [...v.slice(0, 3), '…', ...v.slice(-2)].join(', ') : v.join(', ');
  return over === 'p' ? `p = ${list}%` : list;
}

/**
 * A sweep named by what it varies, its point count and values: 'CETT-PPL-p% sweep ×3 (p = 1, 5, 10%)', 'CETT sweep ×5
 * (0.01, …)', 'Top-k (token) sweep ×6 (0.05, …)'. `values` left out: the count only. The runs table and run page use it.
 */
export function sweepName(method: string, over: 'p' | 'param', n: number, values?: readonly number[]): string {
  const name = over === 'p' ? 'CETT-PPL-p%' : methodFamily(method);
  return `${name} sweep ×${n}${values?.length ? ` (${sweepValuesText(over, values)})` : ''}`;
}

export function describeConfig(c: LabelConfig): string {
  if (c.sweepP?.length) return `CETT-PPL-p% sweep · ${what(c)} · ${sweepValuesText('p', c.sweepP)}`;
  const m = methodName(c);
  return `${m} · ${what(c)}${c.sweep ? ` · sweep ×${c.sweep.length}` : ''}`;
}

/** the checkpoint by its name, with its folder when the name alone is a bare step (model-A/003000: naming.ts) */
function what(c: LabelConfig): string {
  const p = String(c.checkpoint ?? '');
  return c.kind === 'measure' ? (distinctNames([p]).get(p) ?? p) : `series of ${c.checkpoints?.length ?? 0}`;
}
