/**
 * The seam to the checkpoint reader (main/checkpoint) and the inference runners (main/inference):
 * jobs get checkpoints and runners through a ModelSource, so tests (and the demo) can register another
 * under services 'runs.models'.
 */
import { openCheckpoint } from '../checkpoint/index';
import type { LoadedCheckpoint } from '../checkpoint/types';
import { createRunner, planRunner } from '../inference/index';
import type { ExecutionPlan } from '../inference/plan';
import { probeProviders, PROVIDER_ORDER } from '../inference/providers';
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

/**
 * Whether a large runner on this provider goes to the inference worker by itself: the provider createRunner would pick
 * (the one asked for where it initialises, else the next in PROVIDER_ORDER) is the CPU or CUDA. CUDA inside the worker
 * thread was measured on the H200 (2026-12-04, BENCHMARKS.md: the 7B's CETT-PPL-1% gave the same answer, time and peak
 * memory as on the engine's thread). WebGPU (Dawn) in a worker thread has not been run on a GPU yet, so a WebGPU runner
 * stays on the engine's thread until it is. `offThread: 'always'` still forces the worker.
 */
export async function providerRunsOffThread(provider: ProviderChoice): Promise<boolean> {
  const statuses = await probeProviders();
  const order = provider === 'auto' ? PROVIDER_ORDER : [provider, ...PROVIDER_ORDER.filter((p) => p !== provider)];
  const chosen = order.find((p) => statuses.some((s) => s.name === p && s.available)) ?? 'cpu';
  return chosen === 'cpu' || chosen === 'cuda';
}

export const defaultModelSource: ModelSource = {
  loadCheckpoint: (p, signal) => openCheckpoint(p, { signal }), // off the event loop when large (issue 19)
  async openTarget(ckpt, opts, tokensSeen) {
    const downWeights = downWeightsOf(ckpt); // before the runner: a checkpoint without W_out fails fast
    // onnxruntime's calls are synchronous on their thread: a model whose calls take long runs in the inference worker,
    // so that the engine keeps answering (runs.cancel among them) while it computes (issue 19)
    const ro = runnerOptions(opts);
    const off = runnerOffThread(ckpt, ro, opts.offThread) && (opts.offThread === 'always' || (await providerRunsOffThread(opts.provider)));
    const runner = off ? await openRunnerOffThread(ckpt, ro) : await createRunner(ckpt, ro);
    return { id: ckpt.path, runner, downWeights, tokensSeen };
  },
  plan: (ckpt, opts) => planRunner(ckpt, runnerOptions(opts)),
};

/** The default source with built graphs cached under `cacheDir` (the engine's cache folder). */
export function cachedModelSource(cacheDir: string, base: ModelSource = defaultModelSource): ModelSource {
  return { loadCheckpoint: base.loadCheckpoint, openTarget: (c, o, t) => base.openTarget(c, { ...o, cacheDir: o.cacheDir ?? cacheDir }, t), plan: base.plan };
}
