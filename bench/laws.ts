/**
 * Laws: one relu-form fit of 1,000 synthetic points (the paper's 2.4B law, σ = 3e-4) with 200 residual-bootstrap
 * refits (target < 2 s), and, for comparison, the same multi-start fit through ml-levenberg-marquardt 5.1.0.
 */
import os from 'node:os';
import { fitLaw } from '../main/laws/fit';
import { FORMS } from '../main/laws/forms';
import { lmFitLibrary } from '../main/laws/lm';
import { gaussian, mulberry32 } from '../main/base/rng';
import { machine, parse, writeOut } from './common';

export async function main(argv: string[]): Promise<void> {
  const v = parse(argv);
  const n = 1000;
  const g = gaussian(mulberry32(11));
  const pts = Array.from({ length: n }, (_, i) => {
    const D = 1 + (799 * i) / (n - 1);
    return { tokens: D * 1e9, activationRatio: Math.exp(-1.56e-4 * D ** 1.53 - 3.46) + 0.0648 + 3e-4 * g() };
  });
  fitLaw(pts.slice(0, 50), { form: 'relu', bootstrap: 10 }); // warm the JIT
  const runs: number[] = [];
  let fit;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    fit = fitLaw(pts, { form: 'relu', bootstrap: 200, seed: 1 });
    runs.push(performance.now() - t0);
  }
  // library: the point estimate only (18 starts × 300 iterations), no bootstrap
  const def = FORMS.relu;
  const S = pts[n - 1].tokens / 1e9;
  const x = pts.map((p) => p.tokens / 1e9 / S);
  const y = pts.map((p) => p.activationRatio);
  const t1 = performance.now();
  let libBest = Infinity;
  for (const s of def.starts(x, y)) libBest = Math.min(libBest, lmFitLibrary(def, x, y, s).sse);
  const libMs = performance.now() - t1;
  const res = {
    suite: 'laws',
    points: n,
    bootstrap: 200,
    fitMs: Math.min(...runs),
    fitMsRuns: runs.map((r) => Math.round(r)),
    A0: fit!.A0,
    A0CI: [fit!.A0Low, fit!.A0High],
    sse: fit!.stats.sse,
    libraryPointEstimateMs: Math.round(libMs),
    librarySse: libBest,
    loadavg: os.loadavg().map((l) => +l.toFixed(2)),
    machine: machine(),
    date: new Date().toISOString(),
  };
  console.log(JSON.stringify(res));
  writeOut(v.out, res);
}
