/** The demo lab's re-measurable runs (written by relocate_session.ts, measured again by test/integration/demo-lab.test.ts). */
import path from 'node:path';

export const REMEASURABLE_LABEL = 'demo: re-measurable';

/** CETT-PPL-1% of a shipped model on the first 4,096 tokens of eval.txt (one batch of 16 × 256): seconds on a CPU. */
export function remeasurableConfig(demoDir: string, model: 'relu' | 'silu', provider: 'auto' | 'cuda' | 'webgpu' | 'cpu' = 'cpu') {
  return { kind: 'measure' as const, checkpoint: path.join(demoDir, 'models', model), data: path.join(demoDir, 'eval.txt'), method: 'cett-ppl' as const, p: 1, tokens: 4096, seqLen: 256, batch: 16, tol: 1e-3, thresholdMode: 'authors' as const, provider, bosPerSequence: false };
}
