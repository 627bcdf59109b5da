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
  /** device memory the engine may use, bytes (RunConfig.deviceMemory) */
  deviceMemoryBytes?: number;
  /** whole-model or streamed execution (default: planned from the memory) */
  execution?: 'auto' | 'whole' | 'streamed';
  /** sequences per measurement batch (the planned chunk never exceeds it) */
  batchSeqs?: number;
}

export interface ModelSource {
  loadCheckpoint(path: string): Promise<LoadedCheckpoint>;
  openTarget(ckpt: LoadedCheckpoint, opts: OpenOptions, tokensSeen?: number): Promise<MeasureTarget>;
}

export const defaultModelSource: ModelSource = {
  loadCheckpoint: (p) => readCheckpoint(p),
  async openTarget(ckpt, opts, tokensSeen) {
    const downWeights = downWeightsOf(ckpt); // before the runner: a checkpoint without W_out fails fast
    const runner = await createRunner(ckpt, {
      provider: opts.provider,
      maxSeq: opts.seqLen,
      cacheDir: opts.cacheDir,
      deviceMemoryBytes: opts.deviceMemoryBytes,
      execution: opts.execution,
      batchSeqs: opts.batchSeqs,
    });
    return { id: ckpt.path, runner, downWeights, tokensSeen };
  },
};

/** The default source with built graphs cached under `cacheDir` (the engine's cache folder). */
export function cachedModelSource(cacheDir: string, base: ModelSource = defaultModelSource): ModelSource {
  return { loadCheckpoint: base.loadCheckpoint, openTarget: (c, o, t) => base.openTarget(c, { ...o, cacheDir: o.cacheDir ?? cacheDir }, t) };
}
