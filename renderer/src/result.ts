import type { ErrorReason } from '../../main/api/contract';
/**
 * The result of a finished job arrives as `unknown` (JobFinishedEvent.result): the renderer may not
 * import the engine's metric types, so it reads the fields it shows and checks each one.
 */
export interface ResultSummary {
  checkpoint?: string;
  method?: string;
  p?: number;
  cett?: number;
  param?: number;
  activationRatio?: number;
  sparsity?: number;
  pplDense?: number;
  pplSparse?: number;
  pplRatio?: number;
  perLayerActivation?: number[];
  tokens?: number;
  provider?: string;
  dtype?: string;
  forwardPasses?: number;
  totalMs?: number;
  deadNeurons?: number;
  /** a CETT-PPL-p% run whose target no CETT met: why (the numbers are the edge of the search) */
  targetNotMet?: string;
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

export function summarize(raw: unknown): ResultSummary | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const o = raw as Record<string, unknown>;
  const timings = o.timingsMs && typeof o.timingsMs === 'object' ? (o.timingsMs as Record<string, unknown>) : {};
  const dead = o.deadNeurons && typeof o.deadNeurons === 'object' ? (o.deadNeurons as Record<string, unknown>) : {};
  const layers = Array.isArray(o.perLayerActivation) && o.perLayerActivation.every((x) => typeof x === 'number') ? (o.perLayerActivation as number[]) : undefined;
  return {
    checkpoint: str(o.checkpoint),
    method: str(o.method),
    p: num(o.p),
    cett: num(o.cett),
    param: num(o.param),
    activationRatio: num(o.activationRatio),
    sparsity: num(o.sparsity),
    pplDense: num(o.pplDense),
    pplSparse: num(o.pplSparse),
    pplRatio: num(o.pplRatio),
    perLayerActivation: layers,
    tokens: num(o.tokens),
    provider: str(o.provider),
    dtype: str(o.dtype),
    forwardPasses: num(o.forwardPasses),
    totalMs: num(timings.total) ?? num(Object.values(timings).reduce<number>((a, b) => a + (typeof b === 'number' ? b : 0), 0)),
    deadNeurons: num(dead.total),
    targetNotMet: str(o.targetNotMet),
  };
}

/** A series result carries one summary per checkpoint. */
export function summarizeMany(raw: unknown): ResultSummary[] {
  if (raw && typeof raw === 'object' && Array.isArray((raw as { checkpoints?: unknown }).checkpoints)) {
    return ((raw as { checkpoints: unknown[] }).checkpoints.map(summarize).filter(Boolean) as ResultSummary[]);
  }
  const one = summarize(raw);
  return one ? [one] : [];
}

/** What to do next, for the error codes a run can end with; `reason` (main/api/errors.ts ERROR_REASONS) says which case. */
export function adviceFor(code: string | undefined, reason?: ErrorReason): string {
  switch (code) {
    case 'BAD_CHECKPOINT':
      return 'Check that the folder holds config.json, the weights and a tokenizer (or pick the .onnx file itself).';
    case 'BAD_DATA':
      // the advice follows what was wrong (a binary file was told to use a longer text)
      if (reason === 'TEXT_TOO_SHORT') return 'Use a longer evaluation text, or lower the token budget / sequence length to what the text holds.';
      if (reason === 'TEXT_NO_KNOWN_TOKENS') return "Pick a text in a language and script this model's tokenizer covers.";
      if (reason === 'TEXT_FORMAT') return 'Pick a plain UTF-8 text file, or JSON lines with a "text" field, as the evaluation text.';
      return 'The message above names the file and what is wrong with it.';
    case 'UNSUPPORTED':
      return 'This architecture or option is not supported yet; try the CPU provider or another method.';
    case 'CANCELLED':
      return 'The run was cancelled; its last completed step is saved and it can be resumed.';
    case 'INTERRUPTED':
      return 'Resume it here or from the session\'s runs table (where it is listed as interrupted).';
    case 'NOT_FOUND':
      if (reason === 'IS_FOLDER') return 'Pick the evaluation text file itself, not the folder it is in.';
      return 'Check the path: the engine could not find that file or folder.';
    case 'BAD_REQUEST':
      return 'A setting is out of range; go back to the measure wizard and correct it.';
    default:
      return 'See the engine log for details; the session is unchanged.';
  }
}

export interface SweepRow {
  param: number;
  activationRatio: number;
  pplRatio: number;
  pplSparse: number;
  /** p% sweep: the CETT each p's search found, and why its target cannot be met (if so) */
  cett?: number;
  targetNotMet?: string;
}
/** A sweep's points ({kind: 'sweep', points}), or null when the result is not a sweep. `over`: 'p' for a p% sweep. */
export function sweepOf(raw: unknown): { method: string; checkpoint: string; over: 'p' | 'param'; points: SweepRow[] } | null {
  if (!raw || typeof raw !== 'object' || (raw as { kind?: unknown }).kind !== 'sweep') return null;
  const o = raw as { method?: unknown; checkpoint?: unknown; points?: unknown; sweepOver?: unknown };
  if (!Array.isArray(o.points)) return null;
  const points = o.points
    .filter((p): p is SweepRow => !!p && typeof p === 'object' && ['param', 'activationRatio', 'pplRatio', 'pplSparse'].every((k) => typeof (p as Record<string, unknown>)[k] === 'number'))
    .map((p) => ({ param: p.param, activationRatio: p.activationRatio, pplRatio: p.pplRatio, pplSparse: p.pplSparse, ...(typeof p.cett === 'number' ? { cett: p.cett } : {}), ...(typeof p.targetNotMet === 'string' ? { targetNotMet: p.targetNotMet } : {}) }));
  return { method: String(o.method ?? ''), checkpoint: String(o.checkpoint ?? ''), over: o.sweepOver === 'p' ? 'p' : 'param', points };
}
