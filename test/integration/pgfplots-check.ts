/**
 * A check of the pgfplots export that needs no TeX installation (CI has none): the file is parsed by a LaTeX parser
 * (@unified-latex), and then
 * - every environment is closed by its own \end and every brace is matched (the parser leaves unmatched ones as stray
 *   \begin/\end macros and "{"/"}" strings);
 * - the document is \documentclass … \begin{document}\begin{tikzpicture}\begin{axis}[…] … \end{document};
 * - only macros of LaTeX/pgfplots that the exporter means to use appear (a typo would fail pdflatex);
 * - every \addplot is `\addplot[options] table[…] {data};`, `coordinates {…}` or `fill between[…]`, with option keys
 *   pgfplots knows and marks it has; every table is a header row and numeric rows of its width.
 * Returns the tables (header and rows) in order, to compare with the plotted data.
 */
import { parse } from '@unified-latex/unified-latex-util-parse';

interface Node {
  type: string;
  content?: string | Node[];
  env?: string;
  args?: { content: Node[] }[];
  position?: { start: { offset: number }; end: { offset: number } };
}

const MACROS = new Set(['documentclass', 'usepackage', 'usepgfplotslibrary', 'pgfplotsset', 'definecolor', 'addplot', 'addlegendentry', 'addlegendimage', 'fontsize', 'selectfont', 'scriptsize', 'cdot', 'varepsilon', 'geq', 'leq', 'times', 'textbackslash', '\\', '{', '}', '$', '&', '#', '%', '_', '^', '~']);
const PLOT_KEYS = new Set(['color', 'mark', 'mark size', 'mark options', 'thick', 'only marks', 'forget plot', 'no markers', 'dashed', 'draw', 'name path', 'unbounded coords', 'fill', 'fill opacity', 'gray', 'black', 'matrix plot*', 'point meta', 'mesh/cols', 'mesh/rows', 'row sep', 'meta', 'of', 'x', 'y']);
const MARKS = new Set(['*', 'x', '+', '-', '|', 'o', 'asterisk', 'star', '10-pointed star', 'oplus', 'oplus*', 'otimes', 'otimes*', 'square', 'square*', 'triangle', 'triangle*', 'diamond', 'diamond*', 'halfdiamond*', 'halfsquare*', 'pentagon', 'pentagon*', 'Mercedes star', 'ball', 'none']);

/** top-level comma split of a key=value list ({…} groups kept whole) */
function keyvals(s: string): [string, string | undefined][] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '{') depth++;
    if (ch === '}') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out
    .map((kv) => kv.trim())
    .filter(Boolean)
    .map((kv) => {
      const i = kv.indexOf('=');
      return i < 0 ? [kv, undefined] : [kv.slice(0, i).trim(), kv.slice(i + 1).trim()];
    });
}

export function checkPgfplots(tex: string): { header: string[]; rows: number[][] }[] {
  const problems: string[] = [];
  const root = parse(tex) as unknown as Node;
  const macros = new Set<string>();
  const walk = (n: Node) => {
    if (n.type === 'macro' && typeof n.content === 'string') {
      macros.add(n.content);
      if (n.content === 'begin' || n.content === 'end') problems.push(`unmatched \\${n.content} at offset ${n.position?.start.offset}`);
    }
    if (n.type === 'string' && (n.content === '{' || n.content === '}')) problems.push(`unbalanced '${n.content}' at offset ${n.position?.start.offset}`);
    if (Array.isArray(n.content)) n.content.forEach(walk);
    for (const a of n.args ?? []) a.content.forEach(walk);
  };
  walk(root);
  for (const m of macros) if (!MACROS.has(m)) problems.push(`unexpected macro \\${m}`);
  const top = root.content as Node[];
  if (!top.some((n) => n.type === 'macro' && n.content === 'documentclass')) problems.push('no \\documentclass');
  const envs = (ns: Node[] | undefined, env: string) => (ns ?? []).filter((n) => n.type === 'environment' && n.env === env);
  const doc = envs(top, 'document');
  const pic = envs(doc[0]?.content as Node[], 'tikzpicture');
  const axes = envs(pic[0]?.content as Node[], 'axis');
  if (doc.length !== 1 || pic.length !== 1 || axes.length < 1) problems.push(`expected document > tikzpicture > axis, found ${doc.length} document, ${pic.length} tikzpicture, ${axes.length} axis`);
  const tables: { header: string[]; rows: number[][] }[] = [];
  for (const ax of axes) {
    const body = ax.content as Node[];
    // the axis options: [ … ] right after \begin{axis}
    const src = tex.slice(ax.position!.start.offset, ax.position!.end.offset);
    const opt = /^\\begin\{axis\}\s*\[([\s\S]*?)\]\s*\\addplot/.exec(src);
    if (!opt) problems.push('axis without options');
    body.forEach((n, i) => {
      if (n.type !== 'macro' || n.content !== 'addplot') return;
      const end = body.slice(i + 1).find((m) => m.type === 'string' && m.content === ';');
      if (!end) return void problems.push(`\\addplot at offset ${n.position!.start.offset} has no ';'`);
      const stmt = tex.slice(n.position!.start.offset, end.position!.end.offset);
      const m = /^\\addplot\s*\[([^\]]*(?:\{[^}]*\}[^\]]*)*)\]\s*(?:table\s*\[([^\]]*)\]\s*\{([\s\S]*)\}|coordinates\s*\{([^}]*)\}[\s\S]*|fill between\s*\[([^\]]*)\])\s*;$/.exec(stmt);
      if (!m) return void problems.push(`\\addplot not of a known form: ${stmt.slice(0, 120)}`);
      for (const [k, v] of [...keyvals(m[1]), ...keyvals(m[2] ?? '')]) {
        if (!PLOT_KEYS.has(k)) problems.push(`unknown \\addplot key '${k}' in ${stmt.slice(0, 80)}`);
        if (k === 'mark' && !MARKS.has(v ?? '')) problems.push(`unknown mark '${v}' in ${stmt.slice(0, 80)}`);
      }
      if (m[3] !== undefined) {
        const lines = m[3].split('\\\\').map((l) => l.trim()).filter(Boolean);
        const header = lines[0].split(/\s+/);
        const rows = lines.slice(1).map((l) => l.split(/\s+/).map((v) => (v === 'nan' ? NaN : Number(v))));
        rows.forEach((r, j) => {
          if (r.length !== header.length || r.some((v, c) => Number.isNaN(v) && lines[j + 1].split(/\s+/)[c] !== 'nan')) problems.push(`table row '${lines[j + 1]}' is not ${header.length} numbers`);
        });
        tables.push({ header, rows });
      }
    });
  }
  if (problems.length) throw new Error(`pgfplots check:\n${problems.join('\n')}`);
  return tables;
}
