/**
 * Streamed execution (issue 15): a model larger than the device's memory runs as a sequence of block graphs
 * (GraphOptions.layers: embedding + layers 0…k−1, layers k…2k−1, …, the last block with the final norm, head and NLL).
 * The residual stream between blocks is handed over on the host in the graph's dtype (the same values the whole graph
 * keeps on the device: checkpointed activations), so every measurement is the whole graph's: NLL, masks with per-layer
 * thresholds, active counts and the captured gated activations the threshold search needs. The fused search step
 * (search-graph.ts) needs every layer on the device at once, so a streamed runner has none and the CETT search runs
 * on the host/ORT curves (metrics/target.ts chooses them when searchStep is absent).
 *
 * Block sessions are kept while they fit (ExecutionPlan.residentBlocks); the others are paged in when a call reaches
 * them, and the sessions of the kind last used by the low blocks stay. A forward call takes every chunk of its batch
 * through one block before the next, so a paged block is loaded once per call, not once per chunk.
 */
import * as ort from 'onnxruntime-node';
import { LabError } from '../api/errors';
import type { LoadedCheckpoint } from '../checkpoint/types';
import { buildLlamaGraph, type ExternalTarget, type GraphDType } from '../graph/llama-graph';
import { maskFeeds } from './mask-feeds';
import type { ExecutionPlan } from './plan';
import type { ProviderName } from './providers';
import type { ForwardRequest, ForwardResult, MaskMode, ModelRunner } from './runner-types';

export interface StreamedContext {
  ckpt: LoadedCheckpoint;
  provider: ProviderName;
  dtype: GraphDType;
  fused: boolean;
  halfWeights: boolean;
  maxSeq: number;
  colNorms: Float32Array[];
  fallbackReasons: string[];
  /** opens a graph over the checkpoint's weights exactly as the whole-model runner opens its own (cache, in place) */
  open(key: Record<string, unknown>, build: (ext?: ExternalTarget) => Uint8Array): Promise<ort.InferenceSession>;
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

export interface StreamStats {
  /** block sessions opened (first loads and page-ins) */
  sessionLoads: number;
  /** time spent opening them */
  loadMs: number;
  /** graph calls */
  calls: number;
}

export function createStreamedRunner(ctx: StreamedContext, plan: ExecutionPlan): ModelRunner & { streamStats: StreamStats } {
  const { ckpt, dtype, fused, halfWeights, maxSeq } = ctx;
  const s = ckpt.spec;
  const { numLayers: L, intermediateSize: F } = s;
  if (plan.mode !== 'streamed' || !plan.blocks.length || plan.blocks[0][0] !== 0 || plan.blocks[plan.blocks.length - 1][1] !== L)
    throw new LabError('INTERNAL', `streamed runner: the plan's blocks do not cover layers 0…${L - 1}`);
  const live = new Map<string, { block: number; kind: string; session: Promise<ort.InferenceSession> }>();
  const stats: StreamStats = { sessionLoads: 0, loadMs: 0, calls: 0 };
  const slots = Math.max(1, plan.residentBlocks);

  async function release(key: string): Promise<void> {
    const e = live.get(key);
    live.delete(key);
    await (await e?.session.catch(() => undefined))?.release();
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
    const t0 = performance.now();
    const session = ctx.open(gopts, (ext) => buildLlamaGraph(ckpt, gopts, ext));
    live.set(key, { block: bi, kind: k, session });
    session.then(
      () => {
        stats.sessionLoads++;
        stats.loadMs += performance.now() - t0;
      },
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

  return {
    spec: s,
    provider: ctx.provider,
    dtype,
    fallbackReasons: ctx.fallbackReasons,
    colNorms: ctx.colNorms,
    plan,
    streamStats: stats,
    forward(req) {
      // one call at a time: calls share the paged sessions
      const p = queue.then(() => forwardNow(req));
      queue = p.catch(() => undefined);
      return p;
    },
    async dispose() {
      await queue;
      for (const key of [...live.keys()]) await release(key);
      await ctx.dispose();
    },
  };
}
