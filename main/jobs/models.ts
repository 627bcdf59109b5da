/**
 * The seam to the checkpoint reader (main/checkpoint) and the inference runners (main/inference):
 * jobs get checkpoints and runners through a ModelSource, so tests (and the demo) can register another
 * under services 'runs.models'.
 */
import { loadCheckpoint as readCheckpoint } from '../checkpoint/index';
import type { LoadedCheckpoint } from '../checkpoint/types';
import { createRunner } from '../inference/index';
import { downWeightsOf, type MeasureTarget } from '../metrics/target';

export type ProviderChoice = 'auto' | 'cuda' | 'webgpu' | 'cpu';

export interface OpenOptions {
  provider: ProviderChoice;
  /** longest sequence the runner's graph must take */
  seqLen: number;
  /** where built graphs are cached */
  cacheDir?: string;
}

export interface ModelSource {
  loadCheckpoint(path: string): Promise<LoadedCheckpoint>;
  openTarget(ckpt: LoadedCheckpoint, opts: OpenOptions, tokensSeen?: number): Promise<MeasureTarget>;
}

export const defaultModelSource: ModelSource = {
  loadCheckpoint: (p) => readCheckpoint(p),
  async openTarget(ckpt, opts, tokensSeen) {
    const downWeights = downWeightsOf(ckpt); // before the runner: a checkpoint without W_out fails fast
    const runner = await createRunner(ckpt, { provider: opts.provider, maxSeq: opts.seqLen, cacheDir: opts.cacheDir });
    return { id: ckpt.path, runner, downWeights, tokensSeen };
  },
};

/** The default source with built graphs cached under `cacheDir` (the engine's cache folder). */
export function cachedModelSource(cacheDir: string, base: ModelSource = defaultModelSource): ModelSource {
  return { loadCheckpoint: base.loadCheckpoint, openTarget: (c, o, t) => base.openTarget(c, { ...o, cacheDir: o.cacheDir ?? cacheDir }, t) };
}
