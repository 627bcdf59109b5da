/**
 * One checkpoint under measurement: its runner, W_out per layer, the evaluation batches, and what the
 * dense pass gives once (paper Sec. 4.1, Eq. 3: the thresholds depend only on the dense pass, so CETT_l(t)
 * is a fixed curve per layer and batch): the dense loss and the per-layer CETT curves per batch. The curves
 * are kept under a memory budget; a batch whose curves were not kept is recomputed (one more dense pass).
 */
import { LabError } from '../api/errors';
import fs from 'node:fs';
import { decodeInto } from '../checkpoint/safetensors';
import type { LoadedCheckpoint, WeightTensor } from '../checkpoint/types';
import type { ForwardResult, MaskMode, ModelRunner } from '../inference/runner-types';
import { authorsEps, bisectionDepth, walkPath } from '../base/authors-search';
import type { Meter } from './control';
import type { EvalBatch } from './data';
import { meanNll } from './stats';
import { AUTHORS_NUM_CANDIDATES, buildLayerCurveParallel, tauFromThresholds, type LayerCurve, type ThresholdMode } from './thresholds';
import { buildProbeCurve } from './cett-probe';
import { closeCurvePool, dropCurveScratch } from './curve-kernel';
import type { SearchRecord } from './types';

export type CurveEngine = 'auto' | 'js' | 'ort' | 'fused';

/** an onnxruntime error of device memory (CUDA / WebGPU allocation failures) */
function isOutOfMemory(e: unknown): boolean {
  return /alloc|out of memory|memory/i.test((e as Error).message ?? String(e));
}

export interface MeasureTarget {
  /** checkpoint path or label */
  id: string;
  runner: ModelRunner;
  /**
   * per layer [d_h, F] W_out (down_proj weight), bias not included (it is not a neuron): in memory, or read a layer at
   * a time when the host curves need it (downWeightsOf)
   */
  downWeights: Float32Array[] | DownWeights;
  /** tokens seen in training (series only) */
  tokensSeen?: number;
}

/** W_out read when needed: one layer's fp32 [d, F] per call, nothing kept (downWeightsOf). */
export interface DownWeights {
  readonly layers: number;
  layer(l: number, signal?: AbortSignal): Promise<Float32Array>;
}

/** layer l's W_out of a target, from memory or read now */
export function downWeightAt(dw: MeasureTarget['downWeights'], l: number, signal?: AbortSignal): Promise<Float32Array> {
  if (Array.isArray(dw)) return Promise.resolve(dw[l]);
  return (dw as DownWeights).layer(l, signal);
}

/**
 * W_out per layer of a loaded checkpoint (canonical name layers.{i}.mlp.down.weight [d, F]), read lazily: every layer's
 * tensor is checked to exist here (a checkpoint without W_out fails before its runner opens), and a layer's values are
 * read only when asked, not kept. Only the host curves (the JS curve and the ORT probe, PreparedTarget.densePass) read
 * them, a layer at a time; the fused search never does. Reading every layer up front into fp32 held the engine's
 * thread in one piece before a large CPU job's passes (a 1.1B bf16: 3.2 s and 0.95 GiB; a 7B: 5.8 GB) (issue 19).
 */
export function downWeightsOf(ckpt: LoadedCheckpoint): DownWeights {
  const ws = Array.from({ length: ckpt.spec.numLayers }, (_, l) => {
    const w = ckpt.weights.get(`layers.${l}.mlp.down.weight`);
    if (!w) throw new LabError('UNSUPPORTED', `${ckpt.path}: no down_proj weight for layer ${l}; CETT needs W_out`);
    return w;
  });
  return { layers: ws.length, layer: (l, signal) => readFloat32(ws[l], signal) };
}

/** Every layer's W_out of a checkpoint in memory (reference computations and benchmarks that index them). */
export async function readDownWeights(ckpt: LoadedCheckpoint): Promise<Float32Array[]> {
  const dw = downWeightsOf(ckpt);
  const out: Float32Array[] = [];
  for (let l = 0; l < dw.layers; l++) out.push(await dw.layer(l));
  return out;
}

const STORED_CODE = { float32: 'F32', float16: 'F16', bfloat16: 'BF16' } as const;
/** bytes read (and decoded) between two turns of the event loop */
const READ_PIECE = 8 * 2 ** 20;

/**
 * A tensor's values in fp32 without holding the event loop: when its bytes are one row-major range of a file
 * (WeightTensor.stored), read in pieces of 8 MiB (`pieceBytes`, a multiple of 4) with asynchronous reads, each piece
 * decoded before the next; else (transposed or compressed storage, values in memory) its own synchronous decode.
 */
export async function readFloat32(w: WeightTensor, signal?: AbortSignal, pieceBytes = READ_PIECE): Promise<Float32Array> {
  const s = w.stored?.();
  const numel = w.shape.reduce((a, b) => a * b, 1);
  const size = s ? (s.dtype === 'float32' ? 4 : 2) : 0;
  if (!s || s.transposed || s.length !== numel * size) return w.toFloat32();
  // every byte is written below or the read throws: not zero-filled first (180 MB for a 7B's layer)
  const out = new Float32Array(Buffer.allocUnsafeSlow(numel * 4).buffer, 0, numel);
  const where = `${s.file}: tensor '${w.name}'`;
  const fh = await fs.promises.open(s.file, 'r');
  try {
    const piece = s.dtype === 'float32' ? undefined : Buffer.allocUnsafeSlow(pieceBytes);
    for (let at = 0; at < s.length; at += pieceBytes) {
      if (signal?.aborted) throw new LabError('CANCELLED', 'the measurement was cancelled');
      const n = Math.min(pieceBytes, s.length - at);
      // fp32: straight into the result's bytes; 16-bit: into the piece, decoded into the result
      const into = piece ? piece.subarray(0, n) : new Uint8Array(out.buffer, at, n);
      let got = 0;
      while (got < n) {
        const { bytesRead } = await fh.read(into, got, n - got, s.offset + at + got);
        if (bytesRead === 0) throw new LabError('BAD_CHECKPOINT', `${where}: the file ends before the tensor's ${s.length} bytes (it changed since it was opened?)`);
        got += bytesRead;
      }
      if (piece) decodeInto(STORED_CODE[s.dtype], into, out, at / size, n / size, where);
    }
  } finally {
    await fh.close();
  }
  return out;
}

export interface BatchThresholds {
  eps: number[];
  clampedLow: boolean[];
}

export class PreparedTarget {
  readonly denseLoss: number[] = [];
  private curves: (LayerCurve[] | undefined)[] = [];
  /** curves still being built after prepare (the last batch's, beside the search's first passes) */
  private pending: (Promise<LayerCurve[]> | undefined)[] = [];
  private cachedBytes = 0;
  /**
   * 'js': the one-pass curve (thresholds.ts); 'ort': the lazy ORT probe (cett-probe.ts); 'fused': dense pass,
   * bisection and sparse pass in one graph call per batch and outer step (search-graph.ts), the dense
   * activations never leaving the device, with a memo of evaluated grid points per batch and layer so each call
   * only evaluates candidates never seen before.
   */
  engine: 'js' | 'ort' | 'fused';
  /** why the fused search was abandoned for the host curves (device memory), if it was */
  fallbackReason?: string;
  /** the engine change behind fallbackReason, as a field (the run's provenance records it) */
  engineFallback?: SearchRecord['engineFallback'];
  /** per batch: tokens left out of the CETT means for a zero FFN output norm, summed over layers (host curves only) */
  private zeroNorm: number[] = [];
  curveMs = 0;
  /** fused: per batch, per layer, grid index → (CETT, threshold value) */
  private memo: Map<number, { cett: number; t: number }>[][] = [];
  private grids: (Float32Array | undefined)[] = [];
  /** fused: candidates evaluated and graph calls (replays: calls whose paths the memo decided), for the benchmark */
  readonly fusedStats = { calls: 0, evaluations: 0, iterations: 0, targets: 0, replays: 0 };
  /** fused: search the outer bisection's two possible next targets in the same call (see step) */
  speculative = false;
  /**
   * CPU curve ('js'): build batch b's curves while batch b+1's dense forward runs, where the runner runs off the
   * engine's thread (an inference worker); else one after the other
   */
  overlapCurves = true;

  constructor(
    readonly target: MeasureTarget,
    readonly batches: EvalBatch[],
    readonly mode: ThresholdMode,
    private readonly meter: Meter,
    private readonly cacheBytes: number,
    engine: CurveEngine = 'auto',
  ) {
    const { hiddenSize: d, intermediateSize: f } = target.runner.spec;
    const tokens = batches[0] ? batches[0].batch * batches[0].seqLen : 0;
    // The JS curve costs ~3·T·F·d scalar flops once per batch and layer, on every core (curve-kernel.ts); the probe
    // one BLAS product of T·F·d per evaluated candidate (~100 per layer over a whole outer search with the memo).
    // On the CPU the curve wins (0.1B, 4,096 tokens per batch, 16 cores: 3.5 s of probe products per layer over 10
    // outer steps against 0.57 s for the curve in JS, less in WebAssembly; bench `cpusearch`, BENCHMARKS.md); on a GPU the probe's
    // products are cheap and the JS curve is kept for toy models (below ~1e6 the session call overhead dominates).
    const canFuse = !!target.runner.searchStep && mode === 'authors';
    if (engine === 'fused' && !canFuse) throw new LabError('BAD_REQUEST', `the fused CETT search needs an HF checkpoint and the authors' threshold mode`);
    // GPU: the fused search (nothing but a few floats crosses the bus; WebGPU, H200, 0.1B shape, 16k tokens: 29.9 s
    // vs 39.5 s with the ORT probe curves, BENCHMARKS.md); CPU: the JS curve on every core
    const cpu = target.runner.provider === 'cpu';
    this.engine = engine === 'auto' ? (canFuse && !cpu ? 'fused' : cpu || tokens * f * d <= 1e6 ? 'js' : 'ort') : engine;
  }

  get spec() {
    return this.target.runner.spec;
  }

  /** Dense pass of every batch: losses, and curves as far as the memory budget allows. */
  async prepare(): Promise<void> {
    if (this.engine === 'fused') {
      // the dense losses only, through the search graph itself (no loop iterations, every layer's interval [0, 0):
      // ε = 0, τ = 0, so its sparse stream keeps every neuron and is the dense forward): the search keeps to one
      // onnxruntime session, one copy of the weights on the device (a forward session would hold a second; issue 15)
      const L = this.spec.numLayers;
      const zeros = new Array<number>(L).fill(0);
      for (let b = 0; b < this.batches.length; b++) {
        const bt = this.batches[b];
        let res;
        try {
          res = await this.target.runner.searchStep!({ ids: bt.ids, batch: bt.batch, seqLen: bt.seqLen, targets: [{ c: 0, lo: zeros, hi: zeros }], iters: 0 });
        } catch (e) {
          if (!isOutOfMemory(e)) throw e;
          this.toHostCurves(e);
          this.denseLoss.length = 0;
          this.memo = [];
          return this.prepare(); // on the host curves now
        }
        if (res.eps.some((x) => x !== 0)) throw new LabError('INTERNAL', `dense pass through the search graph: ε ≠ 0`);
        this.meter.pass(bt.batch * bt.seqLen); // the dense stream
        this.meter.pass(bt.batch * bt.seqLen); // the sparse stream at ε = 0 (the dense forward)
        this.denseLoss[b] = meanNll(res.nll);
        this.memo[b] = Array.from({ length: L }, () => new Map());
        this.meter.step();
      }
      // other users of this runner (an estimate's pilot) may have opened forward sessions: free their weights
      await this.target.runner.releaseForward?.();
      return;
    }
    // the CPU curve overlapped with the next batch's dense forward where that runs off this thread (the curve's
    // threads meanwhile beside onnxruntime's; the same curves and losses, in the same order); the last batch's curves
    // are still being built while the search's first sparse passes run on the batches before it (curvesFor waits)
    const overlap = this.engine === 'js' && this.overlapCurves && !!this.target.runner.offThread;
    const nb = this.batches.length;
    let next = nb ? this.denseForward(0) : undefined;
    for (let b = 0; b < nb; b++) {
      const res = await next!;
      next = overlap && b + 1 < nb ? this.denseForward(b + 1) : undefined;
      // a failure here leaves the next forward's rejection handled (it is awaited only on success)
      next?.catch(() => undefined);
      if (overlap && nb > 1 && b === nb - 1) {
        const p = this.curvesOf(b, res).then((curves) => (dropCurveScratch(), this.keep(b, curves)));
        p.catch(() => undefined); // awaited by curvesFor (or dispose): a failure shows there
        this.pending[b] = p;
      } else {
        const curves = await this.curvesOf(b, res);
        await this.keep(b, curves);
        if (!this.curves[b]) for (const cv of curves) await cv.dispose?.(); // not kept: the ORT probe's sessions go now
      }
      if (!overlap && b + 1 < nb) next = this.denseForward(b + 1);
      this.meter.step();
    }
    // the curves' shared buffers (2 × tokens × d_f × 4 bytes) are not held through the search
    if (!this.pending.some((p) => p)) dropCurveScratch();
  }

  /** batch b's curves kept when the budget allows (else the caller releases them after their use); returns them */
  private async keep(b: number, curves: LayerCurve[]): Promise<LayerCurve[]> {
    const bytes = curves.reduce((s, c) => s + c.bytes, 0);
    if (this.cachedBytes + bytes <= this.cacheBytes) {
      this.curves[b] = curves;
      this.cachedBytes += bytes;
    }
    return curves;
  }

  private async densePass(b: number): Promise<LayerCurve[]> {
    return this.curvesOf(b, await this.denseForward(b));
  }

  /** the dense pass of batch b with its activations captured; sets its dense loss */
  private async denseForward(b: number): Promise<ForwardResult> {
    const bt = this.batches[b];
    const res = await this.target.runner.forward({ ids: bt.ids, batch: bt.batch, seqLen: bt.seqLen, mode: { kind: 'dense' }, captureActivations: true });
    this.meter.pass(bt.batch * bt.seqLen);
    this.denseLoss[b] = meanNll(res.nll);
    if (!res.activations) throw new LabError('INTERNAL', `runner for ${this.target.id} returned no activations`);
    return res;
  }

  /** every layer's CETT curve of batch b from its dense pass */
  private async curvesOf(b: number, res: ForwardResult): Promise<LayerCurve[]> {
    if (!res.activations) throw new LabError('INTERNAL', `runner for ${this.target.id} returned no activations`);
    const bt = this.batches[b];
    const { runner, downWeights } = this.target;
    const { hiddenSize: d, intermediateSize: f } = runner.spec;
    const tokens = bt.batch * bt.seqLen;
    const t0 = performance.now();
    const curves: LayerCurve[] = [];
    const layers = res.activations.length;
    // W_out of a layer at a time (read here unless the target holds them all), the next one's read while this one's
    // curve is built (its threads leave this one free meanwhile)
    let nextW: Promise<Float32Array> | undefined;
    for (let l = 0; l < layers; l++) {
      const wDown = await (nextW ?? downWeightAt(downWeights, l, this.meter.signal));
      nextW = l + 1 < layers ? downWeightAt(downWeights, l + 1, this.meter.signal) : undefined;
      nextW?.catch(() => undefined); // (awaited at the next layer; a curve that fails first leaves it)
      const input = { a: res.activations[l], tokens, f, wDown, d, colNorms: runner.colNorms[l] };
      // a streamed runner keeps every layer's probe operands on the device only where its plan made room for them
      // (issue 15, plan.ts curvesOnDevice); else they are fed per call, one layer's on the device at a time
      const resident = runner.provider !== 'cpu' && (runner.plan?.mode !== 'streamed' || !!runner.plan.curvesOnDevice);
      curves.push(this.engine === 'js' ? await buildLayerCurveParallel(input, this.mode) : await buildProbeCurve(input, this.mode, runner.provider, 1, resident));
      this.meter.check();
    }
    this.zeroNorm[b] = curves.reduce((s, cv) => s + cv.zeroNormTokens, 0);
    this.curveMs += performance.now() - t0;
    return curves;
  }

  /**
   * One outer step on batch b at CETT c: per-layer thresholds (the authors' bisection) and the sparse pass there.
   */
  async step(b: number, c: number, speculate: number[] = []): Promise<{ th: BatchThresholds; res: ForwardResult; loss: number; ratio: number }> {
    if (this.engine !== 'fused') {
      const th = await this.thresholds(b, c);
      const { res, loss, ratio } = await this.sparsePass(b, { kind: 'cett', tau: this.tau(th.eps) });
      return { th, res, loss, ratio };
    }
    const bt = this.batches[b];
    const L = this.spec.numLayers;
    const m = this.memo[b];
    /** walk the authors' path (left 0, right 65535) for target c through what earlier calls evaluated */
    const resume = (c: number) => {
      const cf = Math.fround(c); // the graph compares in fp32
      const lo = new Array<number>(L);
      const hi = new Array<number>(L);
      let iters = 0;
      for (let l = 0; l < L; l++) {
        // the fp32 CETT the graph returned for each evaluated node, on the authors' path (main/base/authors-search.ts)
        const { left, right } = walkPath((mid) => m[l].get(mid)?.cett, cf);
        lo[l] = left;
        hi[l] = right;
        iters = Math.max(iters, bisectionDepth(left, right)); // iterations until the interval is empty (worst case)
      }
      return { c: cf, lo, hi, iters };
    };
    const main = resume(c);
    if (main.iters === 0 && this.speculative) {
      // every layer's path is decided by earlier calls: ε from the memo, one sparse pass, no dense stream (what the
      // speculative search is for; it opens a forward session, a second copy of the weights on the device)
      const ans = main.lo.map((x, l) => authorsEps(x, (i) => m[l].get(i)!.t));
      const eps = ans.map((a) => a.eps);
      const th = { eps, clampedLow: ans.map((a) => a.clampedLow) };
      const { res, loss, ratio } = await this.sparsePass(b, { kind: 'cett', tau: this.tau(eps) });
      return { th, res, loss, ratio };
    }
    // without speculation that case is rare; it runs as the same call with no loop iterations (ε = the memo's grid
    // point, the sparse stream there), so that the search keeps to its one session
    // the outer search's possible next targets ride along while the dense activations are on the device
    const targets = [main, ...(this.speculative ? speculate.map(resume).filter((t) => t.iters > 0) : [])];
    const iters = Math.max(...targets.map((t) => t.iters));
    let res;
    try {
      res = await this.target.runner.searchStep!({ ids: bt.ids, batch: bt.batch, seqLen: bt.seqLen, targets, iters });
    } catch (e) {
      // the fused graph holds every layer's activations at once ([L, B·S, F], and J copies of the masked ones);
      // when the device runs out of memory: first without the speculative targets, then on the host curves
      // (same thresholds, slower), and the result says why
      if (!isOutOfMemory(e)) throw e;
      if (targets.length > 1) this.speculative = false;
      else this.toHostCurves(e);
      return this.step(b, c);
    }
    this.meter.pass(bt.batch * bt.seqLen); // the dense stream (activations, no logits)
    this.meter.pass(bt.batch * bt.seqLen); // the sparse stream
    if (iters > 0) this.fusedStats.calls++;
    else this.fusedStats.replays++;
    this.fusedStats.iterations += iters;
    this.fusedStats.targets += targets.length;
    const grid = new Float32Array([...res.gridStart, ...res.gridEnd]);
    const prev = this.grids[b];
    if (prev && prev.some((v, i) => v !== grid[i])) {
      // the grid is recomputed in every call; if the device ever gives different bits, earlier memo entries are
      // on another grid: forget them (the answer of this call is still the authors' path on its own grid)
      for (const x of m) x.clear();
    }
    this.grids[b] = grid;
    for (let l = 0; l < L; l++)
      for (const e of res.evaluated[l]) {
        if (!m[l].has(e.mid)) this.fusedStats.evaluations++;
        m[l].set(e.mid, { cett: e.cett, t: e.t });
      }
    const loss = meanNll(res.nll);
    return { th: { eps: Array.from(res.eps), clampedLow: res.clampedLow }, res, loss, ratio: Math.exp(loss - this.denseLoss[b]) };
  }

  /** the fused search ran out of device memory: on to the host curves (same thresholds, slower); the result says why */
  private toHostCurves(e: unknown): void {
    const msg = (e as Error).message ?? String(e);
    this.engine = 'ort';
    this.engineFallback = { from: 'fused', to: 'ort', reason: 'device out of memory' };
    this.fallbackReason = `fused search ran out of device memory (${msg.slice(0, 200)}); continued with the ORT probe curves — a smaller batch keeps it on the fused path`;
  }

  /**
   * The choices of the threshold search that decide the number (recorded with the run): engine, precision of the
   * CETT products, candidate grid, q99 cap and its subsample stride, tokens skipped for a zero FFN output norm.
   */
  searchRecord(): SearchRecord {
    const r = this.target.runner;
    const authors = this.mode === 'authors';
    const counted = this.batches.every((_, b) => this.zeroNorm[b] !== undefined);
    return {
      engine: this.engine,
      provider: r.provider,
      // js: float64 running sums of fp32 inputs; ort probe: fp32 graph; fused: the graph dtype, fp32 accumulate
      productPrecision: this.engine === 'js' ? 'float64' : this.engine === 'ort' ? 'float32' : (r.dtype as SearchRecord['productPrecision']),
      candidates: authors ? AUTHORS_NUM_CANDIDATES : 'every distinct value',
      q99Cap: authors,
      q99Stride: authors ? `max(floor(numel / ${AUTHORS_NUM_CANDIDATES}), 1) per batch and layer` : null,
      zeroNormTokens: counted ? this.zeroNorm.reduce((s, x) => s + x, 0) : null,
      engineFallback: this.engineFallback ?? null,
    };
  }

  async curvesFor(b: number): Promise<LayerCurve[]> {
    const p = this.pending[b];
    if (p) {
      this.pending[b] = undefined;
      const curves = await p;
      return this.curves[b] ?? curves; // not kept: used this once
    }
    return this.curves[b] ?? (await this.densePass(b));
  }

  async thresholds(b: number, c: number): Promise<BatchThresholds> {
    const curves = await this.curvesFor(b);
    const ans: { eps: number; clampedLow: boolean }[] = [];
    for (const cv of curves) ans.push(await cv.threshold(c));
    if (!this.curves[b]) for (const cv of curves) await cv.dispose?.(); // not kept: free its device memory now
    return { eps: ans.map((a) => a.eps), clampedLow: ans.map((a) => a.clampedLow) };
  }

  /** Releases the kept curves (ORT probe sessions). */
  async dispose(): Promise<void> {
    await Promise.allSettled(this.pending.filter((p) => p));
    this.pending = [];
    for (const cs of this.curves) for (const cv of cs ?? []) await cv.dispose?.();
    this.curves = [];
    if (this.engine === 'js') {
      await closeCurvePool(); // the CPU curve's threads (else they end a second after their last curve)
      dropCurveScratch(); // and the shared buffers its curves reused
    }
  }

  /** τ_{l,i} = ε_l / ‖W_out[:, i]‖ in fp32 (paper Sec. 4.1, Eq. 3; the form the authors' code exports). */
  tau(eps: number[]): Float32Array[] {
    return tauFromThresholds(eps, this.target.runner.colNorms).map((t) => Float32Array.from(t));
  }

  async sparsePass(b: number, mode: MaskMode) {
    const bt = this.batches[b];
    const res = await this.target.runner.forward({ ids: bt.ids, batch: bt.batch, seqLen: bt.seqLen, mode });
    this.meter.pass(bt.batch * bt.seqLen);
    const loss = meanNll(res.nll);
    return { res, loss, ratio: Math.exp(loss - this.denseLoss[b]) };
  }
}
