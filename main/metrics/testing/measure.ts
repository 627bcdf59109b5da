/**
 * CETT-PPL-p% of a checkpoint on a runner opened for the call and disposed after: how the runner tests compare one
 * execution (whole graph, streamed blocks, fused block-wise search) with another on the same data.
 */
import type { LoadedCheckpoint } from '../../checkpoint/types';
import { createRunner, type RunnerOptions } from '../../inference/index';
import type { ModelRunner } from '../../inference/runner-types';
import { measureCettPpl } from '../cett-ppl';
import type { EvalData } from '../data';
import { downWeightsOf } from '../target';
import type { CettPplOptions, MeasureResult } from '../types';

/** `check` sees the opened runner before the measurement (its plan, its search step). */
export async function measureOnRunner(ckpt: LoadedCheckpoint, data: EvalData, o: CettPplOptions, ro: RunnerOptions, check?: (r: ModelRunner) => void): Promise<MeasureResult> {
  const runner = await createRunner(ckpt, ro);
  try {
    check?.(runner);
    return await measureCettPpl({ id: ckpt.path, runner, downWeights: downWeightsOf(ckpt) }, data, o);
  } finally {
    await runner.dispose();
  }
}
