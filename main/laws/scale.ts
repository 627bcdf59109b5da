/**
 * Limit vs scale (paper Sec. 5.3, Fig. 7) and convergence speed (Fig. 8).
 * Fig. 8 plots the derivative of the sparsity–data curve, d(1 − A)/dD = −dA/dD (per billion tokens), at
 * D = r·N for a ratio r of training tokens to parameters N (both in billions; as read off the paper's Fig. 8: with
 * the Table 2 fits and non-embedding N this gives +0.0050 for 0.1B ReLU and −0.0156 for 0.1B SiLU at r = 20).
 */
import { FORMS, linreg, type LawForm } from './forms';
import type { ScalePoint, ScaleTrend, ConvergenceSeries } from '../api/domains/laws';
export type { ScalePoint, ScaleTrend, ConvergenceSeries };



export function limitVsScale(points: ScalePoint[]): { points: ScalePoint[]; trends: ScaleTrend[] } {
  const sorted = [...points].sort((a, b) => a.params - b.params);
  const groups = new Map<string, ScalePoint[]>();
  for (const p of sorted) groups.set(p.activation ?? '', [...(groups.get(p.activation ?? '') ?? []), p]);
  const trends: ScaleTrend[] = [];
  for (const [activation, g] of groups) {
    if (new Set(g.map((p) => p.params)).size < 2) continue;
    const { slope, intercept } = linreg(g.map((p) => Math.log10(p.params)), g.map((p) => p.A0));
    trends.push({ activation, slopePerDecade: slope, intercept, n: g.length });
  }
  return { points: sorted, trends };
}

export interface ConvergenceInput {
  series: string;
  form: LawForm;
  params: Record<string, number>;
  A0: number;
  /** parameter count (raw; the paper's Fig. 8 reads as non-embedding parameters) */
  parameters: number;
}


export function convergence(fits: ConvergenceInput[], ratios: number[]): ConvergenceSeries[] {
  return fits.map((f) => {
    const N = f.parameters / 1e9;
    const D = ratios.map((r) => r * N);
    const def = FORMS[f.form];
    return { series: f.series, ratio: ratios, D, dSparsity: D.map((d) => -def.dPublic(f.params, f.A0, d)) };
  });
}
