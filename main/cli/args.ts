/**
 * Number arguments of the CLI (issue 19): `Number('')` is 0, so `--sweep 0.1,,0.3` or `--p ""` used to measure
 * an empty item as 0. Every number flag goes through these; an empty, blank or non-finite value is refused with
 * the flag, the item's position and the value.
 */
import { LabError } from '../api/errors';

/** One number flag: undefined when absent, else a finite number (never from an empty or blank string). */
export function parseNumberArg(v: string | boolean | undefined, flag: string): number | undefined {
  if (v === undefined || typeof v === 'boolean') return undefined;
  if (v.trim() === '') throw new LabError('BAD_REQUEST', `--${flag} is empty: give a number`);
  const x = Number(v.trim());
  if (!Number.isFinite(x)) throw new LabError('BAD_REQUEST', `--${flag} must be a number (got "${v}")`);
  return x;
}

/** A whole-number flag (a count, a seed, a task index): undefined when absent, else digits only (no sign, point or
 * exponent; blanks around are allowed), at least `min`. */
export function parseWholeArg(v: string | boolean | undefined, flag: string, min = 0): number | undefined {
  if (v === undefined || typeof v === 'boolean') return undefined;
  const s = v.trim();
  const x = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(x) || x < min) throw new LabError('BAD_REQUEST', `--${flag} must be a whole number ≥ ${min} (got "${v}")`);
  return x;
}

/** A comma-separated list of numbers (`--sweep 0.1,0.2`): every item must be a finite number; none may be empty. */
export function parseNumberList(v: string, flag: string): number[] {
  if (v.trim() === '') throw new LabError('BAD_REQUEST', `--${flag} is empty: give numbers separated by commas`);
  return v.split(',').map((item, i, all) => {
    const s = item.trim();
    if (s === '') throw new LabError('BAD_REQUEST', `--${flag} item ${i + 1} of ${all.length} is empty (got "${v}"): give numbers separated by single commas`);
    const x = Number(s);
    if (!Number.isFinite(x)) throw new LabError('BAD_REQUEST', `--${flag} item ${i + 1} of ${all.length} must be a number (got "${s}")`);
    return x;
  });
}
