/** CETT-PPL-p% end to end on one model: wall time per phase, forward passes, the answer. */
import { measureAtCetts, measureCettPpl } from '../main/metrics/cett-ppl';
import { curveSweepCalibrations } from '../main/metrics/curve-kernel';
import { machine, openTarget, parse, writeOut } from './common';
import { summarizeStream, type StreamStats } from '../main/inference/streamed';

export async function main(argv: string[]): Promise<void> {
  const v = parse(argv);
  const { target, data } = await openTarget(v);
  const t0 = performance.now();
  // --progress 1: the job's progress events as JSON lines on stderr, with the seconds since the start (a run cut short
  // by a time limit still shows how far it got and what the ETA said; bench/gpu/eta.mjs compares ETA and arrival)
  // …and the plan at once (a run cut short still says how it was executing)
  if (v.progress === '1') process.stderr.write(`PLAN ${JSON.stringify(target.runner.plan ?? null)}\n`);
  // (with the sessions opened so far and their creation time: where a streamed run's time goes, even when cut short)
  const sessionsSoFar = () => {
    const ts = target.runner.sessionTimings ?? [];
    return { sessions: ts.length, sessionMs: ts.reduce((a, x) => a + x.buildMs + x.createMs, 0) };
  };
  const progress = v.progress === '1' ? (p: object) => process.stderr.write(`PROGRESS ${JSON.stringify({ t: +((performance.now() - t0) / 1000).toFixed(2), ...p, ...sessionsSoFar() })}\n`) : undefined;
  const o = { p: Number(v.p ?? 1), tol: Number(v.tol ?? 1e-3), thresholdMode: 'authors' as const, curveEngine: (v.engine ?? 'auto') as never, speculate: v.speculate === '1', overlapCurves: v['overlap-curves'] !== '0' };
  if (v['at-cett']) {
    // --at-cett 0.25,0.27: A, PPL ratio and thresholds at each c (bench/reference's --at-cett computes the same)
    const cs = v['at-cett'].split(',').map(Number);
    const rs = await measureAtCetts(target, data, o, cs);
    const at = rs.map((r) => ({ c: r.cett, pplRatio: r.pplRatio, activationRatio: r.activationRatio, thresholds: r.thresholds }));
    const out = { suite: 'measure-at-cett', provider: target.runner.provider, dtype: target.runner.dtype, tokens: data.tokens, at, wallSeconds: (performance.now() - t0) / 1000, sessionTimings: target.runner.sessionTimings, machine: machine(), date: new Date().toISOString() };
    console.log(JSON.stringify(out));
    writeOut(v.out, out);
    return target.runner.dispose();
  }
  const res = await measureCettPpl(target, data, o, progress ? { progress } : {});
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
    overlapCurves: v['overlap-curves'] !== '0',
    offThread: !!target.runner.offThread,
    outerSteps: res.searchHistory?.length,
    // each outer step's c and PPL ratio (bench/reference prints its own: the step where two implementations branch)
    history: res.searchHistory?.map((h) => ({ c: h.c, pplRatio: h.pplRatio })),
    sessionTimings: target.runner.sessionTimings,
    timingsMs: res.timingsMs,
    curveEngine: res.curveEngine,
    // the CPU curve's sweep back end per layer shape (calibrated at its first curve: curve-kernel.ts)
    curveSweep: curveSweepCalibrations(),
    // the threshold search's record (engine, precision of the CETT products, grid, cap, fallback), as a run stores it
    search: res.search,
    thresholds: res.thresholds,
    execution: res.execution,
    streamStats: ((st) => st && summarizeStream(st))((target.runner as { streamStats?: StreamStats }).streamStats),
    // what the runner fell back from (provider, the block-host worker …)
    fallbackReasons: target.runner.fallbackReasons,
    machine: machine(),
    date: new Date().toISOString(),
  };
  console.log(JSON.stringify(out));
  writeOut(v.out, out);
  await target.runner.dispose();
}
