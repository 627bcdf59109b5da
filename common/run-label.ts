/**
 * A job's label in words ('CETT-PPL-1% · model-dir · sweep ×3'), made from its run configuration. One function for the
 * engine (runs.active reports it, so a reloaded or second window shows the same label) and the renderer's monitor.
 */
export interface LabelConfig {
  kind: string;
  method?: string;
  p?: number;
  param?: number;
  checkpoint?: string;
  checkpoints?: unknown[];
  sweep?: number[];
}

const NAMES: Record<string, string> = { fat: 'FAT-ε', relu: 'ReLU', 'topk-token': 'Top-k (token)', 'topk-batch': 'Top-k (batch)' };

export function describeConfig(c: LabelConfig): string {
  const method = c.method ?? 'cett-ppl';
  const m = method === 'cett-ppl' ? (c.sweep ? 'CETT' : `CETT-PPL-${c.p ?? 1}%`) : `${NAMES[method] ?? method}${c.param !== undefined && !c.sweep ? ` ${c.param}` : ''}`;
  const what = c.kind === 'measure' ? (String(c.checkpoint ?? '').split(/[\\/]/).filter(Boolean).pop() ?? String(c.checkpoint)) : `series of ${c.checkpoints?.length ?? 0}`;
  return `${m} · ${what}${c.sweep ? ` · sweep ×${c.sweep.length}` : ''}`;
}
