/**
 * Streamed execution (issue 15): a model larger than the device's memory runs as a sequence of block graphs
 * (GraphOptions.layers: embedding + layers 0…k−1, layers k…2k−1, …, the last block with the final norm, head and NLL).
 * The residual stream between blocks is handed over on the host in the graph's dtype (the same values the whole graph
 * keeps on the device: checkpointed activations), so every measurement is the whole graph's: NLL, masks with per-layer
 * thresholds, active counts and the captured gated activations the threshold search needs.
 *
 * The fused CETT search step runs block by block too (ExecutionPlan.search): one search graph per block of layers
 * (search-graph.ts `layers`) takes the dense and the sparse residual streams at the block's entry, runs the block's
 * dense layers and each layer's grid and bisection on the device (the activations never leave it), then the block's
 * sparse layers at τ = ε/‖W_out[:,i]‖ (each layer's τ needs only its own search), and hands both streams to the next
 * block; the last block ends with the head's NLL (in row chunks). Every per-layer value depends on that layer's own
 * tensors, so the blocks give the whole search graph's thresholds, and its NLL (the same τ bits). The search's blocks,
 * token chunk and layer group are planned from the budget with the forward sessions released (released when a search
 * call starts, reopened by the next forward call, which releases the search sessions in turn).
 * Where not even one layer's search fits, the plan has no search and the CETT search runs on the host/ORT curves
 * (metrics/target.ts chooses them when searchStep is absent).
 *
 * Block sessions are kept while they fit (ExecutionPlan.residentBlocks); the others are paged in when a call reaches
 * them, and the sessions of the kind last used by the low blocks stay. A forward call takes every chunk of its batch
 * through one block before the next, so a paged block is loaded once per call, not once per chunk.
 */
import * as ort from 'onnxruntime-node';
import { LabError } from '../api/errors';
import type { LoadedCheckpoint } from '../checkpoint/types';
import type { GraphDType } from '../graph/llama-graph';
import type { GraphRecipe } from '../graph/recipe';
import { DEFAULT_SEARCH_TUNING, searchProductTransB, type SearchTuning } from '../graph/search-graph';
import { maskFeeds } from './mask-feeds';
import { addSearchOutputs, emptySearchOutputs } from './search-outputs';
import type { ExecutionPlan } from './plan';
import type { ProviderName } from './providers';
import type { ForwardRequest, ForwardResult, MaskMode, ModelRunner, SearchStepRequest, SearchStepResult } from './runner-types';

export interface StreamedContext {
  ckpt: LoadedCheckpoint;
  provider: ProviderName;
  dtype: GraphDType;
  fused: boolean;
  halfWeights: boolean;
  maxSeq: number;
  colNorms: Float32Array[];
  fallbackReasons: string[];
  /** how the search graphs evaluate candidates (default DEFAULT_SEARCH_TUNING); the plan sets the token chunk */
  searchTuning?: SearchTuning;
  /** opens a graph over the checkpoint's weights exactly as the whole-model runner opens its own (cache, in place) */
  open(key: Record<string, unknown>, recipe: GraphRecipe): Promise<ort.InferenceSession>;
  /** [B,S] ids as an int64 tensor, checked against the vocabulary and maxSeq */
  idsTensor(req: { ids: Int32Array; batch: number; seqLen: number }, what: string): ort.Tensor;
  /** releases what the context holds (graph store) after the runner's sessions */
  dispose(): Promise<void> | void;
}

/** Where chunk results go in the whole request's outputs. */
class Merge {
  readonly nll: Float32Array;
  readonly activeCounts: Float32Array;
  readonly neuronActiveCounts: Float32Array;
  readonly activations?: Float32Array[];
  constructor(
    private L: number,
    private F: number,
    private B: number,
    private S: number,
    capture: boolean,
  ) {
    this.nll = new Float32Array(B * (S - 1));
    this.activeCounts = new Float32Array(L * B * S);
    this.neuronActiveCounts = new Float32Array(L * F);
    if (capture) this.activations = Array.from({ length: L }, () => new Float32Array(B * S * F));
  }
  /** the outputs of a graph over layers [from, to) for sequences seq0 … seq0+b−1 */
  add(out: ort.InferenceSession.OnnxValueMapType, from: number, to: number, seq0: number, b: number): void {
    const { B, S, F } = this;
    const ac = out.active_counts.data as Float32Array; // [to−from, b, S]
    const nc = out.neuron_counts.data as Float32Array; // [to−from, F]
    for (let li = 0; li < to - from; li++) {
      this.activeCounts.set(ac.subarray(li * b * S, (li + 1) * b * S), ((from + li) * B + seq0) * S);
      const dst = (from + li) * F;
      for (let i = 0; i < F; i++) this.neuronActiveCounts[dst + i] += nc[li * F + i];
      if (this.activations) this.activations[from + li].set(out[`act.${from + li}`].data as Float32Array, seq0 * S * F);
    }
    if (out.nll) this.nll.set(out.nll.data as Float32Array, seq0 * (S - 1));
  }
  result(): ForwardResult {
    return { nll: this.nll, activeCounts: this.activeCounts, neuronActiveCounts: this.neuronActiveCounts, ...(this.activations ? { activations: this.activations } : {}) };
  }
}

/** sequence ranges [seq0, b) of at most `chunk` sequences (topk-batch ranks the whole batch: one chunk) */
function chunksOf(B: number, chunk: number, mode: MaskMode): [number, number][] {
  const c = mode.kind === 'topk-batch' ? B : Math.max(1, chunk);
  const out: [number, number][] = [];
  for (let s0 = 0; s0 < B; s0 += c) out.push([s0, Math.min(c, B - s0)]);
  return out;
}

/**
 * A runner whose forward cuts each batch into chunks of plan.chunkSeqs sequences (the measurement batch is unchanged:
 * the numbers are the uncut call's). Used by the whole-model path when a batch does not fit the device at once.
 */
export function chunkedRunner(r: ModelRunner, plan: ExecutionPlan): ModelRunner {
  const { numLayers: L, intermediateSize: F } = r.spec;
  const forward = async (req: ForwardRequest): Promise<ForwardResult> => {
    const chunks = chunksOf(req.batch, plan.chunkSeqs, req.mode);
    if (chunks.length === 1) return r.forward(req);
    const S = req.seqLen;
    const m = new Merge(L, F, req.batch, S, !!req.captureActivations);
    for (const [s0, b] of chunks) {
      const res = await r.forward({ ...req, ids: req.ids.subarray(s0 * S, (s0 + b) * S), batch: b });
      const out: Record<string, { data: unknown }> = { nll: { data: res.nll }, active_counts: { data: res.activeCounts }, neuron_counts: { data: res.neuronActiveCounts } };
      res.activations?.forEach((a, l) => (out[`act.${l}`] = { data: a }));
      m.add(out as never, 0, L, s0, b);
    }
    return m.result();
  };
  return { ...r, forward, plan };
}

/** the smallest positive float32: a τ that skips exactly the neurons whose a is 0 */
const DENSE_TAU = 1.401298464324817e-45;

/** A search step request's shape checks (a clear error, never a crash inside onnxruntime). */
export function checkSearchRequest(req: SearchStepRequest, L: number): void {
  const J = req.targets.length;
  if (J < 1 || J > 64) throw new LabError('BAD_REQUEST', `searchStep: 1 to 64 targets (got ${J})`);
  for (const t of req.targets)
    if (t.lo.length !== L || t.hi.length !== L || !Number.isFinite(t.c)) throw new LabError('BAD_REQUEST', `searchStep: each target needs a finite c and ${L} lo/hi entries`);
  if (!(Number.isInteger(req.iters) && req.iters >= 0 && req.iters <= 64)) throw new LabError('BAD_REQUEST', `searchStep: iters must be an integer in [0, 64] (got ${req.iters})`);
}

export interface StreamStats {
  /** block sessions opened (first loads and page-ins; search block sessions included; their build and creation times
   *  are the runner's sessionTimings) */
  sessionLoads: number;
  /** graph calls (search block calls included) */
  calls: number;
}

export function createStreamedRunner(ctx: StreamedContext, plan: ExecutionPlan): ModelRunner & { streamStats: StreamStats } {
  const { ckpt, dtype, fused, halfWeights, maxSeq } = ctx;
  const s = ckpt.spec;
  const { numLayers: L, intermediateSize: F } = s;
  if (plan.mode !== 'streamed' || !plan.blocks.length || plan.blocks[0][0] !== 0 || plan.blocks[plan.blocks.length - 1][1] !== L)
    throw new LabError('INTERNAL', `streamed runner: the plan's blocks do not cover layers 0…${L - 1}`);
  const live = new Map<string, { block: number; kind: string; session: Promise<ort.InferenceSession> }>();
  /** the search's block sessions (plan.search), by block index */
  const searchLive = new Map<number, Promise<ort.InferenceSession>>();
  const stats: StreamStats = { sessionLoads: 0, calls: 0 };
  const slots = Math.max(1, plan.residentBlocks);

  async function release(key: string): Promise<void> {
    const e = live.get(key);
    live.delete(key);
    await (await e?.session.catch(() => undefined))?.release();
  }

  async function releaseAll(m: Map<unknown, unknown>, rel: (k: never) => Promise<void>): Promise<void> {
    for (const k of [...m.keys()]) await rel(k as never);
  }
  async function releaseSearch(bi: number): Promise<void> {
    const p = searchLive.get(bi);
    searchLive.delete(bi);
    await (await p?.catch(() => undefined))?.release();
  }

  /** the session of block `bi` for graph kind `kind` (paging another out when the resident slots are full) */
  async function blockSession(bi: number, kind: MaskMode['kind'], capture: boolean): Promise<ort.InferenceSession> {
    const k = `${kind}${capture ? '+capture' : ''}`;
    const key = `${bi}:${k}`;
    const have = live.get(key);
    if (have) return have.session;
    while (live.size >= slots) {
      // another kind's sessions go first; then the highest block (the low blocks stay resident, the rest page through)
      const entries = [...live.entries()];
      const other = entries.find(([, e]) => e.kind !== k);
      const victim = other ?? entries.reduce((a, b) => (b[1].block > a[1].block ? b : a));
      await release(victim[0]);
    }
    const gopts = { dtype, mode: kind, capture, maxSeq, layers: plan.blocks[bi], ...(fused ? { fused: true } : {}), ...(halfWeights ? { halfWeights: true } : {}) };
    const session = ctx.open(gopts, { kind: 'decoder', options: gopts });
    live.set(key, { block: bi, kind: k, session });
    session.then(
      () => stats.sessionLoads++,
      () => live.delete(key),
    );
    return session;
  }

  /**
   * Dense and CETT passes, with or without the captured activations, share one graph per block (CETT mode with the
   * act outputs, fetched only when asked): a measurement's dense and sparse passes then never page each other's
   * blocks out. Dense = CETT with every τ the smallest positive float (1.4e-45): |a| < τ exactly when a = 0, the
   * dense graph's inactive set, and masking then changes nothing (onnxruntime keeps subnormals unless
   * session.set_denormal_as_zero is set; the tests check the counts are the dense graph's).
   */
  const denseTau = new ort.Tensor('float32', new Float32Array(L * F).fill(DENSE_TAU), [L, F]);
  const shared = (kind: MaskMode['kind']) => kind === 'dense' || kind === 'cett';

  let queue: Promise<unknown> = Promise.resolve();
  async function forwardNow(req: ForwardRequest): Promise<ForwardResult> {
    // the search's sessions were planned with the forward sessions released: release them in turn (unless both fit)
    if (!together) await releaseAll(searchLive, releaseSearch);
    const { batch: B, seqLen: S } = req;
    const ids = ctx.idsTensor(req, 'forward');
    const mf = maskFeeds(s, req.mode, B, S);
    const capture = !!req.captureActivations;
    const kind = shared(mf.kind) ? 'cett' : mf.kind;
    const feeds = mf.kind === 'dense' ? { tau: denseTau } : mf.feeds;
    const graphCapture = shared(mf.kind) || capture;
    const chunks = chunksOf(B, plan.chunkSeqs, req.mode);
    const idsOf = ([s0, b]: [number, number]) => (chunks.length === 1 ? ids : new ort.Tensor('int64', (ids.data as BigInt64Array).subarray(s0 * S, (s0 + b) * S), [b, S]));
    const m = new Merge(L, F, B, S, capture);
    const hidden: (ort.Tensor | undefined)[] = chunks.map(() => undefined);
    for (let bi = 0; bi < plan.blocks.length; bi++) {
      const [from, to] = plan.blocks[bi];
      const sess = await blockSession(bi, kind, graphCapture);
      const fetches = ['active_counts', 'neuron_counts', to < L ? 'hidden_out' : 'nll'];
      if (capture) for (let l = from; l < to; l++) fetches.push(`act.${l}`);
      for (let c = 0; c < chunks.length; c++) {
        const out = await sess.run({ ...feeds, input_ids: idsOf(chunks[c]), ...(from > 0 ? { hidden_in: hidden[c]! } : {}) }, fetches);
        stats.calls++;
        hidden[c] = to < L ? out.hidden_out : undefined;
        m.add(out, from, to, chunks[c][0], chunks[c][1]);
      }
    }
    return m.result();
  }

  const sp = plan.search;
  /** the forward blocks and the search blocks fit the budget side by side: neither releases the other */
  const together = !!sp && sp.peakBytes + plan.peakBytes <= plan.budgetBytes;
  const tuning: SearchTuning = { ...DEFAULT_SEARCH_TUNING, ...ctx.searchTuning };
  // the plan's token chunk (0 = all at once) bounds a chunk the user's tuning asks for
  if (sp) tuning.chunkTokens = sp.chunkTokens && tuning.chunkTokens ? Math.min(sp.chunkTokens, tuning.chunkTokens) : sp.chunkTokens || tuning.chunkTokens;

  /** the search session of plan.search block `bi` (the highest resident one is paged out when the slots are full) */
  async function searchSession(bi: number): Promise<ort.InferenceSession> {
    const have = searchLive.get(bi);
    if (have) return have;
    while (searchLive.size >= Math.max(1, sp!.residentBlocks)) await releaseSearch(Math.max(...searchLive.keys()));
    const layers = sp!.blocks[bi];
    // on CUDA the products read W_out as stored (FusedMatMul transB), as the whole graph's do: no transposed copy
    // made each time a block's session is paged in
    const productTransB = searchProductTransB(ctx.provider);
    const o = { dtype, maxSeq, colNorms: ctx.colNorms, fused, tuning, layerGroup: sp!.layerGroup, layers, sparseStream: true, productTransB };
    const session = ctx.open({ search: 3, dtype, maxSeq, fused, ...tuning, layerGroup: sp!.layerGroup, layers, sparse: 1, productTransB }, { kind: 'search', options: o });
    searchLive.set(bi, session);
    session.then(
      () => stats.sessionLoads++,
      () => searchLive.delete(bi),
    );
    return session;
  }

  /**
   * One fused search step, block by block: per block the dense stream, grid and bisection of its layers, then the
   * sparse stream of the same layers at their ε (search-graph.ts: a layer's τ = ε/‖W_out[:,i]‖ needs only its own
   * search), both residual streams handed to the next block on the host; the last block ends with the head's NLL. Each
   * block's weights are paged in once per step (a separate sparse pass through the forward blocks paged them twice).
   */
  async function searchNow(req: SearchStepRequest): Promise<SearchStepResult> {
    checkSearchRequest(req, L);
    if (!together) await releaseAll(live, release); // the search plan counts the whole budget
    const J = req.targets.length;
    const input_ids = ctx.idsTensor(req, 'searchStep');
    const res = emptySearchOutputs(L);
    let dense: ort.Tensor | undefined;
    let sparse: ort.Tensor | undefined;
    const m = new Merge(L, F, req.batch, req.seqLen, false);
    for (let bi = 0; bi < sp!.blocks.length; bi++) {
      const [from, to] = sp!.blocks[bi];
      const Lb = to - from;
      const i64 = (f: (t: SearchStepRequest['targets'][number]) => ArrayLike<number>) => BigInt64Array.from(req.targets.flatMap((t) => Array.from(f(t), (x) => BigInt(x)).slice(from, to)));
      const feeds: Record<string, ort.Tensor> = {
        input_ids,
        c: new ort.Tensor('float32', Float32Array.from(req.targets, (t) => t.c), [J]),
        lo: new ort.Tensor('int64', i64((t) => t.lo), [J, Lb]),
        hi: new ort.Tensor('int64', i64((t) => t.hi), [J, Lb]),
        iters: new ort.Tensor('int64', new BigInt64Array([BigInt(req.iters)]), []),
      };
      if (from > 0) {
        feeds.hidden_in = dense!;
        feeds.sparse_in = sparse!;
      }
      const sess = await searchSession(bi);
      const out = await sess.run(feeds);
      stats.calls++;
      if (to < L) {
        dense = out.hidden_out;
        sparse = out.sparse_out;
      }
      m.add(out, from, to, 0, req.batch);
      addSearchOutputs(out, res, from);
    }
    return { ...m.result(), ...res };
  }

  /** calls one at a time: they share the paged sessions */
  function serial<T>(f: () => Promise<T>): Promise<T> {
    const p = queue.then(f);
    queue = p.catch(() => undefined);
    return p;
  }

  return {
    spec: s,
    provider: ctx.provider,
    dtype,
    fallbackReasons: ctx.fallbackReasons,
    colNorms: ctx.colNorms,
    plan,
    streamStats: stats,
    forward: (req) => serial(() => forwardNow(req)),
    ...(sp ? { searchStep: (req: SearchStepRequest) => serial(() => searchNow(req)) } : {}),
    releaseForward: () => serial(() => releaseAll(live, release)),
    async dispose() {
      await queue;
      for (const key of [...live.keys()]) await release(key);
      await releaseAll(searchLive, releaseSearch);
      await ctx.dispose();
    },
  };
}
