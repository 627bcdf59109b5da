/**
 * Compare across sessions (issue 18): runs of the open session and of any other session file side by side. Another
 * file is opened read-only for the answer and closed again (SessionStore.open readOnly: nothing written, no upgrade,
 * the open session unchanged). The overlaid per-layer chart is a PlotData styled by the one chart path
 * (main/charts/spec.ts), so the UI draws it with the common chart runtime like every other chart.
 */
import path from 'node:path';
import { LabError } from '../api/errors';
import type { ComparedRun, CompareResponses } from '../api/domains/compare';
import type { PlotData } from '../api/domains/charts';
import type { RunProvenance } from '../api/domains/sessions';
import { openToRead, runContentHash, type SessionStore } from '../store/index';
import { buildChartConfig } from '../charts/spec';
import { runMethodText } from '../../common/run-label';

const numArray = (v: unknown): number[] | null => (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (v as number[]) : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Runs `fn` on `file`: the open session itself when it is that file, else a read-only open closed afterwards. */
export function withSession<T>(open: SessionStore | undefined, file: string, fn: (s: SessionStore, isOpen: boolean) => T): T {
  const abs = path.resolve(file);
  if (open && open.file === abs) return fn(open, true);
  const s = openToRead(abs);
  try {
    return fn(s, false);
  } finally {
    s.close();
  }
}

function phasesText(prov: RunProvenance | null, run: ComparedRun['run']): string | null {
  const ph = prov?.measurement?.phases;
  if (ph?.length) {
    const same = ph.every((p) => p.provider === ph[0].provider && p.dtype === ph[0].dtype);
    return same ? `${ph[0].provider}/${ph[0].dtype}` : ph.map((p) => `${p.phase}: ${p.provider}/${p.dtype}`).join(', ');
  }
  return run.provider ? `${run.provider}${run.dtype ? `/${run.dtype}` : ''}` : null;
}

export function compareOne(s: SessionStore, isOpen: boolean, id: string): ComparedRun {
  const run = s.getRun(id);
  if (!run) throw new LabError('NOT_FOUND', `${s.file}: no run ${id}`);
  const res = s.getResult(id) ?? {};
  const cfg = (s.runConfig(id) ?? {}) as Record<string, unknown>;
  const ck = run.checkpointId != null ? s.getCheckpoint(run.checkpointId) : undefined;
  const ds = run.datasetId != null ? s.getDataset(run.datasetId) : undefined;
  const thr = numArray(res.thresholds);
  const ckName = ck?.name;
  return {
    session: s.file,
    sessionName: s.name,
    sessionOpen: isOpen,
    run,
    label: `${s.name} · ${run.label || `${run.checkpoint ?? ckName ?? run.id} · ${runMethodText(run)}`}`,
    tokens: num(res.tokens) ?? num(cfg.tokens) ?? ds?.tokens ?? null,
    seqLen: num(cfg.seqLen) ?? ds?.seqLen ?? null,
    batch: num(cfg.batch),
    phases: phasesText(s.runProvenance(id), run),
    checkpointHash: ck?.contentHash ?? null,
    datasetHash: ds?.hash ?? null,
    contentHash: runContentHash(s, id),
    thresholds: thr ? { layers: thr.length, min: Math.min(...thr), mean: thr.reduce((a, b) => a + b, 0) / thr.length, max: Math.max(...thr) } : null,
    perLayerActivation: numArray(res.perLayerActivation),
    perLayerThresholds: thr,
    targetNotMet: typeof res.targetNotMet === 'string' ? res.targetNotMet : null,
  };
}

/** The overlaid per-layer curves: activation ratio (%) on the left axis, thresholds on the right, one colour per run. */
export function comparePlot(runs: ComparedRun[]): PlotData | null {
  const withLayers = runs.map((r, g) => ({ r, g })).filter(({ r }) => r.perLayerActivation || r.perLayerThresholds);
  if (!withLayers.length) return null;
  const anyThr = withLayers.some(({ r }) => r.perLayerThresholds);
  const plot: PlotData = {
    kind: 'per-layer-activation',
    title: 'Activation ratio and threshold per layer',
    xLabel: 'Layer',
    yLabel: 'Activation ratio (%)',
    ...(anyThr ? { y2Label: 'Threshold ε (batch mean)' } : {}),
    xScale: 'linear',
    yScale: 'linear',
    series: [],
    notes: [],
    provenance: { session: [...new Set(runs.map((r) => r.sessionName))].join(', '), runs: runs.map((r) => ({ id: r.run.id, checkpoint: r.run.checkpoint ?? '', method: r.run.method, ...(r.run.p !== null ? { p: r.run.p } : {}), ...(r.run.cett !== null ? { cett: r.run.cett } : {}), ...(r.run.param !== null ? { param: r.run.param } : {}), label: r.label })) },
  };
  for (const { r, g } of withLayers) {
    if (r.perLayerActivation) plot.series.push({ id: `${r.session}#${r.run.id}`, label: r.label, role: 'measured', group: g, points: r.perLayerActivation.map((v, l) => ({ x: l, y: v * 100, run: r.label })) });
    // thresholds as plain lines on the right axis ('fit' styling: no markers), so they read apart from the ratios
    if (r.perLayerThresholds) plot.series.push({ id: `${r.session}#${r.run.id}#thresholds`, label: `${r.label} · threshold`, role: 'fit', group: g, axis: 'y2', points: r.perLayerThresholds.map((v, l) => ({ x: l, y: v, run: r.label })) });
  }
  for (const r of runs) if (!r.perLayerActivation && !r.perLayerThresholds) plot.notes.push(`${r.label}: no per-layer figures stored (e.g. a sweep point keeps only its ratios)`);
  return plot;
}

export function compareRuns(open: SessionStore | undefined, req: { runs: { session: string; id: string }[]; scale?: number }): CompareResponses['compare.runs'] {
  // one read-only open per file, however many of its runs are asked for
  const bySession = new Map<string, string[]>();
  for (const x of req.runs) bySession.set(path.resolve(x.session), [...(bySession.get(path.resolve(x.session)) ?? []), x.id]);
  const got = new Map<string, ComparedRun>();
  for (const [file, ids] of bySession) withSession(open, file, (s, isOpen) => ids.forEach((id) => got.set(`${file}\n${id}`, compareOne(s, isOpen, id))));
  const runs = req.runs.map((x) => got.get(`${path.resolve(x.session)}\n${x.id}`)!);
  const plot = comparePlot(runs);
  if (!plot) return { runs, chart: null, chartNote: 'none of these runs stored per-layer figures (sweep points keep only their ratios)' };
  const opts = { preset: 'double' as const, scale: req.scale ?? 1 };
  const { config, widthPt, heightPt } = buildChartConfig(plot, opts);
  return { runs, chart: { plot, config, widthPt, heightPt, options: opts } };
}
