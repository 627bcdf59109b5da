/** runs.estimate: time one dense pass and one layer's CETT curve on the first batch, then extrapolate. */
import type { RunConfig, RunEstimate } from '../api/domains/runs';
import { loadEvalData } from '../metrics/data';
import { buildLayerCurve } from '../metrics/thresholds';
import { LabError } from '../api/errors';
import { defaultModelSource, type ModelSource } from './models';
import { openOpts } from './measure-job';

/** Forward passes of a measurement: dense pass per batch, one sparse pass per batch per outer step, final pass. */
export function forwardPassCount(cfg: RunConfig, batches: number, checkpoints = 1): number {
  if (cfg.sweep) return batches * (1 + cfg.sweep.length);
  if (cfg.method !== 'cett-ppl') return 2 * batches;
  let steps = 0;
  for (let w = 1; w > cfg.tol; w /= 2) steps++;
  if (cfg.kind === 'measure') return batches * (2 + steps);
  const k = Math.min(cfg.lastK, checkpoints);
  return batches * (k * (1 + steps) + 2 * checkpoints);
}

export async function estimateRun(cfg: RunConfig, src: ModelSource = defaultModelSource): Promise<RunEstimate> {
  const path = cfg.kind === 'measure' ? cfg.checkpoint : cfg.checkpoints[cfg.checkpoints.length - 1]?.path;
  if (!path) throw new LabError('BAD_REQUEST', 'no checkpoint given');
  const ckpt = await src.loadCheckpoint(path);
  if (!ckpt.tokenizer) throw new LabError('BAD_CHECKPOINT', `${ckpt.path} has no tokenizer`);
  const data = loadEvalData(cfg.data, ckpt.tokenizer, { tokens: cfg.tokens, seqLen: cfg.seqLen, batch: cfg.batch, bosPerSequence: cfg.bosPerSequence });
  const t = await src.openTarget(ckpt, openOpts(cfg));
  try {
    const b = data.batches[0];
    await t.runner.forward({ ids: b.ids, batch: b.batch, seqLen: b.seqLen, mode: { kind: 'dense' } }); // warm-up
    const t0 = performance.now();
    const res = await t.runner.forward({ ids: b.ids, batch: b.batch, seqLen: b.seqLen, mode: { kind: 'dense' }, captureActivations: true });
    const passMs = performance.now() - t0;
    let curveMs = 0;
    if (cfg.method === 'cett-ppl' && res.activations) {
      const { hiddenSize: d, intermediateSize: f, numLayers: L } = t.runner.spec;
      const t1 = performance.now();
      buildLayerCurve({ a: res.activations[0], tokens: b.batch * b.seqLen, f, wDown: t.downWeights[0], d, colNorms: t.runner.colNorms[0] }, cfg.thresholdMode);
      curveMs = (performance.now() - t1) * L * data.batches.length * (cfg.kind === 'measure' ? 1 : cfg.checkpoints.length + Math.min(cfg.lastK, cfg.checkpoints.length));
    }
    const passes = forwardPassCount(cfg, data.batches.length, cfg.kind === 'measure' ? 1 : cfg.checkpoints.length);
    return {
      forwardPasses: passes,
      secondsPerPass: passMs / 1000,
      curveSeconds: curveMs / 1000,
      totalSeconds: (passes * passMs + curveMs) / 1000,
      provider: t.runner.provider,
      dtype: t.runner.dtype,
      ...(t.runner.plan ? { execution: t.runner.plan } : {}),
    };
  } finally {
    await t.runner.dispose();
  }
}
