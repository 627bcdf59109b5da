/** CETT-PPL-p% end to end on one model: wall time per phase, forward passes, the answer. */
import { measureCettPpl } from '../main/metrics/cett-ppl';
import { machine, openTarget, parse, writeOut } from './common';

export async function main(argv: string[]): Promise<void> {
  const v = parse(argv);
  const { target, data } = await openTarget(v);
  const t0 = performance.now();
  const res = await measureCettPpl(target, data, { p: Number(v.p ?? 1), tol: Number(v.tol ?? 1e-3), thresholdMode: 'authors', curveEngine: (v.engine ?? 'auto') as never, speculate: v.speculate === '1' });
  const wall = (performance.now() - t0) / 1000;
  const out = {
    suite: 'measure',
    provider: res.provider,
    dtype: res.dtype,
    tokens: res.tokens,
    seqLen: res.seqLen,
    batch: res.batch,
    wallSeconds: wall,
    cett: res.cett,
    activationRatio: res.activationRatio,
    pplRatio: res.pplRatio,
    forwardPasses: res.forwardPasses,
    searchStats: res.searchStats,
    speculate: v.speculate === '1',
    outerSteps: res.searchHistory?.length,
    timingsMs: res.timingsMs,
    curveEngine: res.curveEngine,
    // the threshold search's record (engine, precision of the CETT products, grid, cap, fallback), as a run stores it
    search: res.search,
    thresholds: res.thresholds,
    execution: res.execution,
    streamStats: (target.runner as { streamStats?: unknown }).streamStats,
    machine: machine(),
    date: new Date().toISOString(),
  };
  console.log(JSON.stringify(out));
  writeOut(v.out, out);
  await target.runner.dispose();
}
