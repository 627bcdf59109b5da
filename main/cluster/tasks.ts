/**
 * What a cluster submission runs: one array task per checkpoint of a series, or per (checkpoint, sweep point) of a
 * sweep spec. Each task is a plain `sparsity-lab measure …` command line, so a node measures exactly what the same
 * command measures on the workstation (main/cli/measure.ts → runs.start → main/jobs).
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { LabError } from '../api/errors';
import { RUN_PARAMS } from '../api/domains/runs';
import type { TaskSpec } from './manifest';
import { readJsonFile } from '../base/regular-file';

export interface SeriesPoint {
  path: string;
  tokensSeen?: number;
}

/** measure options a submission passes on to every task, by their CLI names (`--p 1` → { p: '1' }) */
export type MeasureFlags = Record<string, string | boolean | undefined>;

/** the `measure` options forwarded to the nodes (main/cli/measure.ts OPTIONS, less the local-only ones) */
export const FORWARDED_FLAGS = ['data', 'method', 'p', 'param', 'tokens', 'seq-len', 'batch', 'tol', 'threshold-mode', 'provider', 'bos'] as const;

const NUMERIC = new Set(['p', 'param', 'tokens', 'seq-len', 'batch', 'tol']);

function flagArgs(flags: MeasureFlags): string[] {
  const out: string[] = [];
  for (const k of FORWARDED_FLAGS) {
    const v = flags[k];
    if (v === undefined || v === false) continue;
    if (v === true) out.push(`--${k}`);
    else {
      if (NUMERIC.has(k) && !Number.isFinite(Number(v))) throw new LabError('BAD_REQUEST', `--${k} must be a number (got "${v}")`);
      out.push(`--${k}`, String(v));
    }
  }
  return out;
}

function checkInputs(points: SeriesPoint[], data: string): void {
  if (!fs.existsSync(data)) throw new LabError('NOT_FOUND', `evaluation text ${data} does not exist`);
  for (const p of points) if (!fs.existsSync(p.path)) throw new LabError('NOT_FOUND', `checkpoint ${p.path} does not exist`);
}

function seriesName(points: SeriesPoint[]): string | undefined {
  if (points.length < 2) return undefined;
  const parents = new Set(points.map((p) => path.dirname(p.path)));
  return parents.size === 1 ? path.basename([...parents][0]) : undefined;
}

/** One task per checkpoint, each measured on its own (its own CETT-PPL-p% search: the tasks share nothing). */
export function seriesTasks(points: SeriesPoint[], flags: MeasureFlags): TaskSpec[] {
  if (points.length === 0) throw new LabError('BAD_REQUEST', 'no checkpoints to submit');
  if (typeof flags.data !== 'string' || !flags.data) throw new LabError('BAD_REQUEST', '--data <file> is required');
  const data = path.resolve(flags.data);
  checkInputs(points, data);
  const rest = flagArgs({ ...flags, data });
  const series = seriesName(points);
  return points.map((p, index) => ({ index, label: path.basename(p.path), argv: ['measure', p.path, ...rest], checkpoint: p.path, tokensSeen: p.tokensSeen, series }));
}

export const sweepSpecSchema = z
  .object({
    /** checkpoint folders (relative to the spec file), or one series folder / list file */
    checkpoints: z.union([z.array(z.union([z.string().min(1), z.object({ path: z.string().min(1), tokensSeen: z.number().nonnegative().optional() })])).min(1).max(10000), z.string().min(1)]),
    data: z.string().min(1).optional(),
    method: z.string().max(50).optional(),
    /** CETT-PPL-p%: one task per p per checkpoint */
    p: z.array(RUN_PARAMS.p).min(1).max(1000).optional(),
    /** a baseline's parameter (FAT ε, Top-k fraction): one task per value per checkpoint */
    param: z.array(z.number()).min(1).max(1000).optional(),
  })
  .strict()
  .refine((s) => !(s.p && s.param), { message: 'give p or param, not both' });
export type SweepSpec = z.infer<typeof sweepSpecSchema>;

export function readSweepSpec(file: string): SweepSpec {
  // a named pipe blocked the read for ever, a device never ended it, a huge file was read whole: the one JSON reader
  const json = readJsonFile(file, { limit: 16 * 2 ** 20, what: 'a sweep spec (a small JSON object)', invalid: 'not a readable JSON sweep spec', file: 'a sweep spec file' }, (m) => new LabError('BAD_DATA', m));
  const r = sweepSpecSchema.safeParse(json);
  if (!r.success) throw new LabError('BAD_DATA', `${file}: not a sweep spec (${r.error.issues[0].path.join('.') || 'top level'}: ${r.error.issues[0].message})`);
  return r.data;
}

/** One task per checkpoint and sweep value (checkpoint-major: a checkpoint's points are neighbours in the array). */
export function sweepTasks(points: SeriesPoint[], flags: MeasureFlags, sweep: { key: 'p' | 'param'; values: number[] }): TaskSpec[] {
  const perValue = sweep.values.map((v) => seriesTasks(points, { ...flags, [sweep.key]: String(v) }).map((t) => ({ ...t, label: `${t.label} ${sweep.key}=${v}` })));
  const out: TaskSpec[] = [];
  for (let c = 0; c < points.length; c++) for (const ts of perValue) out.push({ ...ts[c], index: out.length });
  return out;
}

/**
 * A sweep spec file as a submission: its checkpoints (a list, or a series folder / list file read by `resolveSeries`,
 * the CLI's reader, so both read them the same way), its text and method, and the values swept.
 */
export function sweepFromSpec(file: string, spec: SweepSpec, resolveSeries: (arg: string) => SeriesPoint[]): { points: SeriesPoint[]; flags: MeasureFlags; sweep?: { key: 'p' | 'param'; values: number[] } } {
  const base = path.dirname(path.resolve(file));
  const points: SeriesPoint[] =
    typeof spec.checkpoints === 'string'
      ? resolveSeries(path.resolve(base, spec.checkpoints))
      : spec.checkpoints.map((c) => (typeof c === 'string' ? { path: path.resolve(base, c) } : { path: path.resolve(base, c.path), tokensSeen: c.tokensSeen }));
  const flags: MeasureFlags = {};
  if (spec.data) flags.data = path.resolve(base, spec.data);
  if (spec.method) flags.method = spec.method;
  const sweep = spec.p ? { key: 'p' as const, values: spec.p } : spec.param ? { key: 'param' as const, values: spec.param } : undefined;
  return { points, flags, sweep };
}
