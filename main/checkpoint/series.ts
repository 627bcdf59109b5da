/**
 * A training run on disk: a folder of checkpoint folders. Steps and tokens are read from folder names
 * (step-12000, global_step12000, checkpoint-500, tokens-20B, 20B, 1.5T) so the user only confirms them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';
import type { SeriesEntry } from '../api/domains/checkpoints';

const UNITS: Record<string, number> = { k: 1e3, m: 1e6, b: 1e9, g: 1e9, t: 1e12 };

export function parseCheckpointName(name: string): { step?: number; tokensTrained?: number } {
  const out: { step?: number; tokensTrained?: number } = {};
  const step = /(?:^|[^a-z])(?:global[_-]?)?(?:step|checkpoint|ckpt|iter)[_-]?(\d+)(?![\d.]*[kmbgt])/i.exec(name);
  if (step) out.step = Number(step[1]);
  const tok = /(\d+(?:\.\d+)?)\s*([kmbgt])(?:[_-]?tok(?:ens)?)?(?:$|[^a-z])/i.exec(name);
  if (tok) out.tokensTrained = Number(tok[1]) * UNITS[tok[2].toLowerCase()];
  return out;
}

export function scanSeries(dir: string): { dir: string; entries: SeriesEntry[]; series: string; checkpoints: (SeriesEntry & { tokensText: string })[] } {
  const abs = path.resolve(dir);
  if (!fs.existsSync(abs) || !fs.statSync(abs).isDirectory()) throw new LabError('NOT_FOUND', `${abs}: not a folder`);
  const entries: SeriesEntry[] = fs
    .readdirSync(abs, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => {
      const p = path.join(abs, d.name);
      return { path: p, name: d.name, ...parseCheckpointName(d.name), isCheckpoint: fs.existsSync(path.join(p, 'config.json')) };
    })
    .filter((e) => e.isCheckpoint)
    .sort((a, b) => (a.tokensTrained ?? a.step ?? 0) - (b.tokensTrained ?? b.step ?? 0) || a.name.localeCompare(b.name, undefined, { numeric: true }));
  if (entries.length === 0) throw new LabError('BAD_CHECKPOINT', `${abs}: no checkpoint folders (with a config.json) inside`);
  const checkpoints = entries.map((e) => ({ ...e, tokensText: e.tokensTrained !== undefined ? String(e.tokensTrained) : '' }));
  return { dir: abs, entries, series: path.basename(abs), checkpoints };
}
