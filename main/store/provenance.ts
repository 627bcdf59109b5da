/**
 * A run's provenance (issue 17): everything that decides its number besides the config, recorded in the session
 * so a figure can be traced and re-measured. At the start: the build (app version, git commit, onnxruntime), the
 * content hashes of what it reads and the tokenizer's. At the end: what the measurement reports about itself —
 * provider and dtype of each phase, the threshold search's choices (main/metrics: `search` on the result) and the
 * fallbacks it took. Values are taken from the result objects, never recomputed here.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { RunProvenance } from '../api/domains/sessions';
import { APP_VERSION, gitCommit } from '../base/version';
import { onnxruntimeVersion } from '../inference/providers';
import type { RunInputs } from '../base/file-hash';

/** The files that make a checkpoint's tokenizer (the content hash of the checkpoint covers config and weights only). */
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer.model', 'tokenizer_config.json', 'special_tokens_map.json'];

/** sha256 over the tokenizer files beside a checkpoint (name, size, bytes each); null when there are none. */
export function tokenizerHash(checkpoint: string): { hash: string; files: string[] } | null {
  let dir = path.resolve(checkpoint);
  try {
    if (!fs.statSync(dir).isDirectory()) dir = path.dirname(dir); // an .onnx file: its folder
  } catch {
    return null;
  }
  const files = TOKENIZER_FILES.filter((f) => fs.existsSync(path.join(dir, f)));
  if (!files.some((f) => f === 'tokenizer.json' || f === 'tokenizer.model')) return null;
  const h = crypto.createHash('sha256');
  try {
    for (const f of files) {
      const bytes = fs.readFileSync(path.join(dir, f));
      h.update(f).update('\0').update(String(bytes.length)).update('\0').update(bytes);
    }
  } catch {
    return null;
  }
  return { hash: `sha256:${h.digest('hex')}`, files };
}

export function startProvenance(inputs: RunInputs | undefined): RunProvenance {
  const last = inputs?.checkpoints.at(-1)?.path;
  return {
    app: { version: APP_VERSION, commit: gitCommit(), onnxruntime: onnxruntimeVersion, node: process.version, platform: `${process.platform}-${process.arch}` },
    inputs,
    tokenizer: last ? tokenizerHash(last) : null,
  };
}

export const THRESHOLDS_NOTE =
  'The per-layer thresholds reported are means over the evaluation batches (as the authors’ calc_threshold_for_each_layer.py reports them). ' +
  'The activation ratio and PPL were measured with each batch’s own thresholds (stored as thresholdsPerBatch), so applying the mean thresholds does not reproduce them exactly.';

/** What a finished measurement says about how it was made (a result of main/metrics, or a sweep). */
export function measurementProvenance(result: Record<string, unknown>): RunProvenance['measurement'] {
  const provider = typeof result.provider === 'string' ? result.provider : 'unknown';
  const dtype = typeof result.dtype === 'string' ? result.dtype : 'unknown';
  const search = (result.search as NonNullable<RunProvenance['measurement']>['search']) ?? null;
  const phases: NonNullable<RunProvenance['measurement']>['phases'] = [{ phase: 'dense', provider, dtype }];
  if (search) phases.push({ phase: 'thresholds', provider: search.provider, dtype: search.productPrecision });
  phases.push({ phase: 'sparse', provider, dtype });
  const perBatch = Array.isArray(result.thresholdsPerBatch) && result.thresholdsPerBatch.length > 0;
  return {
    phases,
    search,
    fallbackReasons: Array.isArray(result.fallbackReasons) ? (result.fallbackReasons as unknown[]).map(String) : [],
    thresholds: perBatch
      ? THRESHOLDS_NOTE
      : result.kind === 'sweep'
        ? 'a sweep: each point was measured with its own per-batch thresholds, which are not stored'
        : 'no thresholds: this method applies no CETT threshold search',
    perBatchThresholds: perBatch,
  };
}
