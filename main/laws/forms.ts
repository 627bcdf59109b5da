/**
 * The sparsity–data law forms (paper Sec. 5.1, Eq. 4–5 and App. G). D is tokens in
 * billions. Each form is fitted on internal parameters θ over x = D / S (S = the largest D of the fit), so
 * that LM sees columns of similar scale; `toPublic` maps θ back to the paper's parameters in D units.
 *   relu    A(D) = exp(−c·D^α + b) + A₀               θ = [ln(c·S^α), α, b, A₀]       (decreasing)
 *   silu    A(D) = −c / D^α + A₀                      θ = [ln(c/S^α), α, A₀]          (increasing)
 *   log     A(D) = c·log(a·D + b) + A₀, b fixed to 1  θ = [ln(a·S), c, A₀]
 *           (c·log(aD+b) = c·log b + c·log((a/b)D + 1): with b free the form is over-parameterised; A₀ = A(0), no limit)
 *   sigmoid A(D) = A₀ + h / (1 + exp(k·(D − m)))      θ = [h, ln(k·S), m/S, A₀]
 *           (the authors' calc_sigmoid.py form a − 1/(1 + b·exp(cD + d)) with a free amplitude h instead of 1
 *            and b·e^d folded into m; A₀ is the limit for D → ∞)
 * Bounds: A₀ ∈ (0, 1) (relu, silu, sigmoid, and A(0) for log), c, α, k > 0 through the log/bounds.
 */
import type { LawForm } from '../api/domains/laws';
export type { LawForm };
export const LAW_FORMS: readonly LawForm[] = ['relu', 'silu', 'log', 'sigmoid'];

export interface FormDef {
  /** names of the public parameters (besides A0), in the order `toPublic` returns them */
  names: string[];
  nTheta: number;
  /** what each internal parameter θ_i stands for, as the paper writes it (a warning names the one at its bound) */
  thetaLabels: string[];
  /** A0 is the limit for D → ∞ (false for log, which has none) */
  hasLimit: boolean;
  min: number[];
  max: number[];
  f(t: number[], x: number): number;
  jac(t: number[], x: number): number[];
  /** f and its Jacobian row (written into J) in one pass: the inner loop of LM */
  fj(t: number[], x: number, J: Float64Array): number;
  toPublic(t: number[], S: number): { params: Record<string, number>; A0: number };
  /** A(D) and dA/dD from public parameters (D in billions) */
  evalPublic(p: Record<string, number>, A0: number, D: number): number;
  dPublic(p: Record<string, number>, A0: number, D: number): number;
  starts(x: number[], y: number[]): number[][];
  formula(p: Record<string, number>, A0: number): string;
}

const A0_MIN = 1e-6;
const A0_MAX = 1 - 1e-6;
const lnx = (x: number) => (x > 0 ? Math.log(x) : 0); // x^α·ln x → 0 at x = 0
const g = (v: number) => +v.toPrecision(3);
/** ' + v' or ' − |v|' */
const sg = (v: number) => (v < 0 ? ` − ${g(-v)}` : ` + ${g(v)}`);
const lo = (y: number[]) => Math.min(...y);
const hi = (y: number[]) => Math.max(...y);
const clamp = (v: number, a: number, b: number) => Math.min(b, Math.max(a, v));

const relu: FormDef = {
  names: ['alpha', 'b', 'c'],
  nTheta: 4,
  thetaLabels: ['c', 'α', 'b', 'A₀'],
  hasLimit: true,
  min: [-40, 1e-3, -30, A0_MIN],
  max: [40, 10, 10, A0_MAX],
  f: (t, x) => Math.exp(t[2] - Math.exp(t[0]) * Math.pow(x, t[1])) + t[3],
  jac: (t, x) => {
    const u = Math.exp(t[0]) * Math.pow(x, t[1]);
    const E = Math.exp(t[2] - u);
    return [-E * u, -E * u * lnx(x), E, 1];
  },
  fj: (t, x, J) => {
    const u = Math.exp(t[0]) * Math.pow(x, t[1]);
    const E = Math.exp(t[2] - u);
    J[0] = -E * u;
    J[1] = -E * u * lnx(x);
    J[2] = E;
    J[3] = 1;
    return E + t[3];
  },
  toPublic: ([lc, a, b, A0], S) => ({ params: { alpha: a, b, c: Math.exp(lc) / Math.pow(S, a) }, A0 }),
  evalPublic: (p, A0, D) => Math.exp(-p.c * Math.pow(D, p.alpha) + p.b) + A0,
  dPublic: (p, _A0, D) => -Math.exp(-p.c * Math.pow(D, p.alpha) + p.b) * p.c * p.alpha * Math.pow(D, p.alpha - 1),
  starts(_x, y) {
    const r = Math.max(hi(y) - lo(y), 1e-4);
    const out: number[][] = [];
    for (const A0 of [lo(y) - 0.05 * r, lo(y) - 0.5 * r, lo(y) * 0.5])
      for (const a of [0.3, 1, 2])
        for (const lc of [0, 1.5]) {
          const A = clamp(A0, A0_MIN, A0_MAX);
          out.push([lc, a, clamp(Math.log(Math.max(y[0] - A, 1e-6)) + 0.5, -30, 10), A]);
        }
    return out;
  },
  formula: (p, A0) => `A(D) = exp(−${g(p.c)}·D^${g(p.alpha)}${sg(p.b)}) + ${g(A0)}`,
};

const silu: FormDef = {
  names: ['alpha', 'c'],
  nTheta: 3,
  thetaLabels: ['c', 'α', 'A₀'],
  hasLimit: true,
  min: [-40, 1e-3, A0_MIN],
  max: [40, 10, A0_MAX],
  f: (t, x) => t[2] - Math.exp(t[0]) * Math.pow(x, -t[1]),
  jac: (t, x) => {
    const v = Math.exp(t[0]) * Math.pow(x, -t[1]);
    return [-v, v * lnx(x), 1];
  },
  fj: (t, x, J) => {
    const v = Math.exp(t[0]) * Math.pow(x, -t[1]);
    J[0] = -v;
    J[1] = v * lnx(x);
    J[2] = 1;
    return t[2] - v;
  },
  toPublic: ([lc, a, A0], S) => ({ params: { alpha: a, c: Math.exp(lc) * Math.pow(S, a) }, A0 }),
  evalPublic: (p, A0, D) => -p.c / Math.pow(D, p.alpha) + A0,
  dPublic: (p, _A0, D) => p.c * p.alpha * Math.pow(D, -p.alpha - 1),
  starts(_x, y) {
    const r = Math.max(hi(y) - lo(y), 1e-4);
    const out: number[][] = [];
    for (const A0 of [hi(y) + 0.05 * r, hi(y) + 0.5 * r, hi(y) + 2 * r])
      for (const a of [0.3, 1, 2]) {
        const A = clamp(A0, A0_MIN, A0_MAX);
        out.push([Math.log(Math.max(A - y[y.length - 1], 1e-6)), a, A]);
      }
    return out;
  },
  formula: (p, A0) => `A(D) = −${g(p.c)} / D^${g(p.alpha)} + ${g(A0)}`,
};

const log: FormDef = {
  names: ['a', 'b', 'c'],
  nTheta: 3,
  thetaLabels: ['a', 'c', 'A₀'],
  hasLimit: false,
  min: [-30, -10, A0_MIN],
  max: [30, 10, A0_MAX],
  f: (t, x) => t[2] + t[1] * Math.log(Math.exp(t[0]) * x + 1),
  jac: (t, x) => {
    const ax = Math.exp(t[0]) * x;
    return [(t[1] * ax) / (ax + 1), Math.log(ax + 1), 1];
  },
  fj: (t, x, J) => {
    const ax = Math.exp(t[0]) * x;
    const l = Math.log(ax + 1);
    J[0] = (t[1] * ax) / (ax + 1);
    J[1] = l;
    J[2] = 1;
    return t[2] + t[1] * l;
  },
  toPublic: ([la, c, A0], S) => ({ params: { a: Math.exp(la) / S, b: 1, c }, A0 }),
  evalPublic: (p, A0, D) => p.c * Math.log(p.a * D + p.b) + A0,
  dPublic: (p, _A0, D) => (p.c * p.a) / (p.a * D + p.b),
  starts(x, y) {
    // for a fixed a the form is linear in (c, A0): start from that least-squares solution
    return [0, 2, 5, 8].map((la) => {
      const z = x.map((v) => Math.log(Math.exp(la) * v + 1));
      const { slope, intercept } = linreg(z, y);
      return [la, clamp(slope, -10, 10), clamp(intercept, A0_MIN, A0_MAX)];
    });
  },
  formula: (p, A0) => `A(D) = ${g(p.c)}·log(${g(p.a)}·D + 1)${sg(A0)}`,
};

const sigmoid: FormDef = {
  names: ['h', 'k', 'm'],
  nTheta: 4,
  thetaLabels: ['h', 'k', 'm', 'A₀'],
  hasLimit: true,
  min: [-1, -10, -10, A0_MIN],
  max: [1, 12, 10, A0_MAX],
  f: (t, x) => t[3] + t[0] / (1 + Math.exp(Math.exp(t[1]) * (x - t[2]))),
  jac: (t, x) => {
    const h = t[0];
    const m = t[2];
    const k = Math.exp(t[1]);
    const s = 1 / (1 + Math.exp(k * (x - m)));
    const ds = -s * (1 - s); // d s / d z, z = k(x − m)
    return [s, h * ds * (x - m) * k, -h * ds * k, 1];
  },
  fj: (t, x, J) => {
    const k = Math.exp(t[1]);
    const s = 1 / (1 + Math.exp(k * (x - t[2])));
    const ds = -s * (1 - s);
    J[0] = s;
    J[1] = t[0] * ds * (x - t[2]) * k;
    J[2] = -t[0] * ds * k;
    J[3] = 1;
    return t[3] + t[0] * s;
  },
  toPublic: ([h, lk, m, A0], S) => ({ params: { h, k: Math.exp(lk) / S, m: m * S }, A0 }),
  evalPublic: (p, A0, D) => A0 + p.h / (1 + Math.exp(p.k * (D - p.m))),
  dPublic: (p, _A0, D) => {
    const s = 1 / (1 + Math.exp(p.k * (D - p.m)));
    return -p.h * s * (1 - s) * p.k;
  },
  starts(_x, y) {
    const h0 = y[0] - y[y.length - 1];
    const out: number[][] = [];
    for (const m of [-0.5, 0, 0.2])
      for (const lk of [1, 2.5, 4]) {
        const A = clamp(y[y.length - 1], A0_MIN, A0_MAX);
        out.push([clamp(2 * h0, -1, 1), lk, m, A]);
      }
    return out;
  },
  formula: (p, A0) => `A(D) = ${g(A0)}${sg(p.h)} / (1 + exp(${g(p.k)}·(D${sg(-p.m)})))`,
};

export const FORMS: Record<LawForm, FormDef> = { relu, silu, log, sigmoid };

export function linreg(x: number[], y: number[]): { slope: number; intercept: number } {
  const n = x.length;
  const mx = x.reduce((s, v) => s + v, 0) / n;
  const my = y.reduce((s, v) => s + v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  return { slope, intercept: my - slope * mx };
}

/** relu-family activations (relu, relu², squared_relu, fatrelu, reglu, …) follow the relu law; others the silu law. */
export function formForActivation(activation: string | undefined): LawForm | undefined {
  if (!activation) return undefined;
  return /relu/i.test(activation) ? 'relu' : 'silu';
}
