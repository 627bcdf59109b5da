/**
 * The session file as a ChartSource (main/charts/source.ts): what the charts read, in their units.
 * Registered for `.sparsitylab` so `bin/sparsity-lab export <session>` and `charts.*` read sessions.
 */
import { registerChartSourceOpener } from '../charts/open';
import type { ChartSource, SourceFit, SourceRun, SourceWidthDepthFit } from '../charts/source';
import { SessionStore } from './session';

export function sessionChartSource(s: SessionStore, owned: boolean): ChartSource {
  return {
    name: s.name,
    file: s.file,
    checkpoints: () =>
      s.listCheckpoints().map((c) => ({
        id: String(c.id),
        name: c.name,
        series: c.series ?? undefined,
        activation: c.activation ?? undefined,
        tokensTrained: c.tokensTrained ?? undefined,
        params: c.parameters ?? undefined,
        nonEmbeddingParams: c.nonEmbeddingParameters ?? undefined,
        hiddenSize: c.hiddenSize ?? undefined,
        numLayers: c.layers ?? undefined,
      })),
    runs: () => {
      const out: SourceRun[] = [];
      const rows = s.listRuns();
      // sweeps finished since issue 18 have one child run per point (kind 'sweep-point'): those rows are the points
      const hasPointRows = new Set(rows.filter((r) => r.kind === 'sweep-point' && r.parentId).map((r) => r.parentId));
      for (const r of rows) {
        if (r.checkpointId == null) continue;
        const res = (s.getResult(r.id) ?? {}) as Record<string, unknown>;
        const sample = res.sampleMatrix as number[][] | undefined;
        const freq = res.neuronFrequency as number[][] | undefined;
        const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
        out.push({
          id: r.id,
          checkpointId: String(r.checkpointId),
          method: r.method,
          status: r.status === 'completed' ? 'done' : r.status,
          p: r.p ?? undefined,
          cett: r.cett ?? undefined,
          param: r.param ?? undefined,
          activationRatio: r.activationRatio ?? undefined,
          ppl: num(res.pplSparse),
          densePpl: num(res.pplDense),
          pplRatio: r.pplRatio ?? undefined,
          perLayer: Array.isArray(res.perLayerActivation) ? (res.perLayerActivation as number[]) : undefined,
          layerToken: sample?.length ? { layers: sample.length, tokens: sample[0].length, values: sample.flat() } : undefined,
          neuronFrequency: freq?.length ? freq.flat() : undefined,
          createdAt: r.createdAt,
          ...(r.targetNotMet ? { targetNotMet: r.targetNotMet } : {}),
          // a measure-series run's point: the charts keep one series run's points together (never mixed with single runs)
          ...(r.kind === 'series-point' && r.parentId ? { seriesRun: r.parentId } : {}),
          ...(num(res.tokens) !== undefined ? { tokens: num(res.tokens) } : {}),
        });
        // sweeps store their points in the result: one chart run per point
        if (Array.isArray(res.points) && !hasPointRows.has(r.id))
          for (const [i, pt] of (res.points as Record<string, number>[]).entries())
            out.push({
              id: `${r.id}@${i}`,
              checkpointId: String(r.checkpointId),
              method: r.method === 'cett-ppl' ? 'cett' : r.method,
              status: 'done',
              cett: r.method === 'cett-ppl' ? pt.param : undefined,
              param: pt.param,
              activationRatio: pt.activationRatio,
              ppl: pt.pplSparse,
              pplRatio: pt.pplRatio,
            });
      }
      return out.filter((r) => r.activationRatio === undefined || (r.activationRatio >= 0 && r.activationRatio <= 1));
    },
    fits: () => s.listFits('series').map((f) => f.result as SourceFit),
    widthDepthFit: () => s.listFits('width-depth')[0]?.result as SourceWidthDepthFit | undefined,
    chartSettings: (kind) => s.getChart(kind),
    saveChartSettings: (kind, o) => {
      if (!s.readOnly) s.saveChart(kind, o);
    },
    close: () => {
      if (owned) s.close();
    },
  };
}

registerChartSourceOpener('.sparsitylab', (file, { write }) => {
  // reading a chart (config, export) opens the file read-only: nothing written, an older schema read as it is (issue 19)
  if (!write) return sessionChartSource(SessionStore.open(file, { readOnly: true }), true);
  // a session another process writes (its lock, main/store/lock.ts) is still readable for charts: open it read-only
  let s: SessionStore;
  try {
    s = SessionStore.open(file);
  } catch (e) {
    if ((e as { code?: string }).code !== 'BUSY') throw e;
    s = SessionStore.open(file, { readOnly: true });
  }
  return sessionChartSource(s, true);
});
