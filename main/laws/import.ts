/**
 * Points measured elsewhere, from CSV or JSON, for the law fits. Columns: tokens (raw count; alias
 * token_passed), activation_ratio (fraction in [0, 1]); optional series, params, width, depth, activation.
 * Every bad row is reported (file:line, column, value, problem) in one BAD_DATA error; nothing is skipped
 * silently (only blank lines, which carry no row). JSON: an array of row objects, { "points": [...] }, or
 * the authors' column form { "token_passed": [...], "activation_ratio": [...] } (SparsingLawData data/*.txt);
 * JSON errors cite the row index instead of a line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';
import { MAX_LAW_POINTS, type LawPoint, type RowError } from '../api/domains/laws';
import { MAX_TOKENS } from './fit';
export type { LawPoint, RowError };



const ALIASES: Record<string, string> = { tokens: 'tokens', token_passed: 'tokens', tokens_trained: 'tokens', activation_ratio: 'activation_ratio', series: 'series', params: 'params', parameters: 'params', width: 'width', hidden_size: 'width', depth: 'depth', num_layers: 'depth', layers: 'depth', activation: 'activation' };
const NUMERIC = ['tokens', 'activation_ratio', 'params', 'width', 'depth'];
const MAX_BYTES = 64 * 2 ** 20;

/** RFC 4180 CSV: quoted fields with "" escapes and embedded newlines; each record keeps its first line number. */
export function parseCsv(text: string): { line: number; fields: string[] }[] {
  const out: { line: number; fields: string[] }[] = [];
  let line = 1;
  let i = 0;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  const delim = sniff(text);
  while (i < text.length) {
    const start = line;
    const fields: string[] = [];
    let field = '';
    let quoted = false;
    let wasQuoted = false;
    for (; i < text.length; i++) {
      const ch = text[i];
      if (quoted) {
        if (ch === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i++;
          } else quoted = false;
        } else {
          if (ch === '\n') line++;
          field += ch;
        }
      } else if (ch === '"' && field.trim() === '') {
        quoted = true;
        wasQuoted = true;
        field = '';
      } else if (ch === delim) {
        fields.push(wasQuoted ? field : field.trim());
        field = '';
        wasQuoted = false;
      } else if (ch === '\n' || ch === '\r') {
        if (ch === '\r' && text[i + 1] === '\n') i++;
        i++;
        line++;
        break;
      } else field += ch;
    }
    if (quoted) throw new LabError('BAD_DATA', `line ${start}: a quoted field is never closed`);
    fields.push(wasQuoted ? field : field.trim());
    if (!(fields.length === 1 && fields[0] === '')) out.push({ line: start, fields });
  }
  return out;
}

function sniff(text: string): string {
  const first = text.slice(0, text.search(/\r?\n|$/));
  return !first.includes(',') && first.includes('\t') ? '\t' : !first.includes(',') && first.includes(';') ? ';' : ',';
}

function parseNumber(s: string): number | undefined {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s.trim())) return undefined;
  return Number(s);
}

/** One row (column → raw value) into a point; problems are pushed to `errors`. */
function toPoint(raw: Record<string, unknown>, where: Omit<RowError, 'column' | 'value' | 'problem'>, source: string, errors: RowError[]): LawPoint | undefined {
  const before = errors.length;
  const bad = (column: string, value: unknown, problem: string) => errors.push({ ...where, column, value: String(value), problem });
  const num: Record<string, number> = {};
  for (const col of NUMERIC) {
    const v = raw[col];
    if (v === undefined || v === null || v === '') {
      if (col === 'tokens' || col === 'activation_ratio') bad(col, '', 'missing value');
      continue;
    }
    const n = typeof v === 'number' ? v : typeof v === 'string' ? parseNumber(v) : undefined;
    if (n === undefined || !Number.isFinite(n)) {
      bad(col, v, 'not a finite number');
      continue;
    }
    num[col] = n;
  }
  if (num.tokens !== undefined && num.tokens < 0) bad('tokens', num.tokens, 'negative tokens');
  if (num.tokens !== undefined && num.tokens > MAX_TOKENS) bad('tokens', num.tokens, `beyond ${MAX_TOKENS.toExponential()} tokens (no training run is that long): another unit?`);
  if (num.activation_ratio !== undefined && (num.activation_ratio < 0 || num.activation_ratio > 1))
    bad('activation_ratio', num.activation_ratio, `outside [0, 1]${num.activation_ratio > 1 && num.activation_ratio <= 100 ? ' (a percentage? divide by 100)' : ''}`);
  for (const col of ['params', 'width', 'depth']) if (num[col] !== undefined && num[col] <= 0) bad(col, num[col], 'must be > 0');
  for (const col of ['series', 'activation']) if (raw[col] !== undefined && raw[col] !== null && typeof raw[col] !== 'string' && typeof raw[col] !== 'number') bad(col, JSON.stringify(raw[col]), 'not text');
  if (errors.length > before) return undefined;
  const p: LawPoint = { tokens: num.tokens, activationRatio: num.activation_ratio, source };
  const str = (v: unknown) => (v === undefined || v === null || v === '' ? undefined : String(v));
  if (str(raw.series)) p.series = str(raw.series);
  if (str(raw.activation)) p.activation = str(raw.activation);
  if (num.params !== undefined) p.params = num.params;
  if (num.width !== undefined) p.width = num.width;
  if (num.depth !== undefined) p.depth = num.depth;
  return p;
}

/** Issue 19: the points a fit request may carry (main/api/domains/laws.ts); a bigger file is refused at import, not after minutes of fitting. */
export const tooMany = (file: string, n: number) => `${file} has ${n} rows; a fit takes at most ${MAX_LAW_POINTS} points: thin the series or split the file`;

function fail(file: string, errors: RowError[]): never {
  const where = (e: RowError) => (e.line !== undefined ? `${file}:${e.line}` : `${file}[${e.index}]`);
  const shown = errors.slice(0, 20).map((e) => `${where(e)}: column ${e.column}, value '${e.value}': ${e.problem}`);
  if (errors.length > 20) shown.push(`… and ${errors.length - 20} more bad row(s)`);
  throw new LabError('BAD_DATA', `${errors.length} bad value(s) in ${file}:\n${shown.join('\n')}`, { errors });
}

/** First line of the lab's own chart CSV export (main/charts/tabular.ts): '# Sparsity Lab chart <kind>: <title>'. */
const CHART_CSV = /^\uFEFF?# Sparsity Lab chart ([\w-]+):/;

/**
 * The lab's activation-vs-tokens chart CSV (columns series,label,role,axis,x,y,v,run; x = tokens trained in billions,
 * y = activation ratio in %): its measured and warm-up points as law points (tokens raw, ratio as a fraction), the
 * fitted curve and band rows left out. Any other chart kind is refused, naming the one that has such points.
 */
function pointsFromChartCsv(kind: string, text: string, file: string): LawPoint[] {
  if (kind !== 'activation-vs-tokens') throw new LabError('BAD_DATA', `${file} is the lab's '${kind}' chart export; fit reads the 'activation-vs-tokens' chart's CSV (or a tokens,activation_ratio table)`);
  const lines = text.split(/\r?\n/);
  const body = lines.map((l) => (l.startsWith('#') || l.startsWith('\uFEFF#') ? '' : l)).join('\n'); // keep line numbers
  const rows = parseCsv(body).filter((r) => r.fields.some((f) => f !== ''));
  const head = rows[0]?.fields ?? [];
  const col = (n: string) => head.indexOf(n);
  if (['series', 'role', 'x', 'y'].some((n) => col(n) < 0)) throw new LabError('BAD_DATA', `${file}: the chart export's header lacks series, role, x or y`);
  const out: LawPoint[] = [];
  // a line's label is '<series> (<activation>)' when the session knows its checkpoints' activation (main/charts/data.ts):
  // the fit's form follows it as on the Laws page, instead of being guessed from the trend
  const activation = new Map<string, string>();
  if (col('label') >= 0)
    for (const r of rows.slice(1)) {
      const series = r.fields[col('series')];
      const m = r.fields[col('role')] === 'measured' ? /^(.*) \(([\w-]+)\)$/.exec(r.fields[col('label')] ?? '') : null;
      if (m && m[1] === series) activation.set(series, m[2]);
    }
  for (const r of rows.slice(1)) {
    const role = r.fields[col('role')];
    if (role !== 'measured' && role !== 'dropped') continue;
    const x = Number(r.fields[col('x')]);
    const y = Number(r.fields[col('y')]);
    if (!Number.isFinite(x) || !Number.isFinite(y) || x < 0 || y < 0 || y > 100) throw new LabError('BAD_DATA', `${file}:${r.line}: x (billions of tokens) and y (activation %) must be numbers, y within 0–100`);
    const series = r.fields[col('series')].replace(/:dropped$/, '');
    const act = activation.get(series);
    out.push({ tokens: Math.round(x * 1e9), activationRatio: y / 100, series, ...(act ? { activation: act } : {}), source: `${file}:${r.line}` });
  }
  if (!out.length) throw new LabError('BAD_DATA', `${file}: the chart export has no measured points`);
  if (out.length > MAX_LAW_POINTS) throw new LabError('BAD_DATA', tooMany(file, out.length));
  return out;
}

export function pointsFromCsv(text: string, file = 'points.csv'): LawPoint[] {
  const chart = CHART_CSV.exec(text);
  if (chart) return pointsFromChartCsv(chart[1], text, file);
  let rows;
  try {
    rows = parseCsv(text);
  } catch (e) {
    throw new LabError('BAD_DATA', `${file}: ${(e as Error).message}`);
  }
  if (rows.length === 0) throw new LabError('BAD_DATA', `${file} is empty: expected a header line with tokens,activation_ratio`);
  if (rows.length - 1 > MAX_LAW_POINTS) throw new LabError('BAD_DATA', tooMany(file, rows.length - 1));
  const header = rows[0].fields.map((h) => ALIASES[h.trim().toLowerCase()] ?? `?${h}`);
  for (const need of ['tokens', 'activation_ratio'])
    if (!header.includes(need)) {
      // name only the columns this reader knows: the first line of a file picked by mistake (a system file) is never echoed
      const known = header.filter((h) => !h.startsWith('?'));
      throw new LabError('BAD_DATA', `${file}:${rows[0].line}: missing column '${need}' in the header (the first line has ${rows[0].fields.length} field(s)${known.length ? `; known columns: ${known.join(', ')}` : ', none of them a known column: is this a points table?'})`);
    }
  const errors: RowError[] = [];
  const points: LawPoint[] = [];
  for (const r of rows.slice(1)) {
    if (r.fields.length !== header.length) {
      errors.push({ file, line: r.line, column: '*', value: `(${r.fields.length} fields)`, problem: `${r.fields.length} field(s), the header has ${header.length}` });
      continue;
    }
    const raw: Record<string, unknown> = {};
    header.forEach((h, i) => (raw[h] = r.fields[i]));
    const p = toPoint(raw, { file, line: r.line }, `${file}:${r.line}`, errors);
    if (p) points.push(p);
  }
  if (errors.length) fail(file, errors);
  if (points.length === 0) throw new LabError('BAD_DATA', `${file} has a header but no rows`);
  return points;
}

export function pointsFromJson(text: string, file = 'points.json'): LawPoint[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new LabError('BAD_DATA', `${file} is not valid JSON: ${(e as Error).message}`);
  }
  let rows: unknown[];
  if (Array.isArray(data)) rows = data;
  else if (data && typeof data === 'object' && Array.isArray((data as { points?: unknown }).points)) rows = (data as { points: unknown[] }).points;
  else if (data && typeof data === 'object') {
    // column form: { token_passed|tokens: [...], activation_ratio: [...], series?: "name" }
    const o = data as Record<string, unknown>;
    const t = o.token_passed ?? o.tokens;
    const a = o.activation_ratio;
    if (!Array.isArray(t) || !Array.isArray(a)) throw new LabError('BAD_DATA', `${file}: expected an array of points, { "points": [...] }, or { "tokens": [...], "activation_ratio": [...] } (missing column 'tokens' or 'activation_ratio')`);
    if (t.length !== a.length) throw new LabError('BAD_DATA', `${file}: tokens has ${t.length} values but activation_ratio has ${a.length}`);
    rows = t.map((v, i) => ({ tokens: v, activation_ratio: a[i], series: o.series, activation: o.activation, params: o.params, width: o.width, depth: o.depth }));
  } else throw new LabError('BAD_DATA', `${file}: expected an array of points or an object`);
  if (rows.length > MAX_LAW_POINTS) throw new LabError('BAD_DATA', tooMany(file, rows.length));
  const errors: RowError[] = [];
  const points: LawPoint[] = [];
  rows.forEach((r, index) => {
    if (!r || typeof r !== 'object' || Array.isArray(r)) return void errors.push({ file, index, column: '*', value: JSON.stringify(r) ?? String(r), problem: 'not an object' });
    const raw: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r)) {
      const key = ALIASES[k.toLowerCase()] ?? (k === 'activationRatio' ? 'activation_ratio' : undefined);
      if (key) raw[key] = v;
    }
    const p = toPoint(raw, { file, index }, `${file}[${index}]`, errors);
    if (p) points.push(p);
  });
  if (errors.length) fail(file, errors);
  if (points.length === 0) throw new LabError('BAD_DATA', `${file} has no points`);
  return points;
}

/** Read a .csv / .json / .txt (JSON) file of points. */
export function readPointsFile(file: string): LawPoint[] {
  let st;
  try {
    st = fs.statSync(file);
  } catch {
    throw new LabError('NOT_FOUND', `points file ${file} does not exist`);
  }
  if (!st.isFile()) throw new LabError('BAD_DATA', `${file} is not a file`);
  if (st.size > MAX_BYTES) throw new LabError('BAD_DATA', `${file} is ${st.size} bytes; points files are limited to ${MAX_BYTES} bytes`);
  const text = fs.readFileSync(file, 'utf8');
  const name = path.basename(file);
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json' || (ext !== '.csv' && ext !== '.tsv' && /^\s*[[{]/.test(text))) return pointsFromJson(text, name);
  return pointsFromCsv(text, name);
}
