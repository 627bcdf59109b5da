/**
 * Evaluating stored sparsity–data fits for drawing (paper Sec. 5.1, Eq. 4–5; D in billions of tokens, A a fraction).
 * The formulas and the fitting live in main/laws; this evaluates a stored fit and its derivative
 * (the convergence chart, Fig. 8) through them.
 */
import type { SourceFit } from './source';
import { FORMS, type LawForm } from '../laws/forms';

type Fit = Pick<SourceFit, 'form' | 'params' | 'A0'>;
const formOf = (fit: Fit) => (Object.prototype.hasOwnProperty.call(FORMS, fit.form) ? FORMS[fit.form as LawForm] : undefined);

/** A(D) with the law's own formula (main/laws/forms.ts). Undefined for a form the laws module does not know. */
export function evalFit(fit: Fit, D: number): number | undefined {
  const f = formOf(fit);
  return f ? f.evalPublic(fit.params, fit.A0, D) : undefined;
}

/**
 * dA/dD in fraction per billion tokens, from the law's own derivative. The convergence chart plots the
 * derivative of sparsity, −dA/dD (paper Fig. 8: ReLU positive).
 */
export function fitDerivative(fit: Fit, D: number): number | undefined {
  const f = formOf(fit);
  return f ? f.dPublic(fit.params, fit.A0, D) : undefined;
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
