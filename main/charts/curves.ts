/**
 * Evaluating stored sparsity–data fits for drawing (METHOD.md §5; D in billions of tokens, A a fraction).
 * The fitting itself lives in main/laws; this only evaluates the closed forms and their derivative,
 * which the convergence chart (Fig. 8) plots.
 */
import type { SourceFit } from './source';

type P = Record<string, number>;

/** A(D) for the paper's forms. Returns undefined for a form this module does not know. */
export function evalFit(fit: Pick<SourceFit, 'form' | 'params' | 'A0'>, D: number): number | undefined {
  const p: P = fit.params;
  const A0 = fit.A0;
  const alpha = p.alpha ?? p.a ?? NaN;
  switch (fit.form) {
    case 'relu': // A(D) = exp(−c·D^α + b) + A0 (logspace power law, decreasing)
      return Math.exp(-p.c * Math.pow(D, alpha) + p.b) + A0;
    case 'silu': // A(D) = −c / D^α + A0 (power law, increasing)
      return -p.c / Math.pow(D, alpha) + A0;
    case 'log': // A(D) = c·log(a·D + b) + A0
      return p.c * Math.log(p.a * D + p.b) + A0;
    default:
      return undefined;
  }
}

/**
 * dA/dD in fraction per billion tokens. Analytic for 'relu' and 'silu', a central difference otherwise.
 * The convergence chart plots the derivative of sparsity, −dA/dD (paper Fig. 8: ReLU positive).
 */
export function fitDerivative(fit: Pick<SourceFit, 'form' | 'params' | 'A0'>, D: number): number | undefined {
  const p: P = fit.params;
  const alpha = p.alpha ?? p.a ?? NaN;
  if (fit.form === 'relu') return -Math.exp(-p.c * Math.pow(D, alpha) + p.b) * p.c * alpha * Math.pow(D, alpha - 1);
  if (fit.form === 'silu') return p.c * alpha * Math.pow(D, -alpha - 1);
  const h = Math.max(1e-6, D * 1e-4);
  const a = evalFit(fit, D + h);
  const b = evalFit(fit, Math.max(D - h, 1e-12));
  return a === undefined || b === undefined ? undefined : (a - b) / (D + h - Math.max(D - h, 1e-12));
}

/** n points from lo to hi, log-spaced when both are positive and span > 1 decade, else linear. */
export function sampleRange(lo: number, hi: number, n: number, log: boolean): number[] {
  const out: number[] = [];
  if (log && lo > 0) {
    const a = Math.log(lo);
    const b = Math.log(hi);
    for (let i = 0; i < n; i++) out.push(Math.exp(a + ((b - a) * i) / (n - 1)));
  } else {
    for (let i = 0; i < n; i++) out.push(lo + ((hi - lo) * i) / (n - 1));
  }
  return out;
}
