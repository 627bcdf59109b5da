/**
 * The seam to the checkpoint reader (main/checkpoint) and the inference runners (main/inference):
 * `loadCheckpoint(path)` and `createRunner(ckpt, { provider })`. The runner module is bound at run time
 * so the measurement engine builds and tests without it; a build that lacks it says so.
 */
import { LabError } from '../api/errors';
import { loadCheckpoint as readCheckpoint } from '../checkpoint/index';
import type { LoadedCheckpoint } from '../checkpoint/types';
import type { ModelRunner } from '../inference/runner-types';
import { downWeightsOf, type MeasureTarget } from '../metrics/target';

export type ProviderChoice = 'auto' | 'cuda' | 'webgpu' | 'cpu';

interface InferenceModule {
  createRunner(ckpt: LoadedCheckpoint, opts: { provider?: ProviderChoice }): Promise<ModelRunner>;
}

async function bind<T>(spec: string, what: string): Promise<T> {
  try {
    const s = spec; // a variable specifier: resolved at run time, relative to this module
    return (await import(/* @vite-ignore */ s)) as T;
  } catch (e) {
    throw new LabError('UNSUPPORTED', `${what} is not available in this build (${(e as Error).message})`);
  }
}

export async function loadCheckpoint(path: string): Promise<LoadedCheckpoint> {
  return readCheckpoint(path);
}

export async function openTarget(ckpt: LoadedCheckpoint, provider: ProviderChoice, tokensSeen?: number): Promise<MeasureTarget> {
  const downWeights = downWeightsOf(ckpt); // before the runner: a checkpoint without W_out fails fast
  const m = await bind<InferenceModule>('../inference/index', 'the inference runner');
  const runner = await m.createRunner(ckpt, { provider });
  return { id: ckpt.path, runner, downWeights, tokensSeen };
}

/** Where jobs get checkpoints and runners; tests and the demo register another under services 'runs.models'. */
export interface ModelSource {
  loadCheckpoint(path: string): Promise<LoadedCheckpoint>;
  openTarget(ckpt: LoadedCheckpoint, provider: ProviderChoice, tokensSeen?: number): Promise<MeasureTarget>;
}
export const defaultModelSource: ModelSource = { loadCheckpoint, openTarget };
