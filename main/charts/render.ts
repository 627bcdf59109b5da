/**
 * Rendering a chart config in Node, without a browser (environment-probe.md §4): chart.js 4 on
 * @napi-rs/canvas (Skia). PNG at a dpi, SVG with text kept as <text>, PDF as vectors with the font
 * embedded. The config comes from spec.ts unchanged; runtime.ts adds the hint functions.
 */
import fs from 'node:fs';
import { createCanvas, GlobalFonts, PDFDocument, SvgExportFlag } from '@napi-rs/canvas';
import { Chart, registerables } from 'chart.js';
import { MatrixController, MatrixElement } from 'chartjs-chart-matrix';
import annotationPlugin from 'chartjs-plugin-annotation';
import { hydrate } from '../../common/chart-runtime';
import { fontStack } from './spec';

let ready = false;
function setup(): void {
  if (ready) return;
  Chart.register(...registerables, MatrixController, MatrixElement, annotationPlugin);
  // Skia finds system fonts by itself; registering DejaVu explicitly pins the default face where it exists.
  for (const f of ['/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/TTF/DejaVuSans.ttf', '/Library/Fonts/DejaVuSans.ttf']) {
    if (fs.existsSync(f)) {
      GlobalFonts.registerFromPath(f, 'DejaVu Sans');
      break;
    }
  }
  ready = true;
}

type Json = Record<string, unknown>;

/** Draws the chart; returns its destroy(), to call only after the canvas was read (destroy clears it). */
function draw(canvasLike: unknown, config: Json, dpr: number, extraPlugins: unknown[] = []): () => void {
  const c = hydrate(config) as Json & { options: Json; plugins: unknown[] };
  c.plugins = [...c.plugins, ...extraPlugins];
  c.options = { ...c.options, devicePixelRatio: dpr, animation: false, responsive: false, events: [] };
  // with animation off, the constructor draws once; a second draw() would duplicate every SVG/PDF element
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const chart = new Chart(canvasLike as any, c as any);
  return () => chart.destroy();
}

/** PNG of widthPt × heightPt points at `dpi` (pixels = inches × dpi), with the dpi written into pHYs. */
export async function renderPng(config: Json, widthPt: number, heightPt: number, dpi = 300): Promise<{ data: Buffer; widthPx: number; heightPx: number }> {
  setup();
  const canvas = createCanvas(Math.round(widthPt), Math.round(heightPt));
  // chart.js resizes the canvas to size × dpr, which clears it; a white background is painted by a plugin
  const done = draw(canvas, config, dpi / 72, [whiteBackground]);
  const data = await canvas.encode('png', { resolution: dpi, software: 'Sparsity Lab' });
  done();
  return { data, widthPx: canvas.width, heightPx: canvas.height };
}

const whiteBackground = {
  id: 'labWhiteBackground',
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  beforeDraw(chart: any) {
    const { ctx, width, height } = chart;
    ctx.save();
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, width, height);
    ctx.restore();
  },
};

const xmlText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * SVG in points: the figure prints at the preset's size (width/height in inches, viewBox in pt). `metadata` (the
 * session and runs shown, as JSON) goes into an SVG <metadata> element.
 */
export function renderSvg(config: Json, widthPt: number, heightPt: number, metadata?: unknown): string {
  setup();
  const w = Math.round(widthPt);
  const h = Math.round(heightPt);
  const canvas = createCanvas(w, h, SvgExportFlag.NoPrettyXML);
  const done = draw(canvas, config, 1);
  const svg = canvas.getContent().toString('utf8');
  done();
  const sized = svg
    .replace(/<svg([^>]*?)\swidth="[^"]*"\s+height="[^"]*"/, `<svg$1 width="${(w / 72).toFixed(3)}in" height="${(h / 72).toFixed(3)}in" viewBox="0 0 ${w} ${h}"`)
    // Skia names the one face it laid the text out with ("DejaVu Sans"); a viewer without it took its default, a serif
    .replace(/font-family="([^",]+)"/g, (_m, f: string) => `font-family="${fontStack(f, "'")}"`);
  if (metadata === undefined) return sized;
  return sized.replace(/(<svg[^>]*>)/, `$1<metadata id="sparsity-lab">${xmlText(JSON.stringify(metadata))}</metadata>`);
}

/**
 * Vector PDF, one page of widthPt × heightPt points, fonts embedded by Skia (subset). `meta` goes into the PDF's info
 * dictionary (Subject, Keywords): the session and the run ids shown.
 */
export function renderPdf(config: Json, widthPt: number, heightPt: number, title?: string, meta: { subject?: string; keywords?: string } = {}): Buffer {
  setup();
  const w = Math.round(widthPt);
  const h = Math.round(heightPt);
  const doc = new PDFDocument({ title, creator: 'Sparsity Lab', compressionLevel: 6, ...meta });
  const ctx = doc.beginPage(w, h);
  // chart.js needs ctx.canvas; a PDF page context has none (environment-probe.md §4)
  const fake = { width: w, height: h, getContext: () => ctx };
  Object.defineProperty(ctx, 'canvas', { value: fake, configurable: true });
  const done = draw(fake, config, 1);
  doc.endPage();
  done();
  return doc.close();
}
