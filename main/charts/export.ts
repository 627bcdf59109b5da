/**
 * One chart to one file: data (data.ts) → styled config (spec.ts) → PNG/SVG/PDF (render.ts) or
 * CSV/JSON/pgfplots (tabular.ts). The CLI `export` command and the `charts.export` command both end here,
 * so a script regenerates exactly the figure the UI shows.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';
import type { ChartExportResult, ChartKind, ChartOptions, ExportFormat } from '../api/domains/charts';
import { plotData, type DataDeps } from './data';
import { buildChartConfig } from './spec';
import { renderPdf, renderPng, renderSvg } from './render';
import { provenanceLines, toCsv, toJson, toPgfplots } from './tabular';
import type { ChartSource } from './source';
import { writeFileAtomic, writeProblem } from '../base/atomic-write';

export interface ExportRequest {
  kind: ChartKind;
  format: ExportFormat;
  /** file to write; without it only returnData makes sense (clipboard) */
  out?: string;
  preset?: 'single' | 'double';
  dpi?: number;
  options?: ChartOptions;
  returnData?: boolean;
}

/** Fails early, before any rendering, with a message that names the path and the reason. */
export function checkWritable(out: string): string {
  const abs = path.resolve(out);
  const dir = path.dirname(abs);
  if (!fs.existsSync(dir)) throw new LabError('NOT_FOUND', `cannot write ${abs}: folder ${dir} does not exist`);
  if (!fs.statSync(dir).isDirectory()) throw new LabError('BAD_REQUEST', `cannot write ${abs}: ${dir} is not a folder`);
  if (fs.existsSync(abs) && fs.statSync(abs).isDirectory()) throw new LabError('BAD_REQUEST', `cannot write ${abs}: it is a folder`);
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    if (fs.existsSync(abs)) fs.accessSync(abs, fs.constants.W_OK);
  } catch {
    throw new LabError('BAD_REQUEST', `cannot write ${abs}: permission denied`);
  }
  return abs;
}

export async function exportChart(src: ChartSource, req: ExportRequest, deps: DataDeps = {}): Promise<ChartExportResult> {
  if (!req.out && !req.returnData) throw new LabError('BAD_REQUEST', 'export needs an output path');
  const abs = req.out ? checkWritable(req.out) : undefined;
  const options: ChartOptions = { ...req.options, preset: req.preset ?? req.options?.preset, scale: 1 };
  const plot = plotData(req.kind, src, options, deps);
  const { config, widthPt, heightPt } = buildChartConfig(plot, options);
  let data: Buffer;
  let widthPx: number | undefined;
  let heightPx: number | undefined;
  switch (req.format) {
    case 'png': {
      const r = await renderPng(config, widthPt, heightPt, req.dpi ?? 300);
      ({ data, widthPx, heightPx } = r);
      break;
    }
    case 'svg':
      data = Buffer.from(renderSvg(config, widthPt, heightPt, { kind: plot.kind, title: plot.title, ...plot.provenance }), 'utf8');
      break;
    case 'pdf':
      data = renderPdf(config, widthPt, heightPt, plot.title, {
        subject: provenanceLines(plot, '').slice(1).join('; '),
        keywords: [`chart:${plot.kind}`, ...(plot.provenance?.runs ?? []).map((r) => `run:${r.id}`)].join(' '),
      });
      break;
    case 'csv':
      data = Buffer.from(toCsv(plot), 'utf8');
      break;
    case 'json':
      data = Buffer.from(toJson(plot), 'utf8');
      break;
    case 'tex':
      data = Buffer.from(toPgfplots(plot, options.preset ?? 'single', options.fontSize), 'utf8');
      break;
  }
  try {
    if (abs) writeFileAtomic(abs, data);
  } catch (e) {
    throw new LabError('BAD_REQUEST', `cannot write ${abs}: ${writeProblem(e)}`);
  }
  const res: ChartExportResult = { path: abs, format: req.format, bytes: data.length, widthPx, heightPx };
  if (req.returnData && data.length < 20 * 1024 * 1024) res.base64 = data.toString('base64');
  return res;
}
