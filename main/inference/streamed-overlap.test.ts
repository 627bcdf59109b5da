// Streamed execution with paged blocks created on a second thread while the current block computes (issue 15,
// streamed.ts, block-host.ts), on the CPU:
// - the same numbers: forward outputs bit for bit with and without overlap, and the whole graph's; CETT-PPL-1% with the
//   block-wise fused search gives the whole graph's CETT, thresholds and activation ratio, with and without overlap,
//   for forward blocks of 1 and 2 layers; a search step with the search blocks' warm-up call gives the same bits;
// - overlap happens: from the runner's timeline, each paged block's session is created on the other host while the
//   block before it runs (each run held 250 ms by the test seam, as a longer native call would);
// - the plan counts the next block's weights beside the kept sessions (peak within the cap);
// - a worker that cannot start leaves the blocks sequential on this thread, with the same numbers, and says so;
// - cancel: a forward in flight rejects CANCELLED and the worker is gone after dispose;
// - a bundled engine finds block-host-worker.cjs beside it and gives the same bits.
// All with a session per paged block (pagedWeights 'sessions': the form that creates sessions; blocks fed their weights
// as inputs create none per block, streamed-inputs.test.ts and streamed-forward-inputs.test.ts).
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { writeTinyCheckpoint } from '../checkpoint/testing/tiny';
import { loadCheckpoint } from '../checkpoint/index';
import type { LoadedCheckpoint } from '../checkpoint/types';
import { createRunner, planRunner, type RunnerOptions } from './index';
import type { ForwardResult, ModelRunner } from './runner-types';
import { planExecution, weightBytesByLayer, type PlanInput } from './plan';
import type { StreamStats } from './streamed';
import { blockHostTesting } from './block-host';
import { batchStream } from '../metrics/data';
import { measureOnRunner } from '../metrics/testing/measure';
import { mulberry32 } from '../base/rng';
import { maxAbs } from './testing';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-overlap-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
afterEach(() => {
  blockHostTesting.runDelayMs = 0;
  blockHostTesting.script = undefined;
});
const L = 4;
const S = 16;
const batch = 4;
const r = mulberry32(41);
type Streamed = ModelRunner & { streamStats: StreamStats };

/** the CPU plan's input createRunner makes for this checkpoint (streamed, `k` layers per block) at a cap */
function input(ckpt: LoadedCheckpoint, k: number, cap: number, overlap = true): PlanInput {
  return {
    spec: ckpt.spec, provider: 'cpu', dtype: 'float32', fused: false, seqLen: S, batchSeqs: batch, searchTokens: batch * S, execution: 'streamed', blockLayers: k,
    ...weightBytesByLayer(ckpt, { dtype: 'float32', halfWeights: true }),
    mem: { free: os.freemem(), total: os.totalmem(), source: 'test' }, capBytes: cap, overlap, pagedWeights: 'sessions',
  };
}

/** the smallest cap (to 5%) at which the plan for `k` layers per block is `want` */
function capWhere(ckpt: LoadedCheckpoint, k: number, want: (p: ReturnType<typeof planExecution>) => boolean): number {
  for (let cap = 16_000; cap < 64e6; cap = Math.ceil(cap * 1.05)) if (want(planExecution(input(ckpt, k, cap)))) return cap;
  throw new Error('no cap gives that plan');
}
/** forward blocks and search blocks both paged, both with overlap */
const bothPaged = (p: ReturnType<typeof planExecution>) => !!p.overlap && !!p.search?.overlap && p.search.blocks.length > 1;
const overlapCap = (ckpt: LoadedCheckpoint) => capWhere(ckpt, 1, bothPaged);

function bits(a: ForwardResult): number[][] {
  return [a.nll, a.activeCounts, a.neuronActiveCounts, ...(a.activations ?? [])].map((x) => Array.from(x));
}

const dir = writeTinyCheckpoint(path.join(tmp, 'llama'), 'llama', { layers: L, activation: 'silu', std: 0.3 });
const ckptP = loadCheckpoint(dir);
const ids = Int32Array.from({ length: batch * S }, () => Math.floor(r() * 256));
// overlap asked for (the CPU's default is off: creation and compute would share its cores)
const open = async (o: RunnerOptions) => (await createRunner(await ckptP, { provider: 'cpu', maxSeq: S, batchSeqs: batch, blockOverlap: true, pagedWeights: 'sessions', ...o })) as Streamed;

describe('paged blocks created while the block before them runs', () => {
  test('the plan counts the next block beside the kept sessions, within the cap', async () => {
    const ckpt = await ckptP;
    for (const [k, want] of [[1, bothPaged], [2, (p: ReturnType<typeof planExecution>) => !!p.overlap]] as const) {
      const cap = capWhere(ckpt, k, want);
      const on = planExecution(input(ckpt, k, cap));
      const off = planExecution(input(ckpt, k, cap, false));
      expect(on.overlap).toBe(true);
      expect(off.overlap).toBeUndefined();
      expect(off.search?.overlap).toBeUndefined();
      for (const p of [on, off]) {
        expect(p.peakBytes).toBeLessThanOrEqual(p.budgetBytes);
        if (p.search) expect(p.search.peakBytes).toBeLessThanOrEqual(p.budgetBytes);
      }
      // the kept sessions and the next block's weights: its room is in the peak
      const w = weightBytesByLayer(ckpt, { dtype: 'float32', halfWeights: true });
      const weightsOf = (blocks: [number, number][]) => Math.max(...blocks.map(([a, b]) => w.layerBytes.slice(a, b).reduce((x, y) => x + y, 0) + (a === 0 ? w.embedBytes : 0) + (b === L ? w.headBytes : 0)));
      expect(on.peakBytes).toBeGreaterThanOrEqual((on.residentBlocks + 1) * weightsOf(on.blocks));
      if (on.search?.overlap) expect(on.search.peakBytes).toBeGreaterThanOrEqual(on.search.residentBlocks * weightsOf(on.search.blocks) + weightsOf(on.search.blocks));
      expect(on.reason).toMatch(/the next created while one computes/);
      // the runner's default on the CPU: one after another (creation and compute would share its cores)
      const dflt = await planRunner(ckpt, { provider: 'cpu', maxSeq: S, batchSeqs: batch, execution: 'streamed', blockLayers: k, deviceMemoryBytes: cap, pagedWeights: 'sessions' });
      expect(dflt!.overlap).toBeUndefined();
      expect((await planRunner(ckpt, { provider: 'cpu', maxSeq: S, batchSeqs: batch, execution: 'streamed', blockLayers: k, deviceMemoryBytes: cap, blockOverlap: true, pagedWeights: 'sessions' }))!.overlap).toBe(true);
    }
  });

  // H200: 16 blocks of 2 layers for overlap were 1.5x slower than 6 of 6 without (BENCHMARKS.md 2026-12-04 16:25): more
  // blocks only where plan.ts's pagedStepSeconds says the hidden creation outweighs their runs, which for this tiny
  // model's weights (creation next to nothing) is never
  test('overlap never makes the search chunk smaller nor, on a tiny model, the search blocks more than one after another would use', async () => {
    const ckpt = await ckptP;
    let withOverlap = 0;
    for (let cap = 16_000; cap < 64e6; cap = Math.ceil(cap * 1.05)) {
      const on = planExecution(input(ckpt, 1, cap));
      const off = planExecution(input(ckpt, 1, cap, false));
      if (!on.search || !off.search) continue;
      expect(on.search.blocks.length).toBeLessThanOrEqual(off.search.blocks.length);
      expect(on.search.chunkTokens || batch * S).toBeGreaterThanOrEqual(off.search.chunkTokens || batch * S);
      if (on.search.overlap) withOverlap++;
    }
    expect(withOverlap).toBeGreaterThan(0); // some caps still overlap
  });

  // forward blocks of 1 layer and search blocks of 1 layer, both paged; forward blocks of 2 layers paged (the search
  // on the host curves: no fused search fits there); forward blocks resident and search blocks of 2 layers paged
  const cases: [string, number, (p: ReturnType<typeof planExecution>) => boolean, 'fused' | 'ort'][] = [
    ['forward and search blocks of 1 layer paged', 1, bothPaged, 'fused'],
    ['forward blocks of 2 layers paged', 2, (p) => !!p.overlap && !p.search, 'ort'],
    ['search blocks of 2 layers paged', 1, (p) => !p.overlap && p.residentBlocks === L && !!p.search?.overlap && p.search.blocks[0][1] === 2, 'fused'],
  ];
  /** the whole graph's CETT-PPL-1% per curve engine (the same data and model in every case: measured once) */
  const wholeOf = new Map<string, ReturnType<typeof measureOnRunner>>();
  test.each(cases)('%s: the same bits with and without overlap; CETT-PPL-1%% = whole graph', async (what, k, want, curveEngine) => {
    const ckpt = await ckptP;
    const cap = capWhere(ckpt, k, want);
    const whole = await open({ execution: 'whole' });
    const on = await open({ execution: 'streamed', blockLayers: k, deviceMemoryBytes: cap });
    const off = await open({ execution: 'streamed', blockLayers: k, deviceMemoryBytes: cap, blockOverlap: false });
    expect(on.streamStats.overlap).toBe(true);
    expect(off.streamStats.overlap).toBe(false);
    const tau = on.colNorms.map((c) => c.map((x) => 0.01 / x));
    for (const mode of [{ kind: 'dense' as const }, { kind: 'cett' as const, tau }, { kind: 'topk-token' as const, k: 7 }]) {
      const req = { ids, batch, seqLen: S, mode, captureActivations: mode.kind === 'dense' };
      const a = await on.forward(req);
      expect(bits(a), `${mode.kind} ${what}`).toEqual(bits(await off.forward(req)));
      expect(bits(await on.forward(req)), `${mode.kind} again`).toEqual(bits(a)); // paged again, prefetched
      const w = await whole.forward(req);
      expect(Array.from(a.activeCounts)).toEqual(Array.from(w.activeCounts));
      expect(maxAbs(a.nll, w.nll)).toBeLessThanOrEqual(1e-5);
    }
    for (const x of [on, off, whole]) await x.dispose();

    const rd = mulberry32(41);
    const data = batchStream(Int32Array.from({ length: 4 * S }, () => Math.floor(rd() * 256)), { seqLen: S, batch }, 'random ids'); // one batch
    // (tol 1e-2: 7 outer steps instead of 10; every step's search and passes are compared all the same)
    const o = { p: 1, tol: 1e-2, thresholdMode: 'authors' as const, curveEngine };
    const measure = (ro: RunnerOptions, check?: (r: ModelRunner) => void) => measureOnRunner(ckpt, data, o, { provider: 'cpu', maxSeq: S, batchSeqs: batch, ...ro }, check);
    if (!wholeOf.has(curveEngine)) wholeOf.set(curveEngine, measure({ execution: 'whole' }));
    const want0 = await wholeOf.get(curveEngine)!;
    expect(want0.cett).toBeGreaterThan(0.01);
    expect(want0.cett).toBeLessThan(0.9);
    const got: Awaited<ReturnType<typeof measure>>[] = [];
    // (the search blocks' warm-up call: the next test, on one search step)
    const runs: [boolean, boolean | number][] = [[true, false], [false, false]];
    for (const [blockOverlap, blockWarmup] of runs) {
      got.push(
        await measure({ execution: 'streamed', blockLayers: k, deviceMemoryBytes: cap, blockOverlap, blockWarmup }, (runner) => {
          expect((runner as Streamed).streamStats.overlap).toBe(blockOverlap);
          if (curveEngine === 'fused') expect(runner.plan!.search!.overlap ?? false).toBe(blockOverlap);
        }),
      );
    }
    // overlap on and off: the same thresholds, CETT and ratios bit for bit; both the whole graph's
    for (const g of got.slice(1)) {
      expect(got[0].thresholds).toEqual(g.thresholds);
      expect([got[0].cett, got[0].activationRatio, got[0].pplRatio]).toEqual([g.cett, g.activationRatio, g.pplRatio]);
    }
    for (const g of got) {
      expect(g.cett, what).toBe(want0.cett);
      if (curveEngine === 'fused') expect(g.thresholds, what).toEqual(want0.thresholds);
      else expect(maxAbs(g.thresholds, want0.thresholds)).toBeLessThanOrEqual(1e-6 * Math.max(...want0.thresholds.map(Math.abs)));
      expect(g.activationRatio).toBeCloseTo(want0.activationRatio, 9);
      expect(Math.abs(Math.log(g.pplRatio) - Math.log(want0.pplRatio))).toBeLessThanOrEqual(1e-5);
    }
  });

  // each search block's session warmed up by a call right after its creation (RunnerOptions.blockWarmup: 1 × 2 tokens,
  // and one sequence of the run's length): the same search step bit for bit (one step: what a measure repeats per step)
  test('search blocks warmed up after their creation: the same search step, bit for bit', async () => {
    const ckpt = await ckptP;
    const cap = capWhere(ckpt, 1, cases[2][2]);
    const req = { ids, batch, seqLen: S, targets: [{ c: 0.1, lo: new Array(L).fill(0), hi: new Array(L).fill(65535) }], iters: 8 };
    const plain = await open({ execution: 'streamed', blockLayers: 1, deviceMemoryBytes: cap });
    const want = await plain.searchStep!(req);
    await plain.dispose();
    const flat = (x: typeof want) => [x.nll, x.activeCounts, x.neuronActiveCounts, x.eps, x.gridStart, x.gridEnd].map((a) => Array.from(a));
    for (const blockWarmup of [true, 1]) {
      const warm = await open({ execution: 'streamed', blockLayers: 1, deviceMemoryBytes: cap, blockWarmup });
      expect(warm.plan!.search!.overlap).toBe(true);
      const got = await warm.searchStep!(req);
      expect(flat(got), `blockWarmup ${blockWarmup}`).toEqual(flat(want));
      expect(got.evaluated).toEqual(want.evaluated);
      await warm.dispose();
    }
  });

  test("each paged block's session is created on the other host while the block before it runs", async () => {
    const ckpt = await ckptP;
    const cap = overlapCap(ckpt);
    const st = await open({ execution: 'streamed', blockLayers: 1, deviceMemoryBytes: cap });
    blockHostTesting.runDelayMs = 250;
    try {
      const req = { ids, batch, seqLen: S, mode: { kind: 'dense' as const } };
      await st.forward(req);
      st.streamStats.timeline.splice(0);
      await st.forward(req); // every paged block of this call was prefetched
      const tl = st.streamStats.timeline;
      // one run per chunk of the batch: a block's first run and its last
      const all = tl.filter((e) => e.what === 'run');
      const runs = all.filter((e, i) => i === 0 || all[i - 1].label !== e.label).map((e) => ({ ...e, end: all.findLast((x) => x.label === e.label)!.end }));
      const creates = tl.filter((e) => e.what === 'create');
      expect(runs.map((e) => e.label)).toEqual(['0-1', '1-2', '2-3', '3-4'].map((b) => `cett+capture ${b}`));
      expect(new Set(runs.map((e) => e.host))).toEqual(new Set(['local', 'remote'])); // blocks alternate
      // every block created in this call (the resident ones were kept from the first): on the other host than the run
      // of the block before it (block 0, for the next call: the last block's), starting before that run ended (one
      // after another, it would start after); a block then runs where it was made
      let overlapped = 0;
      for (const c of creates) {
        const i = runs.findIndex((e) => e.label === c.label);
        expect(i, c.label).toBeGreaterThanOrEqual(0);
        const before = runs[i > 0 ? i - 1 : runs.length - 1];
        expect(c.host).not.toBe(before.host);
        expect(c.start).toBeLessThan(before.end);
        if (i > 0) expect(runs[i].host).toBe(c.host);
        overlapped++;
      }
      expect(overlapped).toBeGreaterThanOrEqual(L - 1 - st.plan!.residentBlocks);
      expect(overlapped).toBeGreaterThanOrEqual(2);
    } finally {
      blockHostTesting.runDelayMs = 0;
      await st.dispose();
    }
    const off = await open({ execution: 'streamed', blockLayers: 1, deviceMemoryBytes: cap, blockOverlap: false });
    blockHostTesting.runDelayMs = 50;
    await off.forward({ ids, batch, seqLen: S, mode: { kind: 'dense' } });
    const tl = off.streamStats.timeline;
    expect(tl.every((e) => e.host === 'local')).toBe(true);
    for (const c of tl.filter((e) => e.what === 'create')) for (const run of tl.filter((e) => e.what === 'run')) expect(c.end <= run.start || c.start >= run.end).toBe(true);
    await off.dispose();
  });

  test('a worker that cannot start: blocks one after another on this thread, the same numbers, and the reason', async () => {
    const ckpt = await ckptP;
    const cap = overlapCap(ckpt);
    const bad = path.join(tmp, 'broken-worker.mjs');
    fs.writeFileSync(bad, "throw new Error('no onnxruntime here');\n");
    blockHostTesting.script = bad;
    const st = await open({ execution: 'streamed', blockLayers: 1, deviceMemoryBytes: cap });
    blockHostTesting.script = undefined;
    expect(st.streamStats.overlap).toBe(false);
    expect(st.fallbackReasons.join('\n')).toMatch(/blocks are created one after another \(the block-host worker could not start: .*no onnxruntime here/);
    const off = await open({ execution: 'streamed', blockLayers: 1, deviceMemoryBytes: cap, blockOverlap: false });
    const req = { ids, batch, seqLen: S, mode: { kind: 'dense' as const }, captureActivations: true };
    expect(bits(await st.forward(req))).toEqual(bits(await off.forward(req)));
    expect(st.streamStats.timeline.every((e) => e.host === 'local')).toBe(true);
    await st.dispose();
    await off.dispose();
  });

  test('cancel: a forward in flight rejects CANCELLED, the worker releases its sessions and exits', async () => {
    const ckpt = await ckptP;
    const cap = overlapCap(ckpt);
    const ac = new AbortController();
    const st = await open({ execution: 'streamed', blockLayers: 1, deviceMemoryBytes: cap, signal: ac.signal });
    expect(st.streamStats.overlap).toBe(true);
    blockHostTesting.runDelayMs = 100;
    const req = { ids, batch, seqLen: S, mode: { kind: 'dense' as const } };
    const p = st.forward(req);
    // cancelled while a block runs on the worker (the second block's run)
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (st.streamStats.timeline.some((e) => e.what === 'run' && e.host === 'local')) {
          clearInterval(t);
          resolve();
        }
      }, 5);
    });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'CANCELLED' });
    const t0 = Date.now();
    await st.dispose(); // settles once the worker has exited
    expect(Date.now() - t0).toBeLessThan(5000);
    await expect(st.forward(req)).rejects.toThrow();
  });
});

// the bundle (the app's and the GPU benchmark's, scripts/build.mjs workerEntryPoints): a bundled engine finds
// block-host-worker.cjs beside it, overlaps, and gives the sources' bits
test('a bundled engine starts block-host-worker.cjs beside it: overlap on, the same bits as the sources', async () => {
  const root = path.resolve(__dirname, '../..');
  const out = fs.mkdtempSync(path.join(tmp, 'bundle-'));
  const { electronBuildOptions } = (await import(path.join(root, 'scripts/build.mjs'))) as { electronBuildOptions: () => Record<string, unknown> };
  const common = { ...electronBuildOptions(), sourcemap: false, absWorkingDir: root, outdir: out, outExtension: { '.js': '.cjs' } };
  const probe = `import { createHash } from 'node:crypto';
import { loadCheckpoint } from './main/checkpoint/load';
import { createRunner } from './main/inference/index';
const ids = Int32Array.from(JSON.parse(process.argv[4]));
loadCheckpoint(process.argv[2]).then(async (c) => { const r = await createRunner(c, { provider: 'cpu', maxSeq: ${S}, batchSeqs: ${batch}, execution: 'streamed', blockLayers: 1, deviceMemoryBytes: Number(process.argv[3]), blockOverlap: true, pagedWeights: 'sessions' }); const f = await r.forward({ ids, batch: ${batch}, seqLen: ${S}, mode: { kind: 'dense' }, captureActivations: true }); const overlap = r.streamStats.overlap; await r.dispose(); const h = createHash('sha256'); for (const a of [f.nll, f.activeCounts, f.neuronActiveCounts, ...f.activations]) h.update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)); process.stdout.write(JSON.stringify({ overlap, hash: h.digest('hex'), reasons: r.fallbackReasons })); }).catch((e) => { process.stderr.write(e.code + ': ' + e.message); process.exitCode = 1; });`;
  await build({ ...common, stdin: { contents: probe, resolveDir: root, loader: 'ts', sourcefile: 'overlap-probe.ts' }, outdir: undefined, outfile: path.join(out, 'overlap-probe.cjs') });
  await build({ ...common, entryPoints: { 'block-host-worker': 'main/inference/block-host-worker.ts' } });
  const cap = overlapCap(await ckptP);
  const st = await open({ execution: 'streamed', blockLayers: 1, deviceMemoryBytes: cap });
  const f = await st.forward({ ids, batch, seqLen: S, mode: { kind: 'dense' }, captureActivations: true });
  await st.dispose();
  const h = createHash('sha256');
  for (const a of [f.nll, f.activeCounts, f.neuronActiveCounts, ...f.activations!]) h.update(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  const withOrt = { env: { ...process.env, NODE_PATH: path.join(root, 'node_modules') } };
  const got = JSON.parse((await promisify(execFile)(process.execPath, [path.join(out, 'overlap-probe.cjs'), dir, String(cap), JSON.stringify(Array.from(ids))], withOrt)).stdout);
  expect(got).toEqual({ overlap: true, hash: h.digest('hex'), reasons: [] });
});
