/**
 * Engine results (main/metrics) as chart runs: what a session holds after a measurement, in the units
 * the charts read (ratios as fractions, raw token counts). The session store can use these to build a
 * ChartSource from stored results; tests use them to chart real measurements.
 */
import type { CheckpointResult, SweepPoint } from '../metrics/types';
import type { SourceRun } from './source';

/** One measurement (CETT-PPL-p%, a series point at its CETT, or a baseline) as a chart run. */
export function runFromResult(id: string, checkpointId: string, r: CheckpointResult, extra: Partial<SourceRun> = {}): SourceRun {
  const L = r.sampleMatrix?.length ?? 0;
  const S = L ? r.sampleMatrix[0].length : 0;
  return {
    id,
    checkpointId,
    method: r.method,
    status: 'done',
    p: r.p,
    cett: r.cett,
    param: r.param,
    activationRatio: r.activationRatio,
    ppl: r.pplSparse,
    densePpl: r.pplDense,
    pplRatio: r.pplRatio,
    perLayer: r.perLayerActivation,
    // [L][S] activation ratio of the first sequence → row-major [layers, tokens]
    layerToken: L && S ? { layers: L, tokens: S, values: r.sampleMatrix.flat() } : undefined,
    // [L][F] → all layers concatenated
    neuronFrequency: r.neuronFrequency?.flat(),
    ...extra,
  };
}

/**
 * A sweep (CETT values, FAT ε, top-k fractions) as one run per point. A CETT sweep's runs have method
 * 'cett' and the CETT in `cett` (the cett-sweep chart reads them); baselines keep their method.
 */
export function runsFromSweep(idPrefix: string, checkpointId: string, method: 'cett' | 'fat' | 'topk-token' | 'topk-batch' | 'relu', pts: SweepPoint[]): SourceRun[] {
  return pts.map((p, i) => ({
    id: `${idPrefix}${i}`,
    checkpointId,
    method,
    status: 'done',
    cett: method === 'cett' ? p.param : undefined,
    param: method === 'cett' ? undefined : p.param,
    activationRatio: p.activationRatio,
    ppl: p.pplSparse,
    pplRatio: p.pplRatio,
  }));
}
