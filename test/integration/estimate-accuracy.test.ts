// Issue 18: "the estimate said 2 min 8 s for a 27 s run". The estimate now comes from a short timed pilot
// (main/jobs/estimate.ts); here it is checked as a model against the real measurement on the demo models, both in the
// same process back to back. Both are timed in CPU seconds of this process (all its threads): on a shared 2-core CI
// machine the wall clock also counts other programs, CPU seconds count the work. An accuracy check, not a speed target.
import path from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import { main } from '../../main/cli/index';
import { runConfigSchema, type RunConfig } from '../../main/api/domains/runs';
import { clockSeconds, estimateRun, forwardPassCount, outerSteps, runPilot, scalePilot, type PilotTimings } from '../../main/jobs/estimate';
import { workFor } from '../../main/jobs/measure-job';

const demo = path.resolve(__dirname, '../../resources/demo-lab');
const config = (model: string, extra: Record<string, unknown> = {}): RunConfig =>
  runConfigSchema.parse({ kind: 'measure', checkpoint: path.join(demo, 'models', model), data: path.join(demo, 'eval.txt'), tokens: 4096, seqLen: 128, batch: 4, provider: 'cpu', method: 'cett-ppl', p: 1, ...extra });

/** pilot, then the run itself, in CPU seconds */
async function pilotAndRun(cfg: RunConfig): Promise<{ estimate: number; actual: number; share: number }> {
  const { timings, close } = await runPilot(cfg, undefined, 'cpu');
  await close();
  const share = timings.pilotTokens / timings.runTokens;
  const estimate = scalePilot(cfg, timings).total;
  const a0 = clockSeconds('cpu');
  await workFor(cfg)({}, { onStep: async () => {} } as never);
  return { estimate, actual: clockSeconds('cpu') - a0, share };
}

describe('the pilot estimate on the demo models is within ±30% of the run', () => {
  for (const model of ['relu', 'silu']) {
    test(`CETT-PPL-1% of the demo ${model} model (8 batches)`, async () => {
      const cfg = config(model);
      // up to three tries: a burst of other work (a page-in, a collector pause, onnxruntime's threads spinning while
      // another program holds a core) can still skew a few-second measurement; a model off by > 30% fails all three
      let r = await pilotAndRun(cfg);
      for (let i = 0; i < 2 && Math.abs(r.estimate - r.actual) > 0.3 * r.actual; i++) r = await pilotAndRun(cfg);
      expect(Math.abs(r.estimate - r.actual), `estimate ${r.estimate.toFixed(2)} s vs actual ${r.actual.toFixed(2)} s (CPU)`).toBeLessThanOrEqual(0.3 * r.actual);
      expect(r.share).toBe(1 / 8); // short: the search and final on one batch of the 8, not the run
    }, 120_000);
  }
});

test('estimateRun: the wizard / CLI answer (wall clock), its parts adding up, the run\'s pass count', async () => {
  const cfg = config('relu');
  const e = await estimateRun(cfg);
  const b = e.breakdown!;
  expect(b.setupSeconds + b.denseSeconds + b.searchSeconds + b.finalSeconds).toBeCloseTo(e.totalSeconds, 9);
  for (const v of Object.values(b)) expect(v).toBeGreaterThan(0);
  expect(e.pilotSeconds!).toBeLessThan(e.totalSeconds);
  expect(e.provider).toBe('cpu');
  expect(outerSteps(cfg.tol)).toBe(10); // 1/2^10 < 1e-3 ≤ 1/2^9
  expect(e.forwardPasses).toBe(8 * (2 + 10)); // dense, 10 outer steps, final: per batch
  expect(forwardPassCount(cfg, 8)).toBe(e.forwardPasses);
}, 60_000);

test('scalePilot: the pilot batch scaled by the run\'s tokens, steps, sweep values, p values and checkpoints', () => {
  const t: PilotTimings = { load: 1, data: 0.5, open: 2, denseFirst: 3, denseSteady: 1, search: 4, sparseWarmup: 0.25, stepFirst: 0.6, stepSteady: 0.2, final: 0.5, pilotTokens: 512, runTokens: 4 * 512 + 256, batches: 5 };
  const r = 4.5; // run tokens / pilot tokens
  const m = scalePilot(config('relu'), t);
  expect(m.setup).toBe(3.5);
  expect(m.dense).toBeCloseTo(3 + 1 * (r - 1), 12);
  expect(m.search).toBeCloseTo(4 * r, 12);
  expect(m.final).toBeCloseTo(0.25 + 0.5 * r, 12);
  expect(m.total).toBeCloseTo(m.setup + m.dense + m.search + m.final, 12);
  // a baseline: first masked pass once, then steady ones for every batch and value
  const base = scalePilot(config('relu', { method: 'topk-token', param: 0.3, sweep: [0.1, 0.2] }), t);
  expect(base.search).toBeCloseTo(0.6 + 0.2 * (r * 2 - 1), 12);
  expect(base.final).toBe(0);
  // a series of 3, last 2 searched: 3 loads and opens, 3 dense phases, the search on 2, 3 finals
  const series = runConfigSchema.parse({ kind: 'measure-series', checkpoints: [{ path: 'a' }, { path: 'b' }, { path: 'c' }], data: 'd', tokens: 4096, seqLen: 128, batch: 4, method: 'cett-ppl', lastK: 2 });
  const s = scalePilot(series, t, 3);
  expect(s.setup).toBe(3 * 1 + 0.5 + 3 * 2);
  expect(s.dense).toBeCloseTo(3 * (3 + (r - 1)), 12);
  expect(s.search).toBeCloseTo(2 * 4 * r, 12);
  expect(s.final).toBeCloseTo(0.25 + 3 * 0.5 * r, 12);
});

test('CLI: measure --estimate prints the pilot estimate (JSON with --json) and runs nothing else', async () => {
  const out: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const argv = ['measure', path.join(demo, 'models', 'silu'), '--data', path.join(demo, 'eval.txt'), '--tokens', '1024', '--seq-len', '128', '--provider', 'cpu', '--estimate'];
    expect(await main([...argv, '--json'])).toBe(0);
    const e = JSON.parse(out.join('\n')) as { totalSeconds: number; forwardPasses: number; breakdown: Record<string, number> };
    expect(e.totalSeconds).toBeGreaterThan(0);
    expect(e.forwardPasses).toBe(2 * (2 + 10));
    out.length = 0;
    expect(await main(argv)).toBe(0);
    expect(out.join('\n')).toMatch(/^estimate: about \d+(\.\d)? s on cpu \(float32\), 24 forward passes — reading and opening .* search .* pilot on a slice of the text\)$/);
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}, 60_000);
