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

const NAMES: Record<string, string> = { fat: 'FAT-ε', relu: 'ReLU', 'topk-token': 'Top-k (token)', 'topk-batch': 'Top-k (batch)' };

/** The method in words: 'CETT-PPL-1%', 'CETT' (what a CETT sweep varies), 'FAT-ε 0.01', 'ReLU'. */
export function methodName(c: Pick<LabelConfig, 'method' | 'p' | 'param' | 'sweep'>): string {
  const method = c.method ?? 'cett-ppl';
  return method === 'cett-ppl' ? (c.sweep ? 'CETT' : `CETT-PPL-${c.p ?? 1}%`) : `${NAMES[method] ?? method}${c.param !== undefined && !c.sweep ? ` ${c.param}` : ''}`;
}

export function describeConfig(c: LabelConfig): string {
  if (c.sweepP?.length) return `CETT-PPL-p% sweep · ${what(c)} · p = ${c.sweepP.join(', ')}%`;
  const m = methodName(c);
  return `${m} · ${what(c)}${c.sweep ? ` · sweep ×${c.sweep.length}` : ''}`;
}

/** the checkpoint by its name, with its folder when the name alone is a bare step (model-A/003000: naming.ts) */
function what(c: LabelConfig): string {
  const p = String(c.checkpoint ?? '');
  return c.kind === 'measure' ? (distinctNames([p]).get(p) ?? p) : `series of ${c.checkpoints?.length ?? 0}`;
}
