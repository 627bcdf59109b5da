/**
 * The seam to the checkpoint reader (main/checkpoint) and the inference runners (main/inference):
 * jobs get checkpoints and runners through a ModelSource, so tests (and the demo) can register another
 * under services 'runs.models'.
 */
import { openCheckpoint } from '../checkpoint/index';
import type { LoadedCheckpoint } from '../checkpoint/types';
import { createRunner, planRunner } from '../inference/index';
import type { ExecutionPlan } from '../inference/plan';
import { openRunnerOffThread, runnerOffThread } from '../inference/runner-off-thread';
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
  /** the job's cancel: a graph build or session creation in progress ends in CANCELLED, its late session released */
  signal?: AbortSignal;
  /**
   * where the runner computes: 'auto' (default) in the inference worker when the model's calls could hold the engine's
   * thread long (main/inference/runner-off-thread.ts runnerOffThread), else here; 'always' / 'never' force it (tests)
   */
  offThread?: 'auto' | 'always' | 'never';
}

export interface ModelSource {
  /** `signal`: the job's cancel, which abandons an open in progress (main/checkpoint/open.ts) */
  loadCheckpoint(path: string, signal?: AbortSignal): Promise<LoadedCheckpoint>;
  openTarget(ckpt: LoadedCheckpoint, opts: OpenOptions, tokensSeen?: number): Promise<MeasureTarget>;
  /** how openTarget would run the checkpoint (whole / streamed, device, memory), opening nothing; absent: unknown */
  plan?(ckpt: LoadedCheckpoint, opts: OpenOptions): Promise<ExecutionPlan | undefined>;
}

function runnerOptions(opts: OpenOptions) {
  return {
    provider: opts.provider,
    maxSeq: opts.seqLen,
    cacheDir: opts.cacheDir,
    deviceMemoryBytes: opts.deviceMemoryBytes,
    execution: opts.execution,
    batchSeqs: opts.batchSeqs,
    signal: opts.signal,
  };
}

export const defaultModelSource: ModelSource = {
  loadCheckpoint: (p, signal) => openCheckpoint(p, { signal }), // off the event loop when large (issue 19)
  async openTarget(ckpt, opts, tokensSeen) {
    const downWeights = downWeightsOf(ckpt); // before the runner: a checkpoint without W_out fails fast
    // onnxruntime's calls are synchronous on their thread: a model whose calls take long runs in the inference worker,
    // so that the engine keeps answering (runs.cancel among them) while it computes (issue 19)
    const ro = runnerOptions(opts);
    // on every provider: the CPU, CUDA and WebGPU inside the worker thread give the engine's-thread answer at the same
    // speed (H200, 2026-12-04, BENCHMARKS.md: the 7B's CETT-PPL-1% on CUDA 33.9 s vs 34.0 s; the 0.1B's on WebGPU
    // 36.3 s vs 40.9 s; the same CETT, A and PPL ratio)
    const off = runnerOffThread(ckpt, ro, opts.offThread);
    const runner = off ? await openRunnerOffThread(ckpt, ro) : await createRunner(ckpt, ro);
    return { id: ckpt.path, runner, downWeights, tokensSeen };
  },
  plan: (ckpt, opts) => planRunner(ckpt, runnerOptions(opts)),
};

/** The default source with built graphs cached under `cacheDir` (the engine's cache folder). */
export function cachedModelSource(cacheDir: string, base: ModelSource = defaultModelSource): ModelSource {
  return { loadCheckpoint: base.loadCheckpoint, openTarget: (c, o, t) => base.openTarget(c, { ...o, cacheDir: o.cacheDir ?? cacheDir }, t), plan: base.plan };
}
