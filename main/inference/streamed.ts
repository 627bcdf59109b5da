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
 *
 * Paged blocks overlap (ExecutionPlan.overlap, search.overlap): onnxruntime creates and runs a session synchronously on
 * the thread that calls it, and a session stays on the thread that created it, so the blocks alternate between two
 * hosts, this thread and the block-host worker (block-host.ts): while one host runs block i, the other creates block
 * i+1's session (after the last block, block 0's for the next call) and runs it next. The residual streams cross to
 * the worker transferred, not copied; the graph bytes and session options are the same on both hosts, so are the
 * numbers. Before a block runs, the sessions beyond the resident ones are released (the block before it, its arena
 * with it), so the device holds the kept sessions and one more block's weights: what the plan counts. A worker that
 * cannot start leaves the blocks one after another on this thread (fallbackReasons says so).
 *
 * Paged search blocks fed their weights as inputs (search.weightInputs): one search session per block shape (every
 * block of k layers builds the same graph: search-graph.ts `weightInputs`), created once on this thread and kept, and
 * two end sessions (the embedding, the head: buildSearchEndGraph). Paging a block is feeding it its layers' tensors,
 * read from the checkpoint into two host buffers (block-weights.ts: the next block's read while one runs); onnxruntime
 * copies them to the device inside the run. No session is created or released per block.
 */
import * as ort from 'onnxruntime-node';
import { LabError } from '../api/errors';
import type { LoadedCheckpoint, StoredBytes } from '../checkpoint/types';
import type { GraphDType } from '../graph/llama-graph';
import type { GraphRecipe } from '../graph/recipe';
import { DEFAULT_SEARCH_TUNING, searchProductTransB, type SearchTuning } from '../graph/search-graph';
import { blockHostTesting, localBlockSession, RemoteBlockHost, wallMs, type BlockSession, type HostEvent } from './block-host';
import { BlockWeights, type WeightStats } from './block-weights';
import { sessionFactory, type SessionCreator } from './graph-store';
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
  /**
   * opens a graph over the checkpoint's weights exactly as the whole-model runner opens its own (cache, in place), its
   * session made by `create` from the built bytes and session options (a block host, block-host.ts)
   */
  open(key: Record<string, unknown>, recipe: GraphRecipe, create: SessionCreator<BlockSession>): Promise<BlockSession>;
  /** the job's cancel: the block-host worker stops and releases its sessions */
  signal?: AbortSignal;
  /**
   * each search block's session makes a call right after its creation, on its host (RunnerOptions.blockWarmup): of
   * `seqs` sequences of maxSeq tokens, or 1 of 2 tokens when seqs is 0
   */
  warmup?: { seqs: number };
  /** [B,S] ids as an int64 tensor, checked against the vocabulary and maxSeq */
  idsTensor(req: { ids: Int32Array; batch: number; seqLen: number }, what: string): ort.Tensor;
  /** the graph store's converted copies of the tensors of graphs with these options (GraphStore.convertedFor) */
  converted?(o: { dtype: GraphDType; halfWeights: boolean }): Promise<Map<string, StoredBytes> | undefined>;
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
  /**
   * the outputs of a graph over layers [from, to) for sequences seq0 … seq0+b−1 (`rel`: a block fed its weights as
   * inputs, whose captured activations are act.{l − from})
   */
  add(out: ort.InferenceSession.OnnxValueMapType, from: number, to: number, seq0: number, b: number, rel = false): void {
    const { B, S, F } = this;
    const ac = out.active_counts.data as Float32Array; // [to−from, b, S]
    const nc = out.neuron_counts.data as Float32Array; // [to−from, F]
    for (let li = 0; li < to - from; li++) {
      this.activeCounts.set(ac.subarray(li * b * S, (li + 1) * b * S), ((from + li) * B + seq0) * S);
      const dst = (from + li) * F;
      for (let i = 0; i < F; i++) this.neuronActiveCounts[dst + i] += nc[li * F + i];
      if (this.activations) this.activations[from + li].set(out[`act.${rel ? li : from + li}`].data as Float32Array, seq0 * S * F);
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

/** the label's end of a search block session fed its weights as inputs (timeline events, summarizeStream) */
const INPUTS_LABEL = ', weights as inputs';

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
  /** whether paged blocks alternate between this thread and the block-host worker (the next created while one runs) */
  overlap: boolean;
  /** the last block creations and runs on either host, wall-clock ms (block-host.ts HostEvent; at most 2,000 kept) */
  timeline: HostEvent[];
  /** blocks fed their weights as inputs: the reads (block-weights.ts; the search's and the forward's when they share the reader) */
  weights?: WeightStats;
  /** the forward blocks' reads when they are read apart from the search's (another weight dtype: halfWeights) */
  forwardWeights?: WeightStats;
}

/** totals of a set of timeline events: how many, their ms in all, the mean and the longest */
function tally(es: HostEvent[]) {
  const ms = es.map((e) => e.end - e.start);
  const total = ms.reduce((a, b) => a + b, 0);
  return { n: es.length, ms: Math.round(total), meanMs: es.length ? Math.round(total / es.length) : 0, maxMs: Math.round(Math.max(0, ...ms)) };
}

/**
 * Where a streamed run's block time went (bench measure's streamStats), from the timeline (the last 2,000 creations and
 * runs): per host the ms creating sessions, the ms running blocks, the creation time that ran while the other host
 * computed (hidden); per graph family (search blocks, forward blocks) the creations, the sessions' FIRST runs and their
 * later runs (a fresh session's first run pays for its arena's growth, its cuBLAS/cuDNN handles and workspaces: first
 * against later runs of the same blocks says how much), and the bytes their runs copied between host and device (the
 * feeds and outputs, inside the run: not timed apart; ioGBps is those bytes over the runs' time, a floor).
 */
export function summarizeStream(st: StreamStats) {
  const reads = (w: WeightStats) => ({ ...w, readMs: Math.round(w.readMs), waitMs: Math.round(w.waitMs), GB: +(w.bytes / 1e9).toFixed(2) });
  const sum = (xs: HostEvent[]) => Math.round(xs.reduce((a, e) => a + e.end - e.start, 0));
  const runs = st.timeline.filter((e) => e.what === 'run');
  const creates = st.timeline.filter((e) => e.what === 'create');
  const hidden = creates.reduce((a, c) => a + runs.filter((r) => r.host !== c.host).reduce((b, r) => b + Math.max(0, Math.min(c.end, r.end) - Math.max(c.start, r.start)), 0), 0);
  const family = (search: boolean) => {
    const of = (es: HostEvent[]) => es.filter((e) => e.label.startsWith('search') === search);
    const r = of(runs);
    const io = r.reduce((a, e) => a + (e.ioBytes ?? 0), 0);
    return { creates: tally(of(creates)), firstRuns: tally(r.filter((e) => e.first)), laterRuns: tally(r.filter((e) => e.first === false)), ioGB: +(io / 1e9).toFixed(2) };
  };
  return {
    sessionLoads: st.sessionLoads,
    calls: st.calls,
    overlap: st.overlap,
    // weights fed as inputs: the reads, and the block runs alone (each family's runs include the two ends'), per family
    ...(st.weights
      ? {
          weights: {
            ...reads(st.weights),
            blockRuns: tally(runs.filter((e) => e.label.endsWith(INPUTS_LABEL))),
            searchRuns: tally(runs.filter((e) => e.label.endsWith(INPUTS_LABEL) && e.label.startsWith('search'))),
            forwardRuns: tally(runs.filter((e) => e.label.endsWith(INPUTS_LABEL) && !e.label.startsWith('search'))),
            ...(st.forwardWeights ? { forward: reads(st.forwardWeights) } : {}),
          },
        }
      : {}),
    timelineEvents: st.timeline.length,
    createMs: { local: sum(creates.filter((e) => e.host === 'local')), remote: sum(creates.filter((e) => e.host === 'remote')) },
    runMs: sum(runs),
    createHiddenMs: Math.round(hidden),
    search: family(true),
    forward: family(false),
  };
}

type Host = 'local' | 'remote';
interface Page {
  block: number;
  kind: string;
  host: Host;
  session: Promise<BlockSession>;
  /** settles once the session's creation has been handed to its host (a remote creation: its message posted) */
  posted: Promise<void>;
}

/**
 * Block sessions of one graph kind family (forward blocks or search blocks), keyed by block and kind. With overlap,
 * at most `slots` sessions are kept with their arenas, plus the next block's session while it is being created.
 */
class Pages {
  readonly live = new Map<string, Page>();
  async release(key: string): Promise<void> {
    const e = this.live.get(key);
    this.live.delete(key);
    await (await e?.session.catch(() => undefined))?.release();
  }
  async releaseAll(): Promise<void> {
    for (const k of [...this.live.keys()]) await this.release(k);
  }
  /** releases sessions until at most `n` remain, never `keep`: another kind's first, then the highest block's */
  async shrink(n: number, kind: string, keep?: string): Promise<void> {
    while (this.live.size > n) {
      const entries = [...this.live.entries()].filter(([k]) => k !== keep);
      if (!entries.length) return;
      const victim = entries.find(([, e]) => e.kind !== kind) ?? entries.reduce((a, b) => (b[1].block > a[1].block ? b : a));
      await this.release(victim[0]);
    }
  }
}

export function createStreamedRunner(ctx: StreamedContext, plan: ExecutionPlan): ModelRunner & { streamStats: StreamStats; hostReady: Promise<void> } {
  const { ckpt, dtype, fused, halfWeights, maxSeq } = ctx;
  const s = ckpt.spec;
  const { numLayers: L, intermediateSize: F } = s;
  if (plan.mode !== 'streamed' || !plan.blocks.length || plan.blocks[0][0] !== 0 || plan.blocks[plan.blocks.length - 1][1] !== L)
    throw new LabError('INTERNAL', `streamed runner: the plan's blocks do not cover layers 0…${L - 1}`);
  const live = new Pages();
  /** the search's block sessions (plan.search) */
  const searchLive = new Pages();
  const timeline: HostEvent[] = [];
  const stats: StreamStats = { sessionLoads: 0, calls: 0, overlap: false, timeline };
  const sp = plan.search;
  // the search graphs' weights (no halfWeights: search-graph.ts plans them in the graph dtype)
  const reader = (o: { dtype: GraphDType; halfWeights: boolean }) => new BlockWeights(ckpt, o, ctx.converted && (() => ctx.converted!(o)));
  const weights = sp?.weightInputs ? reader({ dtype, halfWeights: false }) : undefined;
  // the forward blocks' weights, 16-bit where the whole graph keeps them so (halfWeights) unless some is bfloat16 (no
  // such input tensor): one reader with the search's where the two read the same tensors
  const fwHalf = halfWeights && BlockWeights.feedable(ckpt, { dtype, halfWeights: true });
  const fwWeights = plan.weightInputs ? (weights && !fwHalf ? weights : reader({ dtype, halfWeights: fwHalf })) : undefined;
  if (weights ?? fwWeights) stats.weights = (weights ?? fwWeights)!.stats;
  if (weights && fwWeights && fwWeights !== weights) stats.forwardWeights = fwWeights.stats;
  /** sessions kept with their arenas (with overlap, the next block's is created beside them) */
  const slotsOf = (pages: Pages) => Math.max(1, pages === searchLive ? sp!.residentBlocks : plan.residentBlocks);

  // the second block host: only where blocks are paged and the plan counted the next block beside the running one
  let remote: RemoteBlockHost | undefined;
  const hostReady = (async () => {
    if (!plan.overlap && !sp?.overlap) return;
    let host: RemoteBlockHost | undefined;
    try {
      host = new RemoteBlockHost(ctx.signal, timeline, blockHostTesting.script);
      await host.ready;
      remote = host;
      stats.overlap = true;
    } catch (e) {
      if (ctx.signal?.aborted) return;
      await host?.close().catch(() => undefined);
      ctx.fallbackReasons.push(`blocks are created one after another (the block-host worker could not start: ${(e as Error).message})`);
    }
  })();
  /** whether the next block of these pages is created on the other host while one runs */
  const overlapOf = (search: boolean) => !!remote && (search ? !!sp?.overlap : !!plan.overlap);

  /** the session of graph `key` on `host`: created there from the bytes the graph store builds (or takes from its cache) */
  function openOn(host: Host, key: Record<string, unknown>, recipe: GraphRecipe, label: string, warm?: Record<string, ort.Tensor>): { session: Promise<BlockSession>; posted: Promise<void> } {
    // a remote creation is under way once its message is posted; a local one cannot start before this thread is
    // free again (onnxruntime creates in a later macrotask), after the other host's run has been posted
    let posted!: () => void;
    const postedP = host === 'local' ? Promise.resolve() : new Promise<void>((r) => (posted = r));
    const create: SessionCreator<BlockSession> =
      host === 'remote'
        ? (bytes, so) => {
            const p = remote!.create(bytes, so, label, warm);
            posted();
            return p;
          }
        : async (bytes, so) => {
            const t0 = wallMs();
            const sess = await sessionFactory.create(bytes, so);
            if (warm) await sess.run(warm);
            timeline.push({ what: 'create', host: 'local', label, start: t0, end: wallMs() });
            return localBlockSession(sess, timeline, label);
          };
    const session = ctx.open(key, recipe, create);
    if (host === 'remote') session.finally(posted).catch(() => undefined);
    return { session, posted: postedP };
  }

  /**
   * The page of block `bi` in `pages` under `pkey`, opened when absent: `running` is the host of the block computing
   * meanwhile (a prefetch: the other host creates it, beside at most `slots` kept sessions), else undefined (it is
   * needed now: at most `slots` sessions once it is open).
   */
  async function pageOf(pages: Pages, pkey: string, bi: number, kind: string, open: (host: Host) => { session: Promise<BlockSession>; posted: Promise<void> }, running?: { host: Host; key: string }): Promise<Page> {
    const have = pages.live.get(pkey);
    if (have) return have;
    const kept = slotsOf(pages);
    await pages.shrink(running ? kept : kept - 1, kind, running?.key);
    const host: Host = running ? (running.host === 'local' ? 'remote' : 'local') : 'local';
    const page: Page = { block: bi, kind, host, ...open(host) };
    pages.live.set(pkey, page);
    page.session.then(
      () => stats.sessionLoads++,
      () => pages.live.get(pkey) === page && pages.live.delete(pkey),
    );
    return page;
  }

  /**
   * Before block `cur` runs: the sessions beyond `slots` are released (the block before it: its arena goes before the
   * next one is created), then with overlap the next block (`next`, wrapping to block 0 for the next call) is handed
   * to the other host, its creation under way before this block's run starts.
   */
  async function beforeRun(pages: Pages, curKey: string, kind: string, next: (() => Promise<Page>) | undefined): Promise<void> {
    await pages.shrink(slotsOf(pages), kind, curKey);
    if (!overlapOf(pages === searchLive) || !next) return;
    const n = await next();
    await n.posted;
  }

  /** the forward block `bi`'s graph (mask kind, capture) on `host` */
  function openForward(bi: number, kind: MaskMode['kind'], capture: boolean) {
    return (host: Host) => {
      const gopts = { dtype, mode: kind, capture, maxSeq, layers: plan.blocks[bi], ...(fused ? { fused: true } : {}), ...(halfWeights ? { halfWeights: true } : {}) };
      return openOn(host, gopts, { kind: 'decoder', options: gopts }, `${kind}${capture ? '+capture' : ''} ${plan.blocks[bi][0]}-${plan.blocks[bi][1]}`);
    };
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
    await hostReady;
    // the search's sessions were planned with the forward sessions released: release them in turn (unless both fit)
    if (!together) await searchLive.releaseAll();
    const { batch: B, seqLen: S } = req;
    const ids = ctx.idsTensor(req, 'forward');
    const mf = maskFeeds(s, req.mode, B, S);
    const capture = !!req.captureActivations;
    const kind = shared(mf.kind) ? 'cett' : mf.kind;
    const feeds = mf.kind === 'dense' ? { tau: denseTau } : mf.feeds;
    const graphCapture = shared(mf.kind) || capture;
    const k = `${kind}${graphCapture ? '+capture' : ''}`;
    const chunks = chunksOf(B, plan.chunkSeqs, req.mode);
    const idsOf = ([s0, b]: [number, number]) => (chunks.length === 1 ? ids : new ort.Tensor('int64', (ids.data as BigInt64Array).subarray(s0 * S, (s0 + b) * S), [b, S]));
    const m = new Merge(L, F, B, S, capture);
    const hidden: (ort.Tensor | undefined)[] = chunks.map(() => undefined);
    const n = plan.blocks.length;
    if (fwWeights) {
      await forwardInputs(fwWeights, { feeds, kind, graphCapture, capture, chunks, idsOf, hidden, m, S });
      return m.result();
    }
    for (let bi = 0; bi < n; bi++) {
      const [from, to] = plan.blocks[bi];
      const key = `${bi}:${k}`;
      const page = await pageOf(live, key, bi, k, openForward(bi, kind, graphCapture));
      const sess = await page.session;
      const nb = (bi + 1) % n;
      await beforeRun(live, key, k, nb === bi ? undefined : () => pageOf(live, `${nb}:${k}`, nb, k, openForward(nb, kind, graphCapture), { host: page.host, key }));
      const fetches = ['active_counts', 'neuron_counts', to < L ? 'hidden_out' : 'nll'];
      if (capture) for (let l = from; l < to; l++) fetches.push(`act.${l}`);
      const call = (c: number) => sess.run({ ...feeds, input_ids: idsOf(chunks[c]), ...(from > 0 ? { hidden_in: hidden[c]! } : {}) }, fetches, ['hidden_in']);
      // a remote host takes every chunk's call at once (it runs them in order); here they run one after another
      const outs = page.host === 'remote' ? await Promise.all(chunks.map((_, c) => call(c))) : [];
      for (let c = 0; c < chunks.length; c++) {
        const out = outs[c] ?? (await call(c));
        stats.calls++;
        hidden[c] = to < L ? (out.hidden_out as ort.Tensor) : undefined;
        m.add(out, from, to, chunks[c][0], chunks[c][1]);
      }
    }
    return m.result();
  }

  /**
   * A forward call through blocks fed their weights as inputs (plan.weightInputs): the embedding end, then per block its
   * tensors (read beside the block before) into the kept session of its shape and mask kind, every chunk of the batch,
   * then the head end. The mask parameter is the block's rows of tau; the other kinds' are whole-model scalars.
   */
  async function forwardInputs(
    w: BlockWeights,
    a: { feeds: Record<string, ort.Tensor>; kind: MaskMode['kind']; graphCapture: boolean; capture: boolean; chunks: [number, number][]; idsOf: (c: [number, number]) => ort.Tensor; hidden: (ort.Tensor | undefined)[]; m: Merge; S: number },
  ): Promise<void> {
    const k = `${a.kind}${a.graphCapture ? '+capture' : ''}`;
    // one mask kind's sessions at a time (the plan counts one): another kind's are released first
    for (const key of [...live.live.keys()]) if (key.startsWith('inputs:') && !key.endsWith(`:${k}`)) await live.release(key);
    w.prefetch(...plan.blocks[0]);
    const embed = await kept(live, 'end:embed', openEnd('embed', 'forward'));
    for (let c = 0; c < a.chunks.length; c++) {
      a.hidden[c] = (await embed.run({ input_ids: a.idsOf(a.chunks[c]) }, ['hidden_out'])).hidden_out as ort.Tensor;
      stats.calls++;
    }
    const n = plan.blocks.length;
    for (let bi = 0; bi < n; bi++) {
      const [from, to] = plan.blocks[bi];
      const feeds: Record<string, ort.Tensor> = { ...a.feeds, ...(await w.get(from, to)) };
      w.prefetch(...plan.blocks[(bi + 1) % n]);
      const tau = a.feeds.tau;
      if (tau) feeds.tau = new ort.Tensor('float32', (tau.data as Float32Array).subarray(from * F, to * F), [to - from, F]);
      const sess = await kept(live, `inputs:${to - from}:${k}`, openForwardInputs(to - from, a.kind, a.graphCapture));
      const fetches = ['active_counts', 'neuron_counts', 'hidden_out'];
      if (a.capture) for (let l = 0; l < to - from; l++) fetches.push(`act.${l}`);
      for (let c = 0; c < a.chunks.length; c++) {
        const out = await sess.run({ ...feeds, input_ids: a.idsOf(a.chunks[c]), hidden_in: a.hidden[c]! }, fetches);
        stats.calls++;
        a.hidden[c] = out.hidden_out as ort.Tensor;
        a.m.add(out, from, to, a.chunks[c][0], a.chunks[c][1], true);
      }
    }
    const head = await kept(live, 'end:head', openEnd('head', 'forward'));
    for (let c = 0; c < a.chunks.length; c++) {
      const nll = (await head.run({ input_ids: a.idsOf(a.chunks[c]), hidden_in: a.hidden[c]! }, ['nll'])).nll.data as Float32Array;
      stats.calls++;
      a.m.nll.set(nll, a.chunks[c][0] * (a.S - 1));
      a.hidden[c] = undefined;
    }
  }

  /** the forward graph of every block of k layers fed its weights as inputs (the graph of layers [0, k): the same for any start) */
  function openForwardInputs(k: number, kind: MaskMode['kind'], capture: boolean) {
    return (host: Host) => {
      const gopts = { dtype, mode: kind, capture, maxSeq, layers: [0, k] as [number, number], weightInputs: true, ...(fused ? { fused: true } : {}), ...(fwHalf ? { halfWeights: true } : {}) };
      return openOn(host, gopts, { kind: 'decoder', options: gopts }, `${kind}${capture ? '+capture' : ''} ${k} layer(s)${INPUTS_LABEL}`);
    };
  }

  /** the forward blocks and the search blocks fit the budget side by side: neither releases the other */
  const together = !!sp && sp.peakBytes + plan.peakBytes <= plan.budgetBytes;
  const tuning: SearchTuning = { ...DEFAULT_SEARCH_TUNING, ...ctx.searchTuning };
  // the plan's token chunk (0 = all at once) bounds a chunk the user's tuning asks for
  if (sp) tuning.chunkTokens = sp.chunkTokens && tuning.chunkTokens ? Math.min(sp.chunkTokens, tuning.chunkTokens) : sp.chunkTokens || tuning.chunkTokens;

  /**
   * a search block's warm-up call (RunnerOptions.blockWarmup): zeros, one target at c = 0, one level; B sequences of S
   * tokens (1 × 2 unless asked for more: kernels, plans and the arena are sized by the shapes a call meets)
   */
  function warmFeeds([from, to]: [number, number], seqs: number): Record<string, ort.Tensor> {
    const [B, S] = seqs > 0 ? [seqs, maxSeq] : [1, 2];
    const n = B * S * s.hiddenSize;
    const zeros = () => (dtype === 'float16' ? new ort.Tensor('float16', new Uint16Array(n), [B, S, s.hiddenSize]) : new ort.Tensor('float32', new Float32Array(n), [B, S, s.hiddenSize]));
    return {
      input_ids: new ort.Tensor('int64', new BigInt64Array(B * S), [B, S]),
      c: new ort.Tensor('float32', new Float32Array(1), [1]),
      lo: new ort.Tensor('int64', new BigInt64Array(to - from), [1, to - from]),
      hi: new ort.Tensor('int64', new BigInt64Array(to - from), [1, to - from]),
      iters: new ort.Tensor('int64', new BigInt64Array([1n]), []),
      ...(from > 0 ? { hidden_in: zeros(), sparse_in: zeros() } : {}),
    };
  }

  /** the search graph of plan.search block `bi` on `host` */
  function openSearch(bi: number) {
    return (host: Host) => {
      const layers = sp!.blocks[bi];
      // on CUDA the products read W_out as stored (FusedMatMul transB), as the whole graph's do: no transposed copy
      // made each time a block's session is paged in
      const productTransB = searchProductTransB(ctx.provider);
      const o = { dtype, maxSeq, colNorms: ctx.colNorms, fused, tuning, layerGroup: sp!.layerGroup, layers, sparseStream: true, productTransB };
      return openOn(host, { search: 3, dtype, maxSeq, fused, ...tuning, layerGroup: sp!.layerGroup, layers, sparse: 1, productTransB }, { kind: 'search', options: o }, `search ${layers[0]}-${layers[1]}`, ctx.warmup ? warmFeeds(layers, ctx.warmup.seqs) : undefined);
    };
  }

  /**
   * One fused search step, block by block: per block the dense stream, grid and bisection of its layers, then the
   * sparse stream of the same layers at their ε (search-graph.ts: a layer's τ = ε/‖W_out[:,i]‖ needs only its own
   * search), both residual streams handed to the next block on the host; the last block ends with the head's NLL. Each
   * block's weights are paged in once per step (a separate sparse pass through the forward blocks paged them twice).
   */
  /** a kept session of blocks fed their weights as inputs (a block shape's, the embedding's, the head's), created on this thread */
  function kept(pages: Pages, key: string, open: (host: Host) => { session: Promise<BlockSession>; posted: Promise<void> }): Promise<BlockSession> {
    let page = pages.live.get(key);
    if (!page) {
      const made: Page = { block: -1, kind: 'inputs', host: 'local', ...open('local') };
      pages.live.set(key, (page = made));
      made.session.then(
        () => stats.sessionLoads++,
        () => pages.live.get(key) === made && pages.live.delete(key),
      );
    }
    return page.session;
  }

  /** the search session of every block of k layers, fed its weights as inputs (the graph of layers [0, k): the same for any start) */
  function openInputsBlock(k: number) {
    return (host: Host) => {
      const productTransB = searchProductTransB(ctx.provider);
      const o = { dtype, maxSeq, colNorms: ctx.colNorms, fused, tuning, layerGroup: sp!.layerGroup, layers: [0, k] as [number, number], sparseStream: true, productTransB, weightInputs: true };
      return openOn(host, { search: 3, dtype, maxSeq, fused, ...tuning, layerGroup: sp!.layerGroup, inputs: k, sparse: 1, productTransB }, { kind: 'search', options: o }, `search ${k} layer(s)${INPUTS_LABEL}`);
    };
  }

  /** the embedding or the head of blocks fed their weights as inputs (the same graph for the search's and the forward's: one build) */
  function openEnd(end: 'embed' | 'head', family: 'search' | 'forward' = 'search') {
    return (host: Host) => openOn(host, { searchEnd: end, dtype, maxSeq, fused }, { kind: 'search-end', options: { dtype, maxSeq, fused, end } }, `${family} ${end}`);
  }

  const colNormFeeds = new Map<string, ort.Tensor>();
  /** ‖W_out[:,i]‖ of layers [from, to) as the block's col_norms input [Lb, F] */
  function colNormsOf(from: number, to: number): ort.Tensor {
    const key = `${from}:${to}`;
    let t = colNormFeeds.get(key);
    if (!t) {
      const a = new Float32Array((to - from) * F);
      for (let l = from; l < to; l++) a.set(ctx.colNorms[l], (l - from) * F);
      colNormFeeds.set(key, (t = new ort.Tensor('float32', a, [to - from, F])));
    }
    return t;
  }

  async function searchNow(req: SearchStepRequest): Promise<SearchStepResult> {
    checkSearchRequest(req, L);
    await hostReady;
    if (!together) await live.releaseAll(); // the search plan counts the whole budget
    const J = req.targets.length;
    const input_ids = ctx.idsTensor(req, 'searchStep');
    const res = emptySearchOutputs(L);
    let dense: ort.Tensor | undefined;
    let sparse: ort.Tensor | undefined;
    const n = sp!.blocks.length;
    // weights as inputs: the first block's read (unless the step before started it) beside the embedding, where both
    // streams start (its own kept session)
    if (weights) {
      weights.prefetch(...sp!.blocks[0]);
      const embed = await kept(searchLive, 'embed', openEnd('embed'));
      sparse = dense = (await embed.run({ input_ids }, ['hidden_out'])).hidden_out as ort.Tensor;
    }
    const m = new Merge(L, F, req.batch, req.seqLen, false);
    for (let bi = 0; bi < n; bi++) {
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
      if (from > 0 || weights) {
        feeds.hidden_in = dense!;
        feeds.sparse_in = sparse!;
      }
      if (weights) {
        // this block's tensors (read beside the block before), then the next block's read beside this one's run
        Object.assign(feeds, await weights.get(from, to), { col_norms: colNormsOf(from, to) });
        weights.prefetch(...sp!.blocks[(bi + 1) % n]);
        const sess = await kept(searchLive, `inputs:${to - from}`, openInputsBlock(to - from));
        const out = await sess.run(feeds);
        stats.calls++;
        [dense, sparse] = [out.hidden_out as ort.Tensor, out.sparse_out as ort.Tensor];
        m.add(out, from, to, 0, req.batch);
        addSearchOutputs(out, res, from);
        continue;
      }
      const key = `${bi}`;
      const page = await pageOf(searchLive, key, bi, 'search', openSearch(bi));
      const sess = await page.session;
      const nb = (bi + 1) % n;
      await beforeRun(searchLive, key, 'search', nb === bi ? undefined : () => pageOf(searchLive, `${nb}`, nb, 'search', openSearch(nb), { host: page.host, key }));
      const out = await sess.run(feeds, undefined, ['hidden_in', 'sparse_in']);
      stats.calls++;
      if (to < L) {
        dense = out.hidden_out as ort.Tensor;
        sparse = out.sparse_out as ort.Tensor;
      }
      m.add(out, from, to, 0, req.batch);
      addSearchOutputs(out, res, from);
    }
    if (weights) {
      const head = await kept(searchLive, 'head', openEnd('head'));
      m.nll.set((await head.run({ input_ids, hidden_in: sparse! }, ['nll'])).nll.data as Float32Array);
    }
    return { ...m.result(), ...res };
  }

  /** calls one at a time: they share the paged sessions */
  function serial<T>(f: () => Promise<T>): Promise<T> {
    const p = queue.then(f).finally(() => timeline.length > 2000 && timeline.splice(0, timeline.length - 2000));
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
    hostReady,
    forward: (req) => serial(() => forwardNow(req)),
    ...(sp ? { searchStep: (req: SearchStepRequest) => serial(() => searchNow(req)) } : {}),
    releaseForward: () => serial(() => live.releaseAll()),
    async dispose() {
      await queue;
      await hostReady;
      await live.releaseAll();
      await searchLive.releaseAll();
      await weights?.close();
      if (fwWeights !== weights) await fwWeights?.close();
      await remote?.close();
      await ctx.dispose();
    },
  };
}
