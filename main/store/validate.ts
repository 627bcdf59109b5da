/**
 * Read-back validation of what a session file stores (issue 19): a result summary or a job state comes from a
 * file anyone can edit, so it is checked with zod (the contract's style, main/api) before charts, exports or a
 * resume use it. A bad value is one clear SESSION_ERROR naming the file, the record, the field and the problem
 * (never a TypeError deep in a chart, never a resume to CETT NaN). Unknown extra fields are kept (newer results).
 */
import { z } from 'zod';
import { LabError } from '../api/errors';

const num = z.number(); // zod 4: finite only (NaN and ±Infinity are refused)
const numOrNull = num.nullable(); // a stored null is an honest "no number" (JSON has no NaN)
const vec = z.array(num);
const mat = z.array(vec);

/** One checkpoint's measurement as stored (metrics/types.ts CheckpointResult); the fields charts and exports read. */
const storedCheckpointResult = z.looseObject({
  checkpoint: z.string().optional(),
  tokensSeen: num.nonnegative().optional(),
  method: z.string().optional(),
  p: num.optional(),
  cett: numOrNull.optional(),
  param: numOrNull.optional(),
  activationRatio: numOrNull.optional(),
  pplDense: numOrNull.optional(),
  pplSparse: numOrNull.optional(),
  pplRatio: numOrNull.optional(),
  tokens: num.int().nonnegative().optional(),
  thresholds: vec.optional(),
  thresholdsPerBatch: mat.optional(),
  tau: mat.optional(),
  perLayerActivation: vec.optional(),
  neuronFrequency: z.union([vec, mat]).optional(),
  sampleMatrix: mat.optional(),
});

export const storedResultSchema = storedCheckpointResult.extend({
  checkpoints: z.array(storedCheckpointResult).optional(),
  finals: z.array(storedCheckpointResult).optional(),
});

/** The threshold search's saved state (metrics/types.ts SearchState): what a resume continues from. */
export const storedJobStateSchema = z
  .looseObject({
    l: num,
    r: num,
    history: z.array(z.looseObject({ c: num, pplRatio: num, perCheckpoint: vec })),
    finals: z.record(z.string(), storedCheckpointResult).optional(),
  })
  .refine((s) => s.l <= s.r, { message: 'the search bounds are reversed (l > r)', path: ['l'] });

/**
 * A p% sweep's saved state (main/jobs/p-sweep.ts PSweepState): the count of finished points (saved as child runs) and
 * the search in progress; a state saved before the points were child runs holds the finished points themselves.
 */
export const storedPSweepStateSchema = z.looseObject({
  kind: z.literal('p-sweep'),
  done: z.number().int().nonnegative().optional(),
  points: z.array(storedCheckpointResult.extend({ searchHistory: z.array(z.looseObject({ c: num, pplRatio: num })).optional() })).optional(),
  search: storedJobStateSchema.optional(),
});

function describe(issue: z.core.$ZodIssue, value: unknown): string {
  const field = issue.path.length ? issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '(whole record)';
  let got = value;
  for (const p of issue.path) got = got !== null && typeof got === 'object' ? (got as Record<PropertyKey, unknown>)[p as PropertyKey] : undefined;
  const shown = got === null ? 'null' : Array.isArray(got) ? 'a list' : typeof got === 'string' ? `the text ${JSON.stringify(got.slice(0, 40))}` : typeof got;
  return `field ${field}: ${issue.message} (found ${shown})`;
}

function check<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const r = schema.safeParse(value);
  if (r.success) return value as T; // the stored object itself (loose: nothing dropped)
  const shown = r.error.issues.slice(0, 3).map((i) => describe(i, value));
  const more = r.error.issues.length > 3 ? ` (and ${r.error.issues.length - 3} more)` : '';
  throw new LabError('SESSION_ERROR', `${where} is damaged: ${shown.join('; ')}${more}`);
}

/** `where` names the file and the record, e.g. "/x/a.sparsitylab: result of run 12". */
export function validateStoredResult(value: unknown, where: string): Record<string, unknown> {
  return check(storedResultSchema, value, where) as Record<string, unknown>;
}

export function validateStoredJobState(value: unknown, where: string): unknown {
  const pSweep = value !== null && typeof value === 'object' && (value as { kind?: unknown }).kind === 'p-sweep';
  return pSweep ? check(storedPSweepStateSchema, value, where) : check(storedJobStateSchema, value, where);
}
