/**
 * The fit table of the Laws page (issue 18) as CSV and LaTeX: one row per series with its form, A₀ and every
 * parameter with its confidence interval, R², RMSE, points fitted and warm-up points dropped.
 */
import type { LawPoint, SeriesLawFit, SeriesPointsLine } from '../../main/api/contract';

const FIXED = ['series', 'activation', 'form', 'A0', 'A0_low', 'A0_high', 'r2', 'rmse', 'n', 'dropped'];

function paramNames(fits: SeriesLawFit[]): string[] {
  return [...new Set(fits.flatMap((f) => Object.keys(f.params)))].filter((k) => k !== 'A0');
}

const csvField = (v: unknown) => {
  const s = v === undefined || v === null ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function fitTableCsv(fits: SeriesLawFit[]): string {
  const ps = paramNames(fits);
  const head = [...FIXED, ...ps.flatMap((p) => [p, `${p}_low`, `${p}_high`])];
  const rows = fits.map((f) => [f.series, f.activation ?? '', f.form, f.A0, f.A0Low ?? '', f.A0High ?? '', f.stats.r2 ?? '', f.stats.rmse, f.stats.n, f.droppedTokens.length, ...ps.flatMap((p) => [f.params[p] ?? '', f.ci[p]?.low ?? '', f.ci[p]?.high ?? ''])]);
  return [head, ...rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}

const TEX: Record<string, string> = { '\\': '\\textbackslash{}', '{': '\\{', '}': '\\}', $: '\\$', '&': '\\&', '#': '\\#', '^': '\\^{}', _: '\\_', '%': '\\%', '~': '\\~{}' };
const tex = (s: string) => s.replace(/[\\{}$&#^_%~]/g, (c) => TEX[c]);
const num = (x: number | undefined | null, d = 4) => (x === undefined || x === null || !Number.isFinite(x) ? '--' : Number(x.toPrecision(d)).toString());
const withCi = (v: number | undefined, lo?: number, hi?: number) => (lo === undefined || hi === undefined ? `$${num(v)}$` : `$${num(v)}$ {\\scriptsize [$${num(lo, 3)}$, $${num(hi, 3)}$]}`);

/** a law parameter's name as the paper writes it: 'alpha' is α (the rest are single Latin letters) */
export const paramLabel = (p: string): string => (p === 'alpha' ? 'α' : p);
/** the same in LaTeX math ('$alpha$' typesets as five italic letters) */
const paramTex = (p: string): string => (p === 'alpha' ? '\\alpha' : tex(p));

/** A booktabs table; each cell 'value [low, high]' at the fits' confidence level. */
export function fitTableLatex(fits: SeriesLawFit[]): string {
  const ps = paramNames(fits);
  const level = fits[0] ? Math.round(100 * fits[0].level) : 95;
  const cols = ['Series', 'Form', '$A_0$', ...ps.map((p) => `$${paramTex(p)}$`), '$R^2$', '$n$'];
  const lines = [
    '% Sparsity Lab: sparsity–data law fits (Luo et al., "Sparsing Law", arXiv 2411.02335); needs \\usepackage{booktabs}',
    `\\begin{tabular}{ll${'r'.repeat(cols.length - 2)}}`,
    '\\toprule',
    `${cols.join(' & ')} \\\\`,
    '\\midrule',
    ...fits.map((f) => [tex(f.series), tex(f.form), withCi(f.A0, f.A0Low, f.A0High), ...ps.map((p) => withCi(f.params[p], f.ci[p]?.low, f.ci[p]?.high)), `$${num(f.stats.r2)}$`, String(f.stats.n)].join(' & ') + ' \\\\'),
    '\\bottomrule',
    '\\end{tabular}',
    `% intervals: ${level}% residual bootstrap`,
  ];
  return lines.join('\n') + '\n';
}

/**
 * The points the Laws page fits: every series line's points as the engine selected them (charts.seriesPoints: ONE
 * measurement per series, the numbers as stored), each naming its run. Points at 0 tokens trained are left out
 * (the law's D must be positive).
 */
export function lawPointsOf(lines: SeriesPointsLine[]): LawPoint[] {
  return lines.flatMap((l) =>
    l.points.filter((p) => p.tokens > 0).map((p) => ({ tokens: p.tokens, activationRatio: p.activationRatio, series: l.series, ...(l.activation ? { activation: l.activation } : {}), source: `run ${p.run}` })),
  );
}
