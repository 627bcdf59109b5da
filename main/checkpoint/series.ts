/**
 * A training run on disk: a folder of checkpoint folders. Step, tokens trained and model size come from the one
 * parser of names and trainer_state.json (common/naming.ts), so the user only confirms them; what neither says is
 * unknown.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';
import type { SeriesEntry } from '../api/domains/checkpoints';
import { trainingPosition, type TrainingPosition } from '../../common/naming';

/** trainer_state.json beside a checkpoint, parsed; undefined when absent, too large or not JSON (then: unknown) */
export function readTrainerStateFile(dir: string): unknown {
  const f = path.join(dir, 'trainer_state.json');
  try {
    const st = fs.statSync(f);
    if (!st.isFile() || st.size > 64 << 20) return undefined;
    return JSON.parse(fs.readFileSync(f, 'utf8'));
  } catch {
    return undefined;
  }
}

/** A checkpoint folder's place in training: its name, its trainer_state.json, and a tokens-per-step if given. */
export function checkpointPosition(dir: string, tokensPerStep?: number): TrainingPosition {
  const name = path.basename(dir.replace(/[\\/]+$/, ''));
  return trainingPosition(name, { trainerState: readTrainerStateFile(dir), tokensPerStep });
}

export function scanSeries(dir: string, tokensPerStep?: number): { dir: string; entries: SeriesEntry[]; series: string; checkpoints: (SeriesEntry & { tokensText: string })[] } {
  const abs = path.resolve(dir);
  if (!fs.existsSync(abs) || !fs.statSync(abs).isDirectory()) throw new LabError('NOT_FOUND', `${abs}: not a folder`);
  const entries: SeriesEntry[] = fs
    .readdirSync(abs, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => {
      const p = path.join(abs, d.name);
      const { step, tokens, tokensFrom, modelSize } = checkpointPosition(p, tokensPerStep);
      const e: SeriesEntry = { path: p, name: d.name, isCheckpoint: fs.existsSync(path.join(p, 'config.json')) };
      if (step !== undefined) e.step = step;
      if (tokens !== undefined) Object.assign(e, { tokensTrained: tokens, tokensFrom });
      if (modelSize !== undefined) e.modelSize = modelSize;
      return e;
    })
    .filter((e) => e.isCheckpoint)
    .sort((a, b) => (a.tokensTrained ?? a.step ?? 0) - (b.tokensTrained ?? b.step ?? 0) || a.name.localeCompare(b.name, undefined, { numeric: true }));
  if (entries.length === 0) throw new LabError('BAD_CHECKPOINT', `${abs}: no checkpoint folders (with a config.json) inside`);
  const checkpoints = entries.map((e) => ({ ...e, tokensText: e.tokensTrained !== undefined ? String(e.tokensTrained) : '' }));
  return { dir: abs, entries, series: path.basename(abs), checkpoints };
}
