/**
 * Charts end to end in Node: every chart kind from a session snapshot through the contract, each export
 * format checked independently (SVG parsed, PDF rasterised by poppler's pdftoppm, CSV parsed back,
 * pgfplots data read back), plus bad input. Figures are copied to test-artifacts/charts/ for a look.
 *
 * NOTE: the session data is the synthetic snapshot of charts-fixture.ts (values from known closed
 * forms), written as a chart snapshot JSON, not a session measured by the engine: the session store and
 * engine were not there when this was written.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DOMParser } from '@xmldom/xmldom';
import { Engine } from '../../main/engine/engine';
import { CHART_KINDS, type ChartConfigResult, type ChartExportResult, type ChartKind } from '../../main/api/domains/charts';
import { OKABE_ITO } from '../../main/charts/palette';
import { chartFixture, RELU, SILU } from './charts-fixture';
import { checkPgfplots } from './pgfplots-check';

const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts/charts');
const has = (file: string) => {
  try {
    return execFileSync('kpsewhich', [file], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false;
  }
};
/** pdflatex with pgfplots, when this machine has them (CI need not) */
const LATEX = has('pgfplots.sty');
const STANDALONE = LATEX && has('standalone.cls');
let dir: string;
let session: string;
let engine: Engine;
const fixture = chartFixture();

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-charts-'));
  session = path.join(dir, 'session.json');
  fs.writeFileSync(session, JSON.stringify(fixture));
  engine = new Engine({ paths: { userData: dir, cache: dir }, log: { info() {}, warn() {}, error() {} } });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
});
afterAll(async () => {
  await engine.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

const exp = (kind: ChartKind, format: string, extra: Record<string, unknown> = {}) =>
  engine.call('charts.export', { sessionPath: session, kind, format, out: path.join(dir, `${kind}.${format}`), overwrite: true, ...extra }) as Promise<ChartExportResult>; // tests re-export their own files
const keep = (file: string, name = path.basename(file)) => fs.copyFileSync(file, path.join(ARTIFACTS, name));

function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let f = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (q) {
      if (ch === '"' && text[i + 1] === '"') {
        f += '"';
        i++;
      } else if (ch === '"') q = false;
      else f += ch;
    } else if (ch === '"') q = true;
    else if (ch === ',' || ch === '\n') {
      row.push(f);
      f = '';
      if (ch === '\n') {
        rows.push(row);
        row = [];
      }
    } else f += ch;
  }
  const [head, ...body] = rows;
  return body.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i]])));
}

/** grey levels of a PDF page rendered by poppler (independent of Skia) */
function rasterise(pdf: string): Uint8Array {
  const base = path.join(dir, `r-${path.basename(pdf)}`);
  execFileSync('pdftoppm', ['-gray', '-r', '60', '-singlefile', pdf, base]);
  const buf = fs.readFileSync(`${base}.pgm`);
  const header = buf.subarray(0, 40).toString('latin1').split(/\s+/);
  const [w, h] = [Number(header[1]), Number(header[2])];
  return buf.subarray(buf.length - w * h);
}

describe.each(CHART_KINDS)('chart %s', (kind) => {
  test('config through the contract is JSON-only and styled from one palette', async () => {
    const r = (await engine.call('charts.config', { sessionPath: session, kind, options: { preset: 'double' } })) as ChartConfigResult;
    expect(JSON.parse(JSON.stringify(r.config))).toEqual(r.config);
    expect(r.widthPt).toBe(7 * 72);
    expect(r.plot.series.length).toBeGreaterThan(0);
    expect(r.plot.series.every((s) => s.points.length > 0)).toBe(true);
  });

  test('SVG is a vector figure with the series and text as text', async () => {
    const r = await exp(kind, 'svg');
    const svg = fs.readFileSync(r.path!, 'utf8');
    keep(r.path!);
    const errors: string[] = [];
    const doc = new DOMParser({ errorHandler: { warning: () => {}, error: (m: string) => void errors.push(m), fatalError: (m: string) => void errors.push(m) } }).parseFromString(svg, 'image/svg+xml');
    expect(errors).toEqual([]);
    expect(doc.documentElement.getAttribute('width')).toBe('3.500in');
    // Skia writes a long label as several <text> runs (one per word) and may use ligature glyphs (ﬁ)
    const allText = Array.from(doc.getElementsByTagName('text')).map((t) => t.textContent ?? '').join(' ').normalize('NFKC').replace(/\s+/g, ' ');
    const { plot, config } = (await engine.call('charts.config', { sessionPath: session, kind })) as ChartConfigResult;
    // a count axis is titled in the unit its data needs ("(M)" for these toy series; the data stay in billions)
    const xTitle = String((config as { options: { scales: { x: { title: { text: string } } } } }).options.scales.x.title.text).normalize('NFKC');
    if (!plot.xMagnitude) expect(xTitle).toBe(plot.xLabel.normalize('NFKC'));
    expect(allText).toContain(xTitle);
    expect(allText).toContain(plot.yLabel.normalize('NFKC'));
    expect(doc.getElementsByTagName('image').length).toBe(0); // no raster inside
    expect(allText.split(xTitle)).toHaveLength(2); // drawn once
    // every text names its face and fallbacks, ending in the generic family: a viewer without DejaVu Sans took its
    // default (a serif) when the SVG named DejaVu Sans alone
    const families = new Set(Array.from(doc.getElementsByTagName('text')).map((t) => t.getAttribute('font-family')));
    expect(families.size).toBe(1);
    expect([...families][0]).toMatch(/^'[^',]+'(, '[^',]+')+, sans-serif$/); // 'DejaVu Sans', 'Liberation Sans', 'Arial', 'Helvetica', sans-serif
    const paths = Array.from(doc.getElementsByTagName('path'));
    // every plotted series is drawn in its Okabe–Ito colour (heatmap cells: viridis, many rectangles)
    if (plot.heatmap) expect(paths.length + doc.getElementsByTagName('rect').length).toBeGreaterThan(plot.heatmap.rows * plot.heatmap.cols);
    else
      for (const s of plot.series.filter((x) => x.role === 'measured')) {
        const c = OKABE_ITO[s.group % OKABE_ITO.length].toUpperCase();
        const col = (v: string | null) => ({ BLACK: '#000000', WHITE: '#FFFFFF' })[(v ?? '').toUpperCase()] ?? (v ?? '').toUpperCase();
        const drawn = paths.filter((p) => col(p.getAttribute('fill')) === c || col(p.getAttribute('stroke')) === c);
        expect(drawn.length, `series ${s.label}`).toBeGreaterThan(0);
      }
  });

  test('PDF is vector, embeds its font and renders (pdftoppm) to a non-blank page', async () => {
    const r = await exp(kind, 'pdf', { preset: 'double' });
    keep(r.path!, `${kind}-double.pdf`);
    const raw = fs.readFileSync(r.path!).toString('latin1');
    expect(raw.startsWith('%PDF-')).toBe(true);
    expect(raw).toMatch(/\/FontFile2|\/FontFile3/);
    expect(raw).not.toMatch(/\/Subtype\s*\/Image/);
    const px = rasterise(r.path!);
    const mean = px.reduce((a, b) => a + b, 0) / px.length;
    const variance = px.reduce((a, b) => a + (b - mean) ** 2, 0) / px.length;
    const ink = px.filter((v) => v < 200).length / px.length;
    expect(variance).toBeGreaterThan(100);
    expect(ink).toBeGreaterThan(0.01);
    execFileSync('pdftoppm', ['-png', '-r', '150', '-singlefile', r.path!, path.join(ARTIFACTS, `${kind}-double-pdf`)]);
  });

  test('CSV and JSON round-trip the plotted numbers; pgfplots has the data inline', async () => {
    const { plot } = (await engine.call('charts.config', { sessionPath: session, kind })) as ChartConfigResult;
    const csvText = fs.readFileSync((await exp(kind, 'csv')).path!, 'utf8');
    // '# ' header lines name the session and each run shown, then the table
    const comments = csvText.split('\n').filter((l) => l.startsWith('# '));
    expect(comments[1]).toBe(`# session: ${plot.provenance!.session} (${session})`);
    for (const r of plot.provenance!.runs) expect(comments).toContain(`# run ${r.id}: ${r.label}`);
    const csv = parseCsv(csvText.split('\n').filter((l) => !l.startsWith('# ')).join('\n'));
    const points = plot.series.flatMap((s) => s.points.map((p) => ({ s: s.id, ...p })));
    expect(csv.length).toBe(points.length);
    csv.forEach((row, i) => {
      expect(row.series).toBe(points[i].s);
      expect(Number(row.x)).toBe(points[i].x);
      expect(row.y === '' ? null : Number(row.y)).toBe(points[i].y);
    });
    const json = JSON.parse(fs.readFileSync((await exp(kind, 'json')).path!, 'utf8'));
    expect(json.series).toEqual(plot.series);
    const texFile = (await exp(kind, 'tex')).path!;
    keep(texFile);
    const tex = fs.readFileSync(texFile, 'utf8');
    expect(tex).toMatch(/\\documentclass\[border=2pt\]\{standalone\}[\s\S]*\\begin\{axis\}[\s\S]*\\end\{document\}/);
    // a count x axis is written in the unit its label names (K/M/B/T, as in the SVG/PDF figures): x × magnitude / unit
    const unitLetter = plot.xMagnitude ? /xlabel=\{[^}]*\(([KMBT])\)\}/.exec(tex)?.[1] : undefined;
    const f = plot.xMagnitude && unitLetter ? plot.xMagnitude / { K: 1e3, M: 1e6, B: 1e9, T: 1e12 }[unitLetter]! : 1;
    const sx = (x: number) => (f === 1 ? x : +(x * f).toPrecision(15));
    const m = plot.series.find((s) => s.role === 'measured' || s.role === 'cells') ?? plot.series[0];
    for (const p of m.points.slice(0, 5)) expect(tex).toContain(`${sx(p.x)} ${p.y}`);
    expect(tex).not.toMatch(/[^\x00-\x7e]/); // pdflatex-safe
    // parsed as LaTeX (no TeX needed): structure, macros, \addplot forms and keys, and the tables are the plotted data
    const tables = checkPgfplots(tex);
    const drawn = plot.series.filter((s) => s.role !== 'band-low' && s.role !== 'band-high' && s.points.length);
    for (const s of drawn) {
      const want = s.points.map((p) => (s.role === 'cells' ? [sx(p.x), p.y ?? NaN, p.v ?? NaN] : [sx(p.x), p.y ?? NaN]));
      expect(tables.some((t) => JSON.stringify(t.rows) === JSON.stringify(want)), `${kind}: table of ${s.id}`).toBe(true);
    }
    if (LATEX) {
      // compile it; without the standalone class installed, the same body in an article
      const src = STANDALONE ? tex : tex.replace('\\documentclass[border=2pt]{standalone}', '\\documentclass{article}\\pagestyle{empty}');
      const texDir = fs.mkdtempSync(path.join(dir, 'tex-'));
      fs.writeFileSync(path.join(texDir, 'fig.tex'), src);
      execFileSync('pdflatex', ['-interaction=nonstopmode', '-halt-on-error', 'fig.tex'], { cwd: texDir, stdio: 'ignore', timeout: 60_000 });
      expect(fs.statSync(path.join(texDir, 'fig.pdf')).size).toBeGreaterThan(1000);
    }
  });
});

describe('plotted values against the session (independent computation)', () => {
  test('activation vs tokens: measured points are the runs, fitted curve is the stored law, warm-up marked', async () => {
    const { plot } = (await engine.call('charts.config', { sessionPath: session, kind: 'activation-vs-tokens' })) as ChartConfigResult;
    const relu2 = plot.series.find((s) => s.id === 'relu-0.2b')!;
    const runs = fixture.checkpoints.filter((c) => c.series === 'relu-0.2b').map((c) => ({ D: c.tokensTrained! / 1e9, A: fixture.runs.find((r) => r.checkpointId === c.id)!.activationRatio! }));
    expect(relu2.points.map((p) => [p.x, p.y])).toEqual(runs.map((r) => [r.D, r.A * 100]));
    const fit = plot.series.find((s) => s.id === 'silu-0.1b:fit')!;
    for (const p of fit.points) expect(p.y!).toBeCloseTo(100 * SILU(p.x, 0.409), 10);
    const reluFit = plot.series.find((s) => s.id === 'relu-0.1b:fit')!;
    for (const p of reluFit.points) expect(p.y!).toBeCloseTo(100 * RELU(p.x, 0.0614), 10);
    const dropped = plot.series.find((s) => s.id === 'relu-0.1b:dropped')!;
    expect(dropped.points.map((p) => p.x)).toEqual([5]);
    expect(plot.series.find((s) => s.id === 'relu-0.1b')!.points.map((p) => p.x)).not.toContain(5);
  });

  test('convergence is −dA/dD of the law, against a finite difference of the closed form', async () => {
    const { plot } = (await engine.call('charts.config', { sessionPath: session, kind: 'convergence' })) as ChartConfigResult;
    const s = plot.series.find((x) => x.id === 'relu-0.1b')!;
    const N = 11.5 * 768 * 768 * 16;
    for (const p of s.points.filter((_, i) => i % 10 === 0)) {
      const D = (p.x * N) / 1e9;
      const h = 1e-4 * D;
      expect(p.y!).toBeCloseTo(-(RELU(D + h, 0.0614) - RELU(D - h, 0.0614)) / (2 * h), 7);
    }
    expect(s.points.every((p) => p.y! > 0)).toBe(true); // ReLU sparsity rises (paper Fig. 8)
    expect(plot.series.find((x) => x.id === 'silu-0.1b')!.points.every((p) => p.y! < 0)).toBe(true);
  });

  test('neuron frequency is sorted descending and spans 0–100 % of neurons', async () => {
    const { plot } = (await engine.call('charts.config', { sessionPath: session, kind: 'neuron-frequency' })) as ChartConfigResult;
    const pts = plot.series[0].points;
    const sorted = [...fixture.runs.find((r) => r.id === 'heat')!.neuronFrequency!].sort((a, b) => b - a);
    expect(pts[0].y).toBe(sorted[0] * 100);
    expect(pts.at(-1)!.y).toBe(sorted.at(-1)! * 100);
    expect(pts[0].x).toBe(0);
    expect(pts.at(-1)!.x).toBe(100);
    for (let i = 1; i < pts.length; i++) expect(pts[i].y!).toBeLessThanOrEqual(pts[i - 1].y!);
  });
});

describe('export details and bad input', () => {
  test('PNG at 300 dpi is 3.5 in wide (1050 px) and records its dpi', async () => {
    const r = await exp('pareto', 'png');
    keep(r.path!, 'pareto-single-300dpi.png');
    expect(r.widthPx).toBe(1050);
    const png = fs.readFileSync(r.path!);
    expect(png.readUInt32BE(16)).toBe(1050);
    const phys = png.indexOf('pHYs');
    expect(phys).toBeGreaterThan(0);
    expect(png.readUInt32BE(phys + 4)).toBe(Math.round(300 * 39.3701));
    const r2 = await exp('pareto', 'png', { preset: 'double', dpi: 150 });
    expect(r2.widthPx).toBe(7 * 150);
  });

  test('each kind with no data in the session says what is missing', async () => {
    const empty = path.join(dir, 'empty.json');
    fs.writeFileSync(empty, JSON.stringify({ checkpoints: [], runs: [] }));
    for (const kind of CHART_KINDS) {
      const err = (await engine.call('charts.config', { sessionPath: empty, kind }).catch((e) => e)) as { code: string; message: string };
      expect(err.code, kind).toBe('NOT_FOUND');
      expect(err.message).toMatch(/no |needs /);
    }
  });

  test('an unwritable output path is a clear error, not a crash', async () => {
    const e1 = await exp('pareto', 'pdf', { out: path.join(dir, 'missing-dir', 'x.pdf') }).catch((e) => e);
    expect(e1.code).toBe('NOT_FOUND');
    expect(e1.message).toMatch(/missing-dir does not exist/);
    fs.writeFileSync(path.join(dir, 'afile'), 'x');
    const e2 = await exp('pareto', 'svg', { out: path.join(dir, 'afile', 'x.svg') }).catch((e) => e);
    expect(e2.message).toMatch(/is not a folder/);
    const e3 = await exp('pareto', 'svg', { out: dir }).catch((e) => e);
    expect(e3.message).toMatch(/it is a folder/);
  });

  test('a damaged session file and a wrong kind are clear errors', async () => {
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, '{"checkpoints": [}');
    await expect(engine.call('charts.config', { sessionPath: bad, kind: 'pareto' })).rejects.toMatchObject({ code: 'BAD_DATA', message: expect.stringContaining('bad.json') });
    fs.writeFileSync(bad, JSON.stringify({ checkpoints: [{ id: 1 }], runs: [] }));
    await expect(engine.call('charts.config', { sessionPath: bad, kind: 'pareto' })).rejects.toMatchObject({ code: 'BAD_DATA' });
    await expect(engine.call('charts.config', { sessionPath: session, kind: 'pie' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  test('chart settings are saved in the session and come back', async () => {
    const copy = path.join(dir, 'settings.json');
    fs.copyFileSync(session, copy);
    expect(await engine.call('charts.settings.get', { sessionPath: copy, kind: 'pareto' })).toEqual({ options: null });
    const options = { preset: 'double', yScale: 'log', fontSize: 10, series: ['relu-0.1b 300B · CETT'] };
    await engine.call('charts.settings.save', { sessionPath: copy, kind: 'pareto', options });
    expect(await engine.call('charts.settings.get', { sessionPath: copy, kind: 'pareto' })).toEqual({ options });
    const { plot } = (await engine.call('charts.config', { sessionPath: copy, kind: 'pareto', options: options as never })) as ChartConfigResult;
    expect(plot.yScale).toBe('log');
    expect(plot.series.map((s) => s.id)).toEqual(['relu-0.1b 300B · CETT']);
    // every candidate stays pickable while a subset is shown
    expect(plot.choices).toEqual(expect.arrayContaining(['relu-0.1b 300B · CETT', 'relu-0.1b 300B · Top-k', 'silu-0.1b 300B · FAT-ε']));
  });
});

describe('CLI', () => {
  const cli = (args: string[]) => {
    try {
      return { code: 0, out: execFileSync(process.execPath, [path.resolve(__dirname, '../../bin/sparsity-lab'), 'export', ...args], { encoding: 'utf8', stdio: 'pipe' }) };
    } catch (e) {
      const err = e as { status: number; stderr: string };
      return { code: err.status, out: err.stderr };
    }
  };
  test('export writes the figure the contract writes; bad input exits non-zero with the reason', async () => {
    const out = path.join(dir, 'cli.pdf');
    const r = cli([session, '--chart', 'cett-sweep', '--format', 'pdf', '--out', out, '--preset', 'double']);
    expect(r.code).toBe(0);
    expect(r.out).toContain(out);
    expect(fs.readFileSync(out).subarray(0, 5).toString()).toBe('%PDF-');
    const csv = path.join(dir, 'cli.csv');
    expect(cli([session, '--chart', 'pareto', '--out', csv]).code).toBe(0); // format from the extension
    const viaContract = await exp('pareto', 'csv');
    expect(fs.readFileSync(csv, 'utf8')).toBe(fs.readFileSync(viaContract.path!, 'utf8'));
    const bad = cli([session, '--chart', 'pareto', '--format', 'png', '--out', path.join(dir, 'nope', 'x.png')]);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/nope does not exist/);
    expect(cli([session, '--chart', 'pie', '--out', out]).code).toBe(2);
  });
});

describe('series without a stored fit', () => {
  test('are fitted by the laws module; the curve follows the law the points were drawn from', async () => {
    const snap = chartFixture();
    snap.fits = snap.fits!.filter((f) => f.series !== 'relu-0.2b' && f.series !== 'silu-0.2b');
    const file = path.join(dir, 'nofit.json');
    fs.writeFileSync(file, JSON.stringify(snap));
    const { plot } = (await engine.call('charts.config', { sessionPath: file, kind: 'activation-vs-tokens' })) as ChartConfigResult;
    for (const [id, law, A0] of [['relu-0.2b', RELU, 0.0674], ['silu-0.2b', SILU, 0.39]] as const) {
      const fit = plot.series.find((s) => s.id === `${id}:fit`);
      expect(fit, id).toBeDefined();
      // points carry 1% noise: the fitted curve stays within 3% (relative) of the true law over the data
      for (const p of fit!.points) expect(Math.abs(p.y! - 100 * law(p.x, A0)) / (100 * law(p.x, A0))).toBeLessThan(0.03);
    }
    // and the fitted limits feed the limit charts
    const lp = (await engine.call('charts.config', { sessionPath: file, kind: 'limit-vs-params' })) as ChartConfigResult;
    expect(lp.plot.series.find((s) => s.id === 'SiLU')!.points).toHaveLength(2);
  });

  test('the width-depth bottleneck is fitted when the session stores none (one activation family picked)', async () => {
    const snap = chartFixture();
    delete snap.widthDepthFit;
    const file = path.join(dir, 'nowd.json');
    fs.writeFileSync(file, JSON.stringify(snap));
    const relu = ['relu-0.1b', 'relu-0.2b', 'relu-wd14', 'relu-wd114', 'relu-wd384'];
    const { plot } = (await engine.call('charts.config', { sessionPath: file, kind: 'limit-vs-width-depth', options: { series: relu } })) as ChartConfigResult;
    // fixture A0 rises from d_h/L = 14 to 114 and is flat after: the bottleneck lies between the neighbours of the bend
    expect(plot.vlines?.[0].x).toBeGreaterThan(51.2);
    expect(plot.vlines?.[0].x).toBeLessThan(384);
    expect(plot.series.some((s) => s.id === 'piecewise')).toBe(true);
    // both families together: no single bottleneck law, so none is drawn
    const both = (await engine.call('charts.config', { sessionPath: file, kind: 'limit-vs-width-depth' })) as ChartConfigResult;
    expect(both.plot.vlines).toBeUndefined();
  });
});

describe('the pgfplots check can fail', () => {
  const good = ['\\documentclass{standalone}', '\\usepackage{pgfplots}', '\\begin{document}', '\\begin{tikzpicture}', '\\begin{axis}[xlabel={x}]', '\\addplot[color=lab0, mark=*] table[row sep=\\\\] {', 'x y\\\\', '1 2\\\\', '}', ';', '\\end{axis}', '\\end{tikzpicture}', '\\end{document}'].join('\n');
  test('a well-formed file passes and its table reads back', () => {
    expect(checkPgfplots(good)).toEqual([{ header: ['x', 'y'], rows: [[1, 2]] }]);
  });
  test.each([
    ['an environment closed by the wrong \\end', good.replace('\\end{axis}', '\\end{tikzpicture}')],
    ['an unbalanced brace', good.replace('xlabel={x}', 'xlabel={x')],
    ['a misspelt macro', good.replace('\\addplot', '\\adplot')],
    ['an empty mark', good.replace('mark=*', 'mark=')],
    ['an unknown key', good.replace('mark=*', 'mrak=*')],
    ['a row of the wrong width', good.replace('1 2\\\\', '1 2 3\\\\')],
    ['no axis', good.replace('\\begin{axis}[xlabel={x}]', '').replace('\\end{axis}', '')],
  ])('%s fails', (_what, bad) => {
    expect(() => checkPgfplots(bad)).toThrow(/pgfplots check/);
  });
});
