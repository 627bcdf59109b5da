import { parseArgs } from 'node:util';
import type { CliCommand } from './commands';
import { CHART_KINDS, EXPORT_FORMATS, type ChartKind, type ExportFormat } from '../api/domains/charts';
import { LabError } from '../api/errors';

const USAGE = `usage: sparsity-lab export <session> --chart <kind> --format png|svg|pdf|csv|json|tex --out <file>
                          [--preset single|double] [--dpi 300] [--font-family F] [--font-size PT]
                          [--x-scale linear|log] [--y-scale linear|log] [--series a,b] [--run ID] [--json] [--overwrite]
Renders a chart of the session in Node (no browser) with the same styling as the app.
<session> is a .sparsitylab session file or a chart snapshot .json.
--out must be a new file in an existing folder; --overwrite replaces an existing file of the same type.
chart kinds: ${CHART_KINDS.join(', ')}`;

const num = (flag: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = v.trim() === '' ? NaN : Number(v); // Number('') is 0
  if (!Number.isFinite(n)) throw new LabError('BAD_REQUEST', `${flag} must be a number, got '${v}'`);
  return n;
};

export const exportCommand: CliCommand = {
  summary: 'export a chart of a session as PNG/SVG/PDF or its data as CSV/JSON/pgfplots',
  async run(argv, engine) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        chart: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' }, preset: { type: 'string' }, dpi: { type: 'string' },
        'font-family': { type: 'string' }, 'font-size': { type: 'string' }, 'x-scale': { type: 'string' }, 'y-scale': { type: 'string' },
        series: { type: 'string' }, run: { type: 'string' }, title: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' }, overwrite: { type: 'boolean' },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const session = positionals[0];
    if (!session || !values.chart || !values.out) {
      console.error(USAGE);
      return 2;
    }
    if (!(CHART_KINDS as readonly string[]).includes(values.chart)) throw new LabError('BAD_REQUEST', `unknown chart '${values.chart}'; one of: ${CHART_KINDS.join(', ')}`);
    const format = (values.format ?? values.out.split('.').pop()?.toLowerCase()) as ExportFormat;
    if (!(EXPORT_FORMATS as readonly string[]).includes(format)) throw new LabError('BAD_REQUEST', `unknown format '${format}'; one of: ${EXPORT_FORMATS.join(', ')}`);
    // the engine validates every field (presets, dpi range, scales) against the contract's schema
    const res = await engine.call('charts.export', {
      sessionPath: session,
      kind: values.chart as ChartKind,
      format,
      out: values.out,
      overwrite: values.overwrite === true, // an existing file is replaced only when asked (and only one of its type)
      preset: values.preset,
      dpi: num('--dpi', values.dpi),
      options: {
        fontFamily: values['font-family'],
        fontSize: num('--font-size', values['font-size']),
        xScale: values['x-scale'],
        yScale: values['y-scale'],
        series: values.series?.split(',').map((s) => s.trim()).filter(Boolean),
        run: values.run,
        title: values.title,
      },
    });
    const r = res as { path: string; bytes: number; widthPx?: number; heightPx?: number };
    if (values.json) console.log(JSON.stringify(r));
    else console.log(`wrote ${r.path} (${r.bytes} bytes${r.widthPx ? `, ${r.widthPx}×${r.heightPx} px` : ''})`);
    return 0;
  },
};
