/**
 * createRunner: a LoadedCheckpoint → a ModelRunner on the best execution provider that works here
 * (cuda → webgpu → cpu unless the user picks), fp16 on GPU and fp32 on CPU. One graph per mask-mode kind
 * (the mask parameters differ), built lazily, pointing at the checkpoint's own weight bytes, and cached on disk keyed
 * by content hash + options (graph-store.ts).
 */
import * as ort from 'onnxruntime-node';
import { LabError } from '../api/errors';
import type { LoadedCheckpoint } from '../checkpoint/types';
import { HALF_WEIGHTS_SESSION_EXTRA, storesHalfWeights, type GraphDType } from '../graph/llama-graph';
import type { GraphRecipe } from '../graph/recipe';
import { probeProviders, PROVIDER_ORDER, type ProviderName } from './providers';
import type { ForwardRequest, ForwardResult, MaskMode, ModelRunner, SearchStepRequest, SearchStepResult } from './runner-types';
import { DEFAULT_SEARCH_TUNING, searchGroupFor, searchProductTransB, type SearchTuning } from '../graph/search-graph';
import { GraphCache, defaultCacheLimit } from './graph-cache';
import { GraphStore } from './graph-store';
import { exporterFeeds, openOnnxSource } from './onnx-file';
import { maskFeeds } from './mask-feeds';
import { deviceMemory, planExecution, weightBytesByLayer, type ExecutionMode, type ExecutionPlan, type PagedWeights } from './plan';
import { checkSearchRequest, chunkedRunner, createStreamedRunner } from './streamed';
import { addSearchOutputs, emptySearchOutputs } from './search-outputs';

export interface RunnerOptions {
  provider?: 'auto' | ProviderName;
  dtype?: 'auto' | GraphDType;
  cacheDir?: string;
  /** the graph cache's size limit (default: graph-cache.ts defaultCacheLimit, env SPARSITY_LAB_GRAPH_CACHE_LIMIT) */
  cacheLimitBytes?: number;
  /** longest sequence length the graph supports (rope/causal tables) */
  maxSeq?: number;
  /**
   * contrib-op decoder form (MultiHeadAttention/RotaryEmbedding/SimplifiedLayerNormalization): default on CUDA and
   * WebGPU; false forces the plain-ONNX form there (the GPU cross-check compares both)
   */
  fused?: boolean;
  /** device memory the engine may use, bytes (the device-memory setting; default: what the device has free) */
  deviceMemoryBytes?: number;
  /** whole-model or streamed execution (plan.ts); 'auto' (default) chooses from the memory */
  execution?: 'auto' | ExecutionMode;
  /** layers per block when streamed (default: planned) */
  blockLayers?: number;
  /** layers per block of a streamed run's fused search (default: planned; benchmarks compare plans with it) */
  searchBlockLayers?: number;
  /**
   * streamed with paged blocks: create the next block's session on a second thread while the current one computes
   * (streamed.ts, block-host.ts). Default: on CUDA (the creation is host work and weight copies beside the device's
   * compute); off on the CPU, where both compete for the same cores (2-core dev machine, 2,048 tokens: 12.7 s without,
   * 17.6–28.2 s with, BENCHMARKS.md), and on WebGPU (Dawn runs in a worker thread, BENCHMARKS.md 2026-12-04 16:25, but the overlap itself is not measured
   * there)
   */
  blockOverlap?: boolean;
  /**
   * streamed: each paged search block's session makes one call of zeros on its host right after its creation (true: 1
   * sequence of 2 tokens; a number: that many sequences of maxSeq tokens), so what a fresh session's first run pays
   * beyond its compute is paid there, beside the other host's run, not in the block's real first run. Off by default
   * (an experiment, bench `--warm 1|<seqs>`: on the H200 the 2-token call did not shorten the first runs,
   * BENCHMARKS.md 2026-12-04 19:27)
   */
  blockWarmup?: boolean | number;
  /**
   * streamed: how the forward passes and the fused search page their blocks' weights (plan.ts PlanInput.pagedWeights):
   * 'inputs' one session per block shape fed each block's weights, 'sessions' a session per paged block; default: planned ('auto')
   */
  pagedWeights?: 'auto' | PagedWeights;
  /**
   * plain-form attention in this many causal query chunks (GraphOptions.attnChunks: the upper triangle of q·kᵀ is never
   * computed). Default CPU_ATTN_CHUNKS on the CPU, 1 (the whole S×S) where the plain form runs elsewhere; the fused
   * form (GPUs) has its own attention kernel and ignores it
   */
  attnChunks?: number;
  /**
   * CPU fp32 graphs: false converts fp16/bf16-stored weight matrices to fp32 initializers (onnxruntime pre-packs them)
   * instead of keeping them 16-bit behind Casts (GraphOptions.halfWeights, the default: about half the memory, 5–10%
   * slower forwards, BENCHMARKS.md compile 2026-11-29). For benchmarks that weigh the two (bench `--half-weights 0`)
   */
  halfWeights?: boolean;
  /**
   * CPU fp32 graphs: CETT masks applied by Mul with the cast keep mask instead of Where (GraphOptions.maskMul; the same
   * bits). Default: on the CPU (onnxruntime's CPU Where runs on one thread: BENCHMARKS.md 2026-12-05), never elsewhere;
   * false gives the Where form (bench `--mask-mul 0`, tests comparing the two)
   */
  maskMul?: boolean;
  /** sequences per measurement batch: the planned chunk never exceeds it (default 4096) */
  batchSeqs?: number;
  /** how the fused CETT search evaluates candidates (search-graph.ts SearchTuning; the answer does not depend on it) */
  searchTuning?: SearchTuning;
  /**
   * onnxruntime session settings for benchmarks that compare them (bench `--ort`): the optimisation level, memory
   * pattern planning, log level. The answer does not depend on them; the product leaves them at their defaults.
   */
  ortSession?: OrtSessionTuning;
  /** the job's cancel: a graph build or session creation it interrupts ends in CANCELLED, the late session released (graph-store.ts) */
  signal?: AbortSignal;
}

export interface OrtSessionTuning {
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  enableMemPattern?: boolean;
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

/**
 * Causal query chunks of the CPU's plain-form attention (RunnerOptions.attnChunks): q·kᵀ, p·v, mask Add and Softmax over
 * 5/8 of the whole S×S. 0.1B paper shape, 4 × 1024 tokens, the 2-core dev machine: a forward 5–7% faster (one thread,
 * 1 × 1024: 7–11% less CPU time); 6, 8 and 16 chunks no better (BENCHMARKS.md 2026-12-04 21:30)
 */
export const CPU_ATTN_CHUNKS = 4;

/** `opt=basic,mempattern=0,log=0` → OrtSessionTuning (bench flag `--ort`); `what` names the flag in errors */
export function parseOrtSessionTuning(spec: string, what: string): OrtSessionTuning {
  const out: OrtSessionTuning = {};
  for (const part of spec.split(',').filter(Boolean)) {
    const [k, v] = part.split('=');
    if (k === 'opt' && ['disabled', 'basic', 'extended', 'all'].includes(v)) out.graphOptimizationLevel = v as OrtSessionTuning['graphOptimizationLevel'];
    else if (k === 'mempattern' && (v === '0' || v === '1')) out.enableMemPattern = v === '1';
    else if (k === 'log' && /^[0-4]$/.test(v)) out.logSeverityLevel = Number(v) as OrtSessionTuning['logSeverityLevel'];
    else throw new LabError('BAD_REQUEST', `${what}: "${part}" is not opt=disabled|basic|extended|all, mempattern=0|1 or log=0..4`);
  }
  return out;
}

export function columnNorms(down: Float32Array, d: number, F: number): Float32Array {
  // W_out is [d, F] (PyTorch Linear layout); neuron i's output direction is column i (paper Sec. 2.2, Eq. 1–2; its CETT norm, Sec. 4.1 Eq. 3)
  const out = new Float32Array(F);
  const acc = new Float64Array(F);
  for (let r = 0; r < d; r++) for (let i = 0; i < F; i++) acc[i] += down[r * F + i] * down[r * F + i];
  for (let i = 0; i < F; i++) out[i] = Math.sqrt(acc[i]);
  return out;
}

async function chooseProvider(want: RunnerOptions['provider']): Promise<{ provider: ProviderName; reasons: string[] }> {
  const probes = await probeProviders();
  const reasons: string[] = [];
  const order = want && want !== 'auto' ? [want, ...PROVIDER_ORDER.filter((p) => p !== want)] : PROVIDER_ORDER;
  for (const p of order) {
    const st = probes.find((x) => x.name === p);
    if (st?.available) return { provider: p, reasons };
    reasons.push(`${p}: ${st?.reason ?? 'not available'}`);
  }
  throw new LabError('UNSUPPORTED', `no execution provider works here (${reasons.join('; ')})`);
}

/** ‖W_out[:, i]‖₂ of every layer of a checkpoint (also τ's denominator in threshold exports, main/engine/export-thresholds.ts). */
export function checkpointColumnNorms(ckpt: LoadedCheckpoint): Float32Array[] {
  return Array.from({ length: ckpt.spec.numLayers }, (_, l) => layerColumnNorms(ckpt, l));
}

function layerColumnNorms(ckpt: LoadedCheckpoint, l: number): Float32Array {
  const s = ckpt.spec;
  const w = ckpt.weights.get(`layers.${l}.mlp.down.weight`);
  if (!w) throw new LabError('BAD_CHECKPOINT', `${ckpt.path}: missing down_proj of layer ${l}`);
  return columnNorms(w.toFloat32(), s.hiddenSize, s.intermediateSize);
}

/**
 * checkpointColumnNorms one layer at a time with the event loop turning in between (a 7B's down projections are
 * 2.9 GB: the engine answers its other requests meanwhile), and a cancel taking effect between layers.
 */
export async function checkpointColumnNormsAsync(ckpt: LoadedCheckpoint, signal?: AbortSignal): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let l = 0; l < ckpt.spec.numLayers; l++) {
    if (signal?.aborted) throw new LabError('CANCELLED', 'the measurement was cancelled');
    out.push(layerColumnNorms(ckpt, l));
    await new Promise<void>((r) => setImmediate(r));
  }
  return out;
}

export async function createRunner(ckpt: LoadedCheckpoint, opts: RunnerOptions = {}): Promise<ModelRunner> {
  const { provider, reasons } = await chooseProvider(opts.provider);
  // an .onnx file computes in the dtype it was exported in; HF weights are converted once: fp16 on GPU, fp32 on CPU
  const onnxSrc = ckpt.format === 'onnx' ? await openOnnxSource(ckpt) : undefined;
  const dtype: GraphDType = onnxSrc ? onnxSrc.dtype : opts.dtype && opts.dtype !== 'auto' ? opts.dtype : provider === 'cpu' ? 'float32' : 'float16';
  const s = ckpt.spec;
  // an .onnx without config.json has no known position limit (0): the graph's own, unknown to us, applies
  const maxSeq = Math.min(opts.maxSeq ?? 1024, s.maxPositions > 0 ? s.maxPositions : Infinity);
  // CPU fp32 graphs keep fp16/bf16-stored weight matrices in that dtype behind Casts (GraphOptions.halfWeights): an
  // fp16 checkpoint then costs about 1× its weights in onnxruntime, not 2× (issue 3's compile memory target)
  const halfWeights = provider === 'cpu' && dtype === 'float32' && opts.halfWeights !== false;
  // graphs point at the checkpoint's own bytes; only unavoidable conversions are written, once (graph-store.ts)
  const store = onnxSrc
    ? undefined
    : new GraphStore(ckpt, {
        dtype,
        halfWeights,
        cache: opts.cacheDir ? new GraphCache(opts.cacheDir, opts.cacheLimitBytes ?? defaultCacheLimit()) : undefined,
        version: GRAPH_VERSION,
        signal: opts.signal,
      });
  // ‖W_out[:,i]‖₂ per layer: computed once per checkpoint (it reads every down_proj) and kept in the graph cache
  const colNorms: Float32Array[] = onnxSrc
    ? onnxSrc.colNorms
    : await store!.derived('colnorms', () => checkpointColumnNormsAsync(ckpt, opts.signal));
  const sessions = new Map<string, Promise<ort.InferenceSession>>();
  // GPUs get the fused form (contrib attention/rope/RMSNorm kernels, issue 10): on CUDA 118% of PyTorch's forward;
  // on WebGPU 9.5× the plain form's speed (H200: 47k vs 5k tokens/s), NLL checked against transformers on both
  const fused = opts.fused ?? (provider === 'cuda' || provider === 'webgpu');
  const attnChunks = fused ? 1 : Math.max(1, Math.floor(opts.attnChunks ?? (provider === 'cpu' ? CPU_ATTN_CHUNKS : 1)));
  const maskMul = provider === 'cpu' && dtype === 'float32' && opts.maskMul !== false;

  const sessOpts: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    // CUDA: weights are allocated at their size, outside onnxruntime's arena. In the arena (the default) they are what
    // its power-of-two growth starts from, and every later extension doubles past them (a 7B search's arena reached the
    // whole 141 GB card, BENCHMARKS.md 2026-12-04); outside it the arena holds activations only
    ...(provider === 'cuda' ? { extra: { session: { use_device_allocator_for_initializers: '1' } } } : {}),
    // CUDA: no memory pattern (one block planned per input shape and kept; with the search's Loops it sized the arena
    // far beyond what is live at once). H200, 7B fused search at 16,384 tokens: peak 82.5 → 50.8 GB, the same bits,
    // no slower (bench measure --at-cett with --ort mempattern=0, BENCHMARKS.md 2026-12-04 09:27)
    ...(provider === 'cuda' ? { enableMemPattern: false } : {}),
    ...opts.ortSession,
  };
  // …and such graphs must not have those Casts constant-folded back into fp32 initializers
  const halfSessOpts: ort.InferenceSession.SessionOptions = { ...sessOpts, extra: { ...(sessOpts.extra ?? {}), ...HALF_WEIGHTS_SESSION_EXTRA } };
  /** a session of the graph of `recipe` (weights in place, cached when there is a cache dir; large builds in the graph worker) */
  function openGraph(key: Record<string, unknown>, recipe: GraphRecipe, half = false): Promise<ort.InferenceSession> {
    return store!.session(key, recipe, half ? halfSessOpts : sessOpts);
  }

  async function session(kind: MaskMode['kind'], capture: boolean): Promise<ort.InferenceSession> {
    const key = `${kind}${capture ? '+capture' : ''}`;
    let p = sessions.get(key);
    if (!p) {
      const gopts = { dtype, mode: kind, capture, maxSeq, ...(fused ? { fused: true } : {}), ...(halfWeights ? { halfWeights: true } : {}), ...(attnChunks > 1 ? { attnChunks } : {}), ...(maskMul && kind === 'cett' ? { maskMul } : {}) };
      p = onnxSrc
        ? onnxSrc.session(kind, capture, sessOpts, opts.signal)
        : openGraph(gopts, { kind: 'decoder', options: gopts }, storesHalfWeights(ckpt, gopts));
      sessions.set(key, p);
      p.catch(() => sessions.delete(key));
    }
    return p;
  }

  function idsTensor(req: { ids: Int32Array; batch: number; seqLen: number }, what: string): ort.Tensor {
    const { batch: B, seqLen: S } = req;
    if (req.ids.length !== B * S) throw new LabError('BAD_REQUEST', `${what}: ids has ${req.ids.length} entries, expected B·S = ${B * S}`);
    if (S < 2 || S > maxSeq) throw new LabError('BAD_REQUEST', `${what}: sequence length ${S} outside [2, ${maxSeq}]`);
    const ids64 = new BigInt64Array(B * S);
    for (let i = 0; i < ids64.length; i++) {
      const t = req.ids[i];
      if (t < 0 || t >= s.vocabSize) throw new LabError('BAD_DATA', `token id ${t} is outside the model's vocabulary (${s.vocabSize})`);
      ids64[i] = BigInt(t);
    }
    return new ort.Tensor('int64', ids64, [B, S]);
  }

  let searchSession: Promise<ort.InferenceSession> | undefined;
  async function searchStep(req: SearchStepRequest): Promise<SearchStepResult> {
    const L = s.numLayers;
    const J = req.targets.length;
    checkSearchRequest(req, L);
    const input_ids = idsTensor(req, 'searchStep');
    if (!searchSession) {
      const tuning = opts.searchTuning ?? DEFAULT_SEARCH_TUNING;
      // layers per group sized for the batch this runner was planned for (its sequences per call), not a fixed 16 × 1024
      // CUDA reads W_out in the checkpoint's layout (FusedMatMul transB): no transposed copy made at session creation;
      // a group of several layers would still concatenate their W_out (a copy): one layer per group where each
      // layer's product is large anyway (d_h·d_f ≥ 2^24: LLaMA-2-7B), the usual groups below that
      const productTransB = searchProductTransB(provider);
      const layerGroup = searchGroupFor(s, opts.batchSeqs ? opts.batchSeqs * maxSeq : undefined, productTransB);
      const key = { search: 3, dtype, maxSeq, fused, ...tuning, layerGroup, productTransB };
      searchSession = openGraph(key, { kind: 'search', options: { dtype, maxSeq, colNorms, fused, tuning, layerGroup, productTransB } });
      searchSession.catch(() => (searchSession = undefined));
    }
    const sess = await searchSession;
    const i64 = (f: (t: SearchStepRequest['targets'][number]) => ArrayLike<number>) => BigInt64Array.from(req.targets.flatMap((t) => Array.from(f(t), (x) => BigInt(x))));
    const out = await sess.run({
      input_ids,
      c: new ort.Tensor('float32', Float32Array.from(req.targets, (t) => t.c), [J]),
      lo: new ort.Tensor('int64', i64((t) => t.lo), [J, L]),
      hi: new ort.Tensor('int64', i64((t) => t.hi), [J, L]),
      iters: new ort.Tensor('int64', new BigInt64Array([BigInt(req.iters)]), []),
    });
    const res = emptySearchOutputs(L);
    addSearchOutputs(out, res, 0);
    return {
      nll: out.nll.data as Float32Array,
      activeCounts: out.active_counts.data as Float32Array,
      neuronActiveCounts: out.neuron_counts.data as Float32Array,
      ...res,
    };
  }

  async function forward(req: ForwardRequest): Promise<ForwardResult> {
    const { batch: B, seqLen: S, mode } = req;
    const { kind, feeds } = maskFeeds(s, mode, B, S);
    feeds.input_ids = idsTensor(req, 'forward');
    const sess = await session(kind, !!req.captureActivations);
    // exported decoders (optimum) may also take an attention mask, position ids, an (empty) KV cache …
    if (onnxSrc) Object.assign(feeds, exporterFeeds(sess.inputMetadata, new Set(Object.keys(feeds)), B, S, s, ckpt.path));
    const out = await sess.run(feeds);
    const res: ForwardResult = {
      nll: out.nll.data as Float32Array,
      activeCounts: out.active_counts.data as Float32Array,
      neuronActiveCounts: out.neuron_counts.data as Float32Array,
    };
    if (req.captureActivations) res.activations = Array.from({ length: s.numLayers }, (_, l) => out[`act.${l}`].data as Float32Array);
    return res;
  }

  async function releaseForward(): Promise<void> {
    const open = [...sessions.values()];
    sessions.clear();
    for (const p of open) await (await p.catch(() => undefined))?.release();
  }

  async function dispose(): Promise<void> {
    await (await searchSession?.catch(() => undefined))?.release();
    searchSession = undefined;
    for (const p of sessions.values()) await (await p.catch(() => undefined))?.release();
    sessions.clear();
    store?.dispose();
  }

  const base: ModelRunner = { spec: s, provider, dtype, fallbackReasons: reasons, colNorms, forward, dispose };
  // an .onnx file: one graph as exported (no fused search, no plan)
  if (onnxSrc) return base;
  // whole graph or streamed blocks, and sequences per call, from the device's free memory (plan.ts)
  const plan = await planFor(ckpt, { provider, dtype, fused, maxSeq, halfWeights }, opts);
  if (plan.mode === 'streamed') {
    const streamed = createStreamedRunner(
      {
        ckpt, provider, dtype, fused, halfWeights, maxSeq, colNorms, fallbackReasons: reasons, idsTensor, signal: opts.signal,
        ...(opts.searchTuning ? { searchTuning: opts.searchTuning } : {}),
        ...(opts.blockWarmup ? { warmup: { seqs: typeof opts.blockWarmup === 'number' ? Math.max(0, Math.floor(opts.blockWarmup)) : 0 } } : {}),
        open: (key, recipe, create) => store!.session(key, recipe, storesHalfWeights(ckpt, { dtype, halfWeights }) ? halfSessOpts : sessOpts, create),
        converted: (o) => store!.convertedFor(o),
        dispose: () => store?.dispose(),
      },
      plan,
    );
    streamed.sessionTimings = store!.timings;
    await streamed.hostReady; // the block-host worker started (or the fallback said why not) before the runner is used
    return streamed;
  }
  return chunkedRunner({ ...base, searchStep, releaseForward, sessionTimings: store!.timings }, plan);
}

/** The execution plan createRunner makes for these choices (device memory read now). */
async function planFor(
  ckpt: LoadedCheckpoint,
  c: { provider: ProviderName; dtype: GraphDType; fused: boolean; maxSeq: number; halfWeights: boolean },
  opts: RunnerOptions,
): Promise<ExecutionPlan> {
  const mem = await deviceMemory(c.provider);
  return planExecution({
    spec: ckpt.spec,
    provider: c.provider,
    dtype: c.dtype,
    fused: c.fused,
    seqLen: c.maxSeq,
    batchSeqs: Math.max(1, opts.batchSeqs ?? MAX_CHUNK_SEQS),
    ...weightBytesByLayer(ckpt, { dtype: c.dtype, halfWeights: c.halfWeights }),
    mem,
    deviceName: mem.name,
    capBytes: opts.deviceMemoryBytes,
    execution: opts.execution,
    blockLayers: opts.blockLayers,
    ...(opts.searchBlockLayers ? { searchBlockLayers: opts.searchBlockLayers } : {}),
    overlap: opts.blockOverlap ?? c.provider === 'cuda',
    ...(opts.pagedWeights ? { pagedWeights: opts.pagedWeights } : {}),
    ...(opts.batchSeqs ? { searchTokens: opts.batchSeqs * c.maxSeq } : {}),
  });
}

/**
 * What createRunner would plan for this checkpoint and these options, without building or opening anything (the
 * runs.plan query: shown before Run). undefined for .onnx inputs (one graph, as exported).
 */
export async function planRunner(ckpt: LoadedCheckpoint, opts: RunnerOptions = {}): Promise<ExecutionPlan | undefined> {
  if (ckpt.format === 'onnx') return undefined;
  const { provider } = await chooseProvider(opts.provider);
  const dtype: GraphDType = opts.dtype && opts.dtype !== 'auto' ? opts.dtype : provider === 'cpu' ? 'float32' : 'float16';
  const maxSeq = Math.min(opts.maxSeq ?? 1024, ckpt.spec.maxPositions > 0 ? ckpt.spec.maxPositions : Infinity);
  const fused = opts.fused ?? (provider === 'cuda' || provider === 'webgpu');
  return planFor(ckpt, { provider, dtype, fused, maxSeq, halfWeights: provider === 'cpu' && dtype === 'float32' && opts.halfWeights !== false }, opts);
}

/** sequences per graph call when the caller names no batch (the contract's largest batch) */
const MAX_CHUNK_SEQS = 4096;
/** Bump when the graph builder changes, so cached graphs of an older builder are never used. */
export const GRAPH_VERSION = 9;
