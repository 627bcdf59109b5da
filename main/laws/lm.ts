import { levenbergMarquardt } from 'ml-levenberg-marquardt';
import type { FormDef } from './forms';

/**
 * Bounded Levenberg–Marquardt, written here (≈60 lines) rather than taken from ml-levenberg-marquardt 5.1.0,
 * for a measured reason: on 1,000 points with 200 bootstrap refits the library took 41.6 s (target < 2 s;
 * it allocates ml-matrix objects per iteration, has no relative stopping rule and keeps taking steps that
 * raise the SSE). This one is Marquardt's: damping λ·diag(JᵀJ) (scale-free), a step is kept only when it
 * lowers the SSE, bounds by projection onto the box, stop when a kept step gains < tol (1e-10) relative SSE
 * or ten raises of λ in a row find no lower SSE.
 * `lmFitLibrary` (the library, same bounds and Jacobian) stays for tests that cross-check both.
 */
export function lmFit(def: FormDef, x: ArrayLike<number>, y: ArrayLike<number>, start: number[], maxIter = 300, tol = 1e-10): { theta: number[]; sse: number; iterations: number } {
  const p = def.nTheta;
  const n = x.length;
  let theta = start.map((v, i) => Math.min(def.max[i], Math.max(def.min[i], v)));
  let sse = sseOf(def, theta, x, y);
  if (!Number.isFinite(sse)) return { theta, sse: Infinity, iterations: 0 };
  let lambda = 1e-3;
  const JtJ = new Float64Array(p * p);
  const Jtr = new Float64Array(p);
  const J = new Float64Array(p);
  let it = 0;
  for (; it < maxIter; it++) {
    JtJ.fill(0);
    Jtr.fill(0);
    for (let i = 0; i < n; i++) {
      const r = y[i] - def.fj(theta, x[i], J);
      for (let a = 0; a < p; a++) {
        Jtr[a] += J[a] * r;
        for (let b = 0; b <= a; b++) JtJ[a * p + b] += J[a] * J[b];
      }
    }
    for (let a = 0; a < p; a++) for (let b = 0; b < a; b++) JtJ[b * p + a] = JtJ[a * p + b];
    let accepted = false;
    let gain = 0;
    for (let tries = 0; tries < 10 && lambda < 1e12; tries++) {
      const A = Array.from(JtJ);
      for (let a = 0; a < p; a++) A[a * p + a] += lambda * Math.max(JtJ[a * p + a], 1e-12);
      const d = solve(A, Array.from(Jtr), p);
      if (d) {
        const next = theta.map((v, i) => Math.min(def.max[i], Math.max(def.min[i], v + d[i])));
        const e = sseOf(def, next, x, y);
        if (Number.isFinite(e) && e < sse) {
          gain = (sse - e) / Math.max(sse, 1e-300);
          theta = next;
          sse = e;
          lambda = Math.max(lambda / 10, 1e-12);
          accepted = true;
          break;
        }
      }
      lambda *= 10;
    }
    if (!accepted || gain < tol || sse === 0) break;
  }
  return { theta, sse, iterations: it + 1 };
}

/** Gaussian elimination with partial pivoting for the small p×p system; null when singular. */
function solve(A: number[], b: number[], p: number): number[] | null {
  for (let c = 0; c < p; c++) {
    let piv = c;
    for (let r = c + 1; r < p; r++) if (Math.abs(A[r * p + c]) > Math.abs(A[piv * p + c])) piv = r;
    if (!(Math.abs(A[piv * p + c]) > 1e-300)) return null;
    if (piv !== c) {
      for (let k = 0; k < p; k++) [A[c * p + k], A[piv * p + k]] = [A[piv * p + k], A[c * p + k]];
      [b[c], b[piv]] = [b[piv], b[c]];
    }
    for (let r = c + 1; r < p; r++) {
      const f = A[r * p + c] / A[c * p + c];
      for (let k = c; k < p; k++) A[r * p + k] -= f * A[c * p + k];
      b[r] -= f * b[c];
    }
  }
  const out = new Array<number>(p);
  for (let r = p - 1; r >= 0; r--) {
    let s = b[r];
    for (let k = r + 1; k < p; k++) s -= A[r * p + k] * out[k];
    out[r] = s / A[r * p + r];
  }
  return out.every(Number.isFinite) ? out : null;
}

export function sseOf(def: FormDef, t: number[], x: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (y[i] - def.f(t, x[i])) ** 2;
  return s;
}

/** The same bounded fit through ml-levenberg-marquardt 5.1.0 (for cross-checks and the benchmark's comparison). */
export function lmFitLibrary(def: FormDef, x: number[], y: number[], start: number[], iterations = 300): { theta: number[]; sse: number } {
  const r = levenbergMarquardt({ x, y }, (t: number[]) => (v: number) => def.f(t, v), {
    initialValues: start.map((v, i) => Math.min(def.max[i], Math.max(def.min[i], v))),
    minValues: def.min,
    maxValues: def.max,
    jacobianFunction: (t: number[]) => (v: number) => def.jac(t, v),
    maxIterations: iterations,
    errorTolerance: 0,
  });
  return { theta: r.parameterValues, sse: sseOf(def, r.parameterValues, x, y) };
}
