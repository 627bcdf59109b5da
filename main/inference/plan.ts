/**
 * Execution planning (issue 15): whole-model graph or streamed block-by-block execution, and how many sequences one
 * graph call takes, from the memory the device has free (capped by the user's device-memory setting).
 *
 * Memory model (bytes; README "Memory"): a graph call over b sequences of S tokens (T = b·S tokens) on a model of
 * L layers, width d_h, FFN width d_f, vocabulary V, e bytes per graph element (2 fp16, 4 fp32) holds
 *   weights of the sessions alive  +  T · perToken
 *   perToken = capture · L_g · d_f · 4            (the gated activations a, fp32 outputs, for the threshold search)
 *            + max(d_f · (6e + 9),                 (gate, up, σ, a, masked a; keep mask and its fp32 casts)
 *                  V · (e + 12),                   (logits, their fp32 cast, slice, log-softmax: the last layer only)
 *                  attention)                      (plain form: H · S · (2e + 8) per token for scores and softmax;
 *                                                   fused (flash) form: 4 · H · hd · e)
 *            + 8 · d_h · e                         (residual stream, norms, projections' outputs)
 * where L_g is the number of layers in the graph (L whole, the block's layers streamed). The whole path keeps one
 * session per mask kind a measurement uses (dense with capture, then CETT): two copies of the weights. Streamed keeps
 * as many block sessions as fit and pages the rest, one block at a time, through the remaining room.
 */
import { execFile } from 'node:child_process';
import os from 'node:os';
import { LabError } from '../api/errors';
import type { ExecutionPlan as ContractPlan } from '../api/domains/runs';
import type { LoadedCheckpoint, ModelSpec } from '../checkpoint/types';
import { planWeights } from '../graph/weights';
import { HEAD_CHUNK_ELEMENTS } from '../graph/llama-graph';
import { searchGroupFor, searchProductTransB } from '../graph/search-graph';
import type { ProviderName } from './providers';

const GiB = 1024 ** 3;
/** kept free of planned use: the CUDA context and cuBLAS/cuDNN workspaces (about 0.5–1 GiB on an H200) */
export const CUDA_RESERVE = 1.5 * GiB;
/** what the CUDA context, cuBLAS/cuDNN workspaces and onnxruntime's arena rounding take besides planned tensors */
export const CUDA_CONTEXT = 0.5 * GiB;
/**
 * onnxruntime's CUDA arena (BFC, extended by powers of two) held about twice the planned activations of each block
 * session on the H200 (7B, 16 GiB cap, 6 resident blocks of 6 layers, one sequence per call: 24.1 GB used for a
 * 15.5 GiB plan counted with one arena; BENCHMARKS.md 2026-12-04)
 */
export const CUDA_ARENA_FACTOR = 2;
/** WebGPU reports no free memory: plan as if this much were free (conservative) unless the user sets a cap */
export const WEBGPU_ASSUMED = 8 * GiB;
/** sessions the whole path keeps alive over one measurement (dense+capture and the sparse kind) */
export const WHOLE_SESSIONS = 2;

export type ExecutionMode = 'whole' | 'streamed';

export interface DeviceMemory {
  /** bytes free on the device (host memory for the CPU), null when the provider cannot tell */
  free: number | null;
  total: number | null;
  /** where the figure came from */
  source: string;
}

/** What the runner was told and what it chose (the contract's type: recorded with the run, shown before Run). */
export type ExecutionPlan = ContractPlan;

export interface PlanInput {
  spec: ModelSpec;
  provider: ProviderName;
  dtype: 'float32' | 'float16';
  fused: boolean;
  seqLen: number;
  /** sequences per measurement batch (the chunk never exceeds it) */
  batchSeqs: number;
  /** bytes per layer (index l) and outside the layers (embedding, final norm, head) in the graph's dtype */
  layerBytes: number[];
  embedBytes: number;
  headBytes: number;
  mem: DeviceMemory;
  deviceName?: string;
  /** user cap in bytes (the device-memory setting) */
  capBytes?: number;
  /** force a mode (tests, benchmarks); 'auto' = choose */
  execution?: 'auto' | ExecutionMode;
  /** force the layers per block when streamed */
  blockLayers?: number;
  /**
   * tokens of one measurement batch: on a GPU a streamed run keeps room for the CETT search's host-curve probe of one
   * layer (A and N fed per call, the tail mask and product: SEARCH_BYTES_PER_ELEMENT · tokens · d_f)
   */
  searchTokens?: number;
  /**
   * paged blocks (those not kept resident) may be created on a second thread while the block before them computes
   * (streamed.ts, block-host.ts): the plan then counts the next block's weights beside the resident sessions. Default
   * off here; createRunner asks for it on CUDA (RunnerOptions.blockOverlap).
   */
  overlap?: boolean;
  /** force the layers per block of the streamed search (benchmarks: the planner's alternatives side by side) */
  searchBlockLayers?: number;
  /**
   * how the streamed forward passes and search page their blocks' weights (each planned apart, the same setting):
   * 'sessions' (a session per block, created when the block is paged in), 'inputs' (one session per block shape, the
   * block's weights fed as inputs: PagedWeights), 'auto' (the default): inputs where the session plan pages and
   * inputsStepSeconds estimates them faster
   */
  pagedWeights?: 'auto' | PagedWeights;
}

export type PagedWeights = 'inputs' | 'sessions';

/** device bytes per (token, neuron) of one layer's probe call in a streamed run (cett-probe.ts: A, N, mask, A·mask) */
export const SEARCH_BYTES_PER_ELEMENT = 13;

/** activation bytes per token of a graph over `layers` layers (see the header's formula) */
export function activationBytesPerToken(spec: ModelSpec, o: { dtype: 'float32' | 'float16'; fused: boolean; seqLen: number; layers: number; capture: boolean; head: boolean }): number {
  const e = o.dtype === 'float16' ? 2 : 4;
  const { intermediateSize: F, hiddenSize: h, vocabSize: V, numHeads: H, headDim: hd } = spec;
  const attn = o.fused ? 4 * H * hd * e : H * o.seqLen * (2 * e + 8);
  const capture = o.capture ? o.layers * F * 4 : 0;
  return capture + Math.max(F * (6 * e + 9), o.head ? V * (e + 12) : 0, attn) + 8 * h * e;
}

/** The formula of the header for a whole-graph capture pass (README): bytes at (L, d_f, batch, seq). */
export function wholePeakBytes(spec: ModelSpec, o: { dtype: 'float32' | 'float16'; fused: boolean; batch: number; seqLen: number; weightBytes: number; sessions?: number }): number {
  const per = activationBytesPerToken(spec, { ...o, layers: spec.numLayers, capture: true, head: true });
  return (o.sessions ?? 1) * o.weightBytes + o.batch * o.seqLen * per;
}

/** the smallest token chunk of the search loop the planner goes down to (smaller chunks only add Loop iterations) */
export const MIN_SEARCH_CHUNK = 256;

export type SearchPlan = NonNullable<ExecutionPlan['search']>;

/**
 * onnxruntime's CUDA arena over what searchBlockBytes counts (activations): calibrated on the H200 (7B fp16, 16,384
 * tokens, 16 GiB cap; BENCHMARKS.md 2026-12-04 16:25). Peaks measured (nvidia-smi, whole process, context included)
 * against the formula: 6 search blocks of 6 layers, 2,048-token chunks, one at a time: 13,351 MiB = 0.5 GiB context +
 * 2.5 GiB weights + 10.03 GiB activations, formula 11.43 GiB (0.88); 16 blocks of 2 layers, 8,192-token chunks, the next
 * block's weights beside: 7,989 MiB = 0.5 + 1.74 + 5.55 GiB, formula 7.73 GiB (0.72); the whole search graph (32 layers,
 * all tokens at once, 50,777 MiB with one copy of the weights, 2026-12-04 15:08) 36.5 GiB against 38.4 (0.95). 1.1
 * keeps ≥ 15% above every one of them (plan.test.ts checks the three). The plan made with it, 8 blocks of 4 layers with
 * every token at once and the next block's weights beside, peaked at 11,571 MiB for 15,063 MiB planned (19:27). (The formula before, with one layer group's a and an arena factor of 2, said 15.05 GiB at 6 layers
 * and 14.2 at 2: 1.6× and 0.8× what was used; its activations did not grow with the block's layers, the measured did.)
 */
export const SEARCH_ARENA_FACTOR = 1.1;

/**
 * Device bytes of one block call of a streamed run's fused CETT search (search-graph.ts with `layers`: the block's
 * dense stream and search, then its sparse stream): k layers, T tokens (the whole batch: its grid needs every token),
 * the layers searched Lg at a time, the Loop's CETT products over c tokens at a time (README "Memory"). e = bytes per
 * graph element, arena = SEARCH_ARENA_FACTOR on CUDA (1 elsewhere).
 *   weights of the k layers (+ the embedding in the first block, + the final norm and head in the last)
 *   + arena · max( T · ( stream                 (one layer of the dense or sparse stream in flight: activationBytesPerToken, no capture, no head)
 *                 + 3 · d_h · e                   (the dense residual stream in and out, the sparse one in)
 *                 + k · d_f · (fp16 ? 3e : 2e)    (a, its concatenation and |a| for the fp16 tail test, per layer of the
 *                                                  block: the H200 peaks grow with the block's layers by about this much,
 *                                                  SEARCH_ARENA_FACTOR; onnxruntime keeps them until the block's end)
 *                 + (fp16 ? 0 : k · d_f · 4)      (N of each layer, fp32 graphs)
 *                 + Lg · d_h · (e + 4) )          (a·W_outᵀ of a group and its fp32 copy: the per-token full norm)
 *                 ) + Lg · c · (d_f · (1 + e) + d_h · (e + 4)),   (one level's mask, masked a and product over a chunk)
 *                  (last block) T · 3 · d_h · e + r · V · (e + 12) )   (after its layers: the head's logits and log-softmax
 *                                                  over r = min(T, 2^26 / V) rows at a time)
 */
/**
 * The head end's activation bytes over T tokens (before the arena factor): the stream in, the final norm and the head's
 * logits and log-softmax r = min(T, 2^26 / V) rows at a time (Decoder.headNll's row chunks).
 */
function headEndBytes(spec: ModelSpec, dtype: 'float32' | 'float16', T: number): number {
  const e = dtype === 'float16' ? 2 : 4;
  const { hiddenSize: d, vocabSize: V } = spec;
  return T * 3 * d * e + Math.min(T, Math.max(1, Math.floor(HEAD_CHUNK_ELEMENTS / V))) * V * (e + 12);
}

export function searchBlockBytes(spec: ModelSpec, o: { dtype: 'float32' | 'float16'; fused: boolean; seqLen: number; tokens: number; layers: number; group: number; chunk: number; weights: number; arena: number; head?: boolean }): number {
  const e = o.dtype === 'float16' ? 2 : 4;
  const { intermediateSize: F, hiddenSize: d } = spec;
  const T = o.tokens;
  const held = Math.max(o.layers, o.group);
  const stream = activationBytesPerToken(spec, { dtype: o.dtype, fused: o.fused, seqLen: o.seqLen, layers: o.layers, capture: false, head: false });
  const perToken = stream + 3 * d * e + held * F * (e === 2 ? 3 * e : 2 * e) + (e === 2 ? 0 : held * F * 4) + o.group * d * (e + 4);
  const layers = T * perToken + o.group * o.chunk * (F * (1 + e) + d * (e + 4));
  const head = o.head ? headEndBytes(spec, o.dtype, T) : 0;
  return o.weights + o.arena * Math.max(layers, head);
}

/**
 * What a paged block costs besides its compute, per search step (H200, 7B fp16, BENCHMARKS.md 2026-12-04 16:25): every
 * run of a freshly created session took about 0.6 s more than the whole graph's time for its layers (6-layer blocks
 * 0.96 s per run against 0.41; 2-layer blocks 0.85 against 0.14), and creating a session about 0.3 s per GiB of its
 * weights (72 sessions of 2.1 GiB: 45.5 s; 193 of 0.8 GiB: 54.9 s). With overlap the creation runs beside the other
 * host's run (52.7 of 54.9 s hidden), the fresh session's run cost stays (19:27, 8 blocks of 4 layers with overlap:
 * 0.96 s per run against the whole graph's 0.28 s for 4 layers; 41.1 of 42.3 s of creation hidden; a 2-token call
 * right after each creation did not shorten the runs). The same 6-layer blocks kept resident (19:49) ran in 0.58 s per
 * step against 0.46 s in the whole graph (the residual streams' 0.45 GB to and from the host), their first run ~0.18 s
 * more: most of what a paged run adds comes with paging itself. The planner compares paged plans with these.
 */
export const PAGED_RUN_SECONDS = 0.6;
export const CREATE_SECONDS_PER_GIB = 0.3;

/** estimated seconds per search step that paging adds: blocks × (a fresh session's run + its creation unless overlapped) */
export function pagedStepSeconds(blocks: number, meanWeightBytes: number, overlap: boolean): number {
  return blocks * (PAGED_RUN_SECONDS + (overlap ? 0 : (CREATE_SECONDS_PER_GIB * meanWeightBytes) / GiB));
}

/**
 * Host-to-device bytes per second of weights fed as inputs (pageable host memory, copied by onnxruntime inside the run):
 * an estimate (PCIe 5 ×16 moves 20–50 GB/s pinned, pageable copies about half) until the H200 measures it.
 */
export const INPUT_COPY_BYTES_PER_SECOND = 10e9;

/**
 * estimated seconds per search step that feeding the blocks' weights as inputs adds: their copy to the device (none on
 * the CPU, which reads them in place); reading them from the checkpoint runs beside the block before (streamed.ts)
 */
export function inputsStepSeconds(blocks: number, meanWeightBytes: number, provider: ProviderName): number {
  return provider === 'cpu' ? 0 : (blocks * meanWeightBytes) / INPUT_COPY_BYTES_PER_SECOND;
}

/**
 * The streamed search's blocks, chunk and layer group within `budget` (the forward block sessions are released while it
 * runs): the fewest blocks whose call fits with a chunk of at least min(T, 2,048) tokens, else with any chunk down to
 * MIN_SEARCH_CHUNK; undefined when one layer does not fit (the ORT curves then search, one layer at a time). With
 * overlap asked, paged blocks may instead be smaller so that the next block's weights fit beside the running one, when
 * pagedStepSeconds says that is faster (the creation hidden outweighs the extra blocks' runs); p.searchBlockLayers
 * forces the layers per block (benchmarks).
 */
export function planSearch(p: PlanInput, budget: number): SearchPlan | undefined {
  const ses = planSearchSessions(p, budget);
  const want = p.pagedWeights ?? 'auto';
  if (want === 'sessions' || (want === 'auto' && ses && ses.residentBlocks === ses.blocks.length)) return ses;
  const inp = planSearchInputs(p, budget);
  if (!inp || !ses || want === 'inputs') return inp ?? ses;
  // never more blocks than the session plan (each call has its own fixed cost), and faster by the estimates
  if (inp.blocks.length > ses.blocks.length) return ses;
  const mean = (sp: SearchPlan) => sp.blocks.reduce((a, [x, y]) => a + p.layerBytes.slice(x, y).reduce((u, v) => u + v, 0), 0) / sp.blocks.length;
  return inputsStepSeconds(inp.blocks.length, mean(inp), p.provider) < pagedStepSeconds(ses.blocks.length, mean(ses), !!ses.overlap) ? inp : ses;
}

/**
 * The streamed search with its blocks' weights fed as inputs (SearchPlan.weightInputs, streamed.ts): one session per
 * block shape kept for the whole search: blocks of k layers (the fewest that fit; a shorter last block is a second
 * shape with its own session and arena, counted), the embedding and the head in two end sessions beside them. Device bytes: per shape searchBlockBytes without the head (the block's weights are inputs, copied into its
 * arena for each call: once on a GPU; on the CPU, which reads them in place, the two host buffers of the double buffer),
 * plus the ends: their weights and arena · (the stream out of the embedding + the head's T·3·d_h·e + r·V·(e+12)).
 */
export function planSearchInputs(p: PlanInput, budget: number): SearchPlan | undefined {
  const T = p.searchTokens ?? 0;
  const L = p.spec.numLayers;
  if (!(T > 0) || !(budget > 0)) return undefined;
  const arena = p.provider === 'cuda' ? SEARCH_ARENA_FACTOR : 1;
  const e = p.dtype === 'float16' ? 2 : 4;
  const d = p.spec.hiddenSize;
  const ends = p.embedBytes + p.headBytes + arena * (T * d * e + headEndBytes(p.spec, p.dtype, T));
  const buffers = p.provider === 'cpu' ? 2 : 1;
  const forced = p.searchBlockLayers ? Math.max(1, Math.min(L, Math.floor(p.searchBlockLayers))) : 0;
  for (const minChunk of [Math.min(T, 2048), Math.min(T, MIN_SEARCH_CHUNK)])
    for (let k = forced || L; k >= (forced || 1); k--) {
      const blocks = Array.from({ length: Math.ceil(L / k) }, (_, i): [number, number] => [i * k, Math.min(L, (i + 1) * k)]);
      const group = searchGroupFor({ numLayers: k, intermediateSize: p.spec.intermediateSize, hiddenSize: p.spec.hiddenSize }, T, searchProductTransB(p.provider));
      const shapes = [...new Map(blocks.map((b) => [b[1] - b[0], b])).values()];
      for (let c = T; c >= minChunk; c = c > minChunk ? Math.max(minChunk, Math.floor(c / 2)) : 0) {
        const call = (b: [number, number]) =>
          searchBlockBytes(p.spec, { dtype: p.dtype, fused: p.fused, seqLen: p.seqLen, tokens: T, layers: b[1] - b[0], group, chunk: c, weights: buffers * p.layerBytes.slice(b[0], b[1]).reduce((x, y) => x + y, 0), arena });
        const peakBytes = ends + shapes.reduce((a, b) => a + call(b), 0);
        if (peakBytes <= budget) return { blocks, chunkTokens: c >= T ? 0 : c, layerGroup: group, tokens: T, residentBlocks: shapes.length, peakBytes, weightInputs: true };
      }
    }
  return undefined;
}

/** planSearch with a session per block (SearchPlan without weightInputs) */
function planSearchSessions(p: PlanInput, budget: number): SearchPlan | undefined {
  const T = p.searchTokens ?? 0;
  const L = p.spec.numLayers;
  if (!(T > 0) || !(budget > 0)) return undefined;
  const arena = p.provider === 'cuda' ? SEARCH_ARENA_FACTOR : 1;
  const blocksOf = (k: number) => Array.from({ length: Math.ceil(L / k) }, (_, i): [number, number] => [i * k, Math.min(L, (i + 1) * k)]);
  const weightsOf = ([a, b]: [number, number]) => p.layerBytes.slice(a, b).reduce((x, y) => x + y, 0) + (a === 0 ? p.embedBytes : 0) + (b === L ? p.headBytes : 0);
  const callBytes = (blk: [number, number], group: number, chunk: number) =>
    searchBlockBytes(p.spec, { dtype: p.dtype, fused: p.fused, seqLen: p.seqLen, tokens: T, layers: blk[1] - blk[0], group, chunk, weights: weightsOf(blk), arena, head: blk[1] === L });
  const forced = p.searchBlockLayers ? Math.max(1, Math.min(L, Math.floor(p.searchBlockLayers))) : 0;
  /** the largest blocks (and then chunk) that fit, the next block's weights beside the running one when `overlap` */
  const fit = (overlap: boolean): SearchPlan | undefined => {
    for (const minChunk of [Math.min(T, 2048), Math.min(T, MIN_SEARCH_CHUNK)])
      for (let k = forced || L; k >= (forced || 1); k--) {
        const blocks = blocksOf(k);
        const group = searchGroupFor({ numLayers: k, intermediateSize: p.spec.intermediateSize, hiddenSize: p.spec.hiddenSize }, T, searchProductTransB(p.provider));
        for (let c = T; c >= minChunk; c = c > minChunk ? Math.max(minChunk, Math.floor(c / 2)) : 0) {
          const per = blocks.map((b) => callBytes(b, group, c));
          const peakOne = Math.max(...per);
          // every block session keeps its weights and its arena: as many stay resident as fit, the rest are paged
          const all = per.reduce((x, y) => x + y, 0);
          const base = { blocks, chunkTokens: c >= T ? 0 : c, layerGroup: group, tokens: T };
          if (all <= budget) return { ...base, residentBlocks: blocks.length, peakBytes: all };
          const extra = overlap ? Math.max(...blocks.map(weightsOf)) : 0;
          if (peakOne + extra > budget) continue;
          const residentBlocks = Math.max(1, Math.min(blocks.length - 1, Math.floor((budget - extra) / peakOne)));
          return { ...base, residentBlocks, peakBytes: residentBlocks * peakOne + extra, ...(overlap ? { overlap } : {}) };
        }
      }
    return undefined;
  };
  const seq = fit(false);
  if (!p.overlap || !seq || seq.residentBlocks === seq.blocks.length) return seq;
  const ov = fit(true);
  if (!ov?.overlap) return seq;
  // overlap with the same blocks and chunk is never slower; with smaller blocks only where the estimate says it is
  // faster (H200, 7B under 16 GiB: 16 blocks of 2 layers with overlap took 175.6 s against 118.8 s for 6 of 6 without,
  // BENCHMARKS.md 2026-12-04 16:25: pagedStepSeconds 9.6 against 7.4 s). Never a smaller token chunk (its cost is not
  // in the estimate)
  const mean = (sp: SearchPlan) => sp.blocks.reduce((a, b) => a + weightsOf(b), 0) / sp.blocks.length;
  if ((ov.chunkTokens || T) < (seq.chunkTokens || T)) return seq;
  const same = ov.blocks.length === seq.blocks.length;
  return same || pagedStepSeconds(ov.blocks.length, mean(ov), true) < pagedStepSeconds(seq.blocks.length, mean(seq), false) ? ov : seq;
}

const gib = (b: number) => (b >= GiB / 10 ? `${(b / GiB).toFixed(1)} GiB` : `${(b / 1024 ** 2).toFixed(1)} MiB`);

export function planExecution(p: PlanInput): ExecutionPlan {
  const { spec, seqLen } = p;
  const L = spec.numLayers;
  const free = p.mem.free;
  const reserve = p.provider === 'cuda' ? CUDA_RESERVE : p.provider === 'cpu' ? Math.min(4 * GiB, 0.1 * (free ?? 0)) : 0;
  const cap = p.capBytes && p.capBytes > 0 ? p.capBytes : null;
  // a device that does not say what is free: the user's cap is the budget, else a conservative guess
  const fromFree = free === null ? (cap ?? (p.provider === 'webgpu' ? WEBGPU_ASSUMED : Infinity)) : Math.max(0, free - reserve);
  // a cap counts everything the process holds on the device, the CUDA context and cuBLAS workspaces included
  const budget = Math.min(fromFree, cap === null ? Infinity : Math.max(0, cap - (p.provider === 'cuda' ? CUDA_CONTEXT : 0)));
  const weightBytes = p.embedBytes + p.headBytes + p.layerBytes.reduce((a, b) => a + b, 0);
  const device = `${p.provider}${p.deviceName ? ` (${p.deviceName})` : ''}: ${free === null ? `free memory unknown (${p.mem.source})` : `${gib(free)} free (${p.mem.source})`}${cap ? `, capped at ${gib(cap)}` : ''}`;
  const act = (layers: number, head: boolean) => seqLen * activationBytesPerToken(spec, { dtype: p.dtype, fused: p.fused, seqLen, layers, capture: true, head });
  const chunkFor = (room: number, perSeq: number) => Math.max(0, Math.min(p.batchSeqs, Math.floor(room / perSeq)));
  const base = { provider: p.provider, device, budgetBytes: budget, freeBytes: free, capBytes: cap, weightBytes };

  const wholeRoom = budget - WHOLE_SESSIONS * weightBytes;
  const wholeChunk = chunkFor(wholeRoom, act(L, true));
  const want = p.execution ?? 'auto';
  if (want === 'whole' || (want === 'auto' && wholeChunk >= 1 && !p.blockLayers)) {
    const chunkSeqs = Math.max(1, wholeChunk);
    return {
      ...base,
      mode: 'whole',
      blocks: [[0, L]],
      residentBlocks: 1,
      chunkSeqs,
      peakBytes: WHOLE_SESSIONS * weightBytes + chunkSeqs * act(L, true),
      reason:
        want === 'whole'
          ? 'whole-model graph, as asked'
          : `the whole model (${gib(weightBytes)} of weights, ${WHOLE_SESSIONS} sessions) and ${chunkSeqs} sequence(s) of activations fit in ${gib(budget)}`,
    };
  }
  // the CETT search of a streamed run uses the host/ORT curves (no fused search): every layer's operands on the device
  // when there is room for them next to one copy of the weights, else one layer's at a time, fed per call
  const T = p.searchTokens ?? 0;
  // the fused search block by block, run with the forward block sessions released: it needs no room beside them
  const search = planSearch(p, budget);
  // per layer: its resident probe session's A, N (T·d_f fp32 each) and W_outᵀ, and that session's arena for one call
  // (the tail mask and the masked A, T·d_f·5 bytes, about twice that on CUDA: the H200 run of 2026-12-04 that kept them
  // all ran out of its 143 GB)
  const F = spec.intermediateSize;
  const curvesBytes = L * (2 * T * F * 4 + F * spec.hiddenSize * 4 + T * F * 5 * (p.provider === 'cuda' ? CUDA_ARENA_FACTOR : 1));
  const curvesOnDevice = p.provider !== 'cpu' && T > 0 && budget >= weightBytes + act(L, true) + curvesBytes;
  const searchRoom = p.provider === 'cpu' || !T || search ? 0 : curvesOnDevice ? curvesBytes : SEARCH_BYTES_PER_ELEMENT * T * spec.intermediateSize;
  const budgetS = budget - searchRoom;
  // streamed (one session per block serves dense and CETT passes: streamed.ts). First choice: every block resident
  // (the weights once and a chunk of one block's activations fit), the block size that needs the fewest graph calls
  // per batch, then the largest chunk; else blocks paged through half of what is left.
  const maxLayer = Math.max(...p.layerBytes);
  const ends = p.embedBytes + p.headBytes;
  // every resident block session keeps its own arena for a chunk's activations, and a CUDA arena grows past them
  const arena = (k: number) => act(k, true) * (p.provider === 'cuda' ? CUDA_ARENA_FACTOR : 1);
  const callsFor = (k: number) => {
    const chunk = chunkFor(budgetS - weightBytes, Math.ceil(L / k) * arena(k));
    return chunk < 1 ? Infinity : Math.ceil(L / k) * Math.ceil(p.batchSeqs / chunk);
  };
  let k = p.blockLayers ?? 0;
  if (!k) {
    let best = Infinity;
    for (let t = L; t >= 1; t--) {
      const calls = callsFor(t);
      if (calls < best) [best, k] = [calls, t];
    }
  }
  if (!k) k = Math.floor((budgetS / 2 - ends - act(1, true)) / maxLayer);
  if (!p.blockLayers && k < 1) k = Math.floor((budgetS - ends - act(1, true)) / maxLayer) >= 1 ? 1 : 0;
  if (!(k >= 1))
    throw new LabError(
      'UNSUPPORTED',
      `${gib(budgetS)} of device memory (${device}${searchRoom ? `, less ${gib(searchRoom)} for the threshold search` : ''}) does not hold one decoder layer (${gib(maxLayer)}) with the embedding and head (${gib(ends)}) and one sequence of ${seqLen} tokens; raise the device-memory setting or shorten the sequences`,
    );
  k = Math.min(Math.floor(k), L);
  const blocks: [number, number][] = [];
  for (let from = 0; from < L; from += k) blocks.push([from, Math.min(L, from + k)]);
  const blockBytes = blocks.map(([a, b], i) => p.layerBytes.slice(a, b).reduce((x, y) => x + y, 0) + (i === 0 ? p.embedBytes : 0) + (i === blocks.length - 1 ? p.headBytes : 0));
  const biggest = Math.max(...blockBytes);
  const actBlock = arena(Math.min(k, L));
  const allBytes = blockBytes.reduce((a, b) => a + b, 0);
  let chunkSeqs = chunkFor(budgetS - allBytes, blocks.length * actBlock);
  let residentBlocks = blocks.length;
  const allResident = chunkSeqs >= 1;
  // paged with overlap: the next block's session is created (its weights on the device) while the current one computes
  const overlap = !allResident && !!p.overlap && chunkFor(budgetS - 2 * biggest, actBlock) >= 1;
  const nextWeights = overlap ? biggest : 0;
  if (!allResident) {
    // paged: the low blocks stay while there is room for one block being paged in and a chunk
    chunkSeqs = Math.max(1, chunkFor(budgetS - 2 * biggest, 2 * actBlock) || chunkFor(budgetS - biggest - nextWeights, actBlock));
    residentBlocks = Math.max(1, Math.min(blocks.length - 1, Math.floor((budgetS - nextWeights) / (biggest + chunkSeqs * actBlock))));
  }
  // paged blocks fed their weights as inputs instead (one session per block shape), where asked or estimated faster
  const pw = p.pagedWeights ?? 'auto';
  const inputs = pw === 'inputs' || (!allResident && pw === 'auto') ? planForwardInputs(p, budgetS, p.blockLayers) : undefined;
  if (inputs) {
    const mean = (bs: [number, number][]) => bs.reduce((a, [x, y]) => a + p.layerBytes.slice(x, y).reduce((u, v) => u + v, 0), 0) / bs.length;
    const ses = pagedStepSeconds(blocks.length - residentBlocks, mean(blocks), overlap);
    const inp = inputsStepSeconds(inputs.blocks.length * Math.ceil(p.batchSeqs / inputs.chunkSeqs), mean(inputs.blocks), p.provider);
    if (pw === 'inputs' || inp < ses) {
      const k2 = inputs.blocks[0][1];
      return {
        ...base,
        mode: 'streamed',
        blocks: inputs.blocks,
        residentBlocks: inputs.shapes,
        chunkSeqs: inputs.chunkSeqs,
        weightInputs: true,
        peakBytes: inputs.peakBytes + searchRoom,
        ...(p.provider !== 'cpu' && !search ? { curvesOnDevice } : {}),
        ...(search ? { search } : {}),
        reason:
          (want === 'streamed' || p.blockLayers
            ? `streamed in ${inputs.blocks.length} block(s) of ${k2} layer(s), as asked`
            : `the whole model needs ${gib(WHOLE_SESSIONS * weightBytes + act(L, true))} (${WHOLE_SESSIONS} sessions of ${gib(weightBytes)} and one sequence's activations), more than ${gib(budget)}: streamed in ${inputs.blocks.length} block(s) of ${k2} layer(s)`) +
          `, one session per block shape fed each block's weights as inputs${pw === 'inputs' ? ' (as asked)' : ''}, ${inputs.chunkSeqs} sequence(s) per call` +
          searchReason(search, p.pagedWeights, searchRoom, curvesOnDevice),
      };
    }
  }
  return {
    ...base,
    mode: 'streamed',
    blocks,
    residentBlocks,
    chunkSeqs,
    ...(overlap ? { overlap } : {}),
    peakBytes: (allResident ? allBytes + blocks.length * chunkSeqs * actBlock : residentBlocks * (biggest + chunkSeqs * actBlock) + nextWeights) + searchRoom,
    ...(p.provider !== 'cpu' && !search ? { curvesOnDevice } : {}),
    ...(search ? { search } : {}),
    reason:
      (want === 'streamed' || p.blockLayers
        ? `streamed in ${blocks.length} block(s) of ${k} layer(s), as asked${allResident ? '' : `; ${residentBlocks} stay resident, the rest are paged in${overlap ? ' (the next created while one computes)' : ''}`}`
        : `the whole model needs ${gib(WHOLE_SESSIONS * weightBytes + act(L, true))} (${WHOLE_SESSIONS} sessions of ${gib(weightBytes)} and one sequence's activations), more than ${gib(budget)}: streamed in ${blocks.length} block(s) of ${k} layer(s), ${allResident ? 'all resident' : `${residentBlocks} resident, the rest paged in per call${overlap ? ' (the next created while one computes)' : ''}`}`) +
      (!allResident && pw === 'inputs' ? '; its weights as inputs were asked for but do not fit' : '') +
      searchReason(search, p.pagedWeights, searchRoom, curvesOnDevice),
  };
}

/** the plan line's words on the threshold search of a streamed run */
function searchReason(search: SearchPlan | undefined, pagedWeights: PlanInput['pagedWeights'], searchRoom: number, curvesOnDevice: boolean): string {
  if (search)
    return `; the threshold search runs block by block (${search.blocks.length} block(s) of ${search.blocks[0][1]} layer(s), ${search.weightInputs ? `one session per block shape fed each block's weights as inputs${pagedWeights === 'inputs' ? ', as asked' : ''}` : `${search.residentBlocks === search.blocks.length ? 'all resident' : `${search.residentBlocks} resident${search.overlap ? ', the next created while one computes' : ''}`}${pagedWeights === 'inputs' ? '; its weights as inputs were asked for but do not fit' : ''}`}, ${search.chunkTokens ? `${search.chunkTokens}-token chunks` : 'all tokens at once'}, ${gib(search.peakBytes)})`;
  return searchRoom ? `, ${gib(searchRoom)} kept for the threshold search (${curvesOnDevice ? 'every layer on the device' : 'one layer at a time'})` : '';
}

/**
 * The streamed forward with its blocks' weights fed as inputs (ExecutionPlan.weightInputs, streamed.ts): blocks of k
 * layers, one session per block shape (a shorter last block is a second shape) kept with its arena for a chunk of
 * sequences, and the embedding and the head in two end sessions. Device bytes: per shape the block's weights (fed: on
 * a GPU copied into its arena for each call; on the CPU, which reads them in place, the two host buffers of the double
 * buffer) and a chunk's activations (activationBytesPerToken with capture, CUDA_ARENA_FACTOR on CUDA); the ends' weights
 * and a chunk's head activations. The fewest chunks per batch (every chunk's call feeds each block's weights again: on
 * a GPU the weights cross to the device once per chunk), then the fewest calls (blocks × chunks), then the largest
 * blocks; `forced` fixes the layers per block. undefined when one layer does not fit.
 */
export function planForwardInputs(p: PlanInput, budget: number, forced?: number): { blocks: [number, number][]; shapes: number; chunkSeqs: number; peakBytes: number } | undefined {
  const { spec, seqLen } = p;
  const L = spec.numLayers;
  const arena = p.provider === 'cuda' ? CUDA_ARENA_FACTOR : 1;
  const buffers = p.provider === 'cpu' ? 2 : 1;
  const per = (layers: number) => arena * seqLen * activationBytesPerToken(spec, { dtype: p.dtype, fused: p.fused, seqLen, layers, capture: true, head: false });
  // the head end over a chunk of c sequences
  const head = (c: number) => arena * headEndBytes(spec, p.dtype, c * seqLen);
  let best: { blocks: [number, number][]; shapes: number; chunkSeqs: number; peakBytes: number; calls: number } | undefined;
  const f = forced ? Math.max(1, Math.min(L, Math.floor(forced))) : 0;
  for (let k = f || L; k >= (f || 1); k--) {
    const blocks = Array.from({ length: Math.ceil(L / k) }, (_, i): [number, number] => [i * k, Math.min(L, (i + 1) * k)]);
    const shapes = [...new Map(blocks.map((b) => [b[1] - b[0], b])).values()];
    const weights = p.embedBytes + p.headBytes + shapes.reduce((a, [x, y]) => a + buffers * p.layerBytes.slice(x, y).reduce((u, v) => u + v, 0), 0);
    const perSeq = shapes.reduce((a, [x, y]) => a + per(y - x), 0);
    let chunk = Math.max(0, Math.min(p.batchSeqs, Math.floor((budget - weights) / perSeq)));
    while (chunk >= 1 && weights + chunk * perSeq + head(chunk) > budget) chunk--;
    if (chunk < 1) continue;
    const chunks = Math.ceil(p.batchSeqs / chunk);
    const calls = chunks * (L + 1) + blocks.length; // chunks first, then calls
    if (!best || calls < best.calls) best = { blocks, shapes: shapes.length, chunkSeqs: chunk, peakBytes: weights + chunk * perSeq + head(chunk), calls };
  }
  if (!best) return undefined;
  const { calls: _calls, ...plan } = best;
  return plan;
}

/** Per-layer and outside-layer weight bytes of the graphs, in their dtype (planWeights: what the build holds). */
export function weightBytesByLayer(ckpt: LoadedCheckpoint, o: { dtype: 'float32' | 'float16'; halfWeights: boolean }): { layerBytes: number[]; embedBytes: number; headBytes: number } {
  const plan = planWeights(ckpt, o);
  const layerBytes = new Array<number>(ckpt.spec.numLayers).fill(0);
  let embedBytes = 0;
  let headBytes = 0;
  for (const t of plan.tensors.values()) {
    const m = /^layers\.(\d+)\./.exec(t.name);
    if (m) layerBytes[Number(m[1])] += t.bytes;
    else if (t.name.startsWith('embed.')) embedBytes += t.bytes;
    else headBytes += t.bytes;
  }
  // a tied head without its own tensor reads the token table: the last block holds it too
  if (ckpt.spec.tieEmbeddings && !plan.tensors.has('lm_head.tied')) headBytes += plan.tensors.get('embed.tokens')?.bytes ?? 0;
  return { layerBytes, embedBytes, headBytes };
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(cmd, args, { timeout: 10_000 }, (err, out) => (err ? reject(err) : resolve(out))));
}

/** Free and total memory of the device a provider runs on (CUDA: nvidia-smi of the first visible GPU; CPU: host). */
export async function deviceMemory(provider: ProviderName): Promise<DeviceMemory & { name?: string }> {
  if (provider === 'cpu') return { free: os.freemem(), total: os.totalmem(), source: 'host memory available' };
  if (provider === 'cuda') {
    try {
      // onnxruntime's device 0 is the first of CUDA_VISIBLE_DEVICES (an index or a UUID nvidia-smi takes with -i)
      const first = (process.env.CUDA_VISIBLE_DEVICES ?? '').split(',')[0].trim();
      const sel = first && !first.startsWith('MIG') ? ['-i', first] : [];
      const out = await run('nvidia-smi', [...sel, '--query-gpu=memory.free,memory.total,name', '--format=csv,noheader,nounits']);
      const [free, total, ...name] = out.trim().split('\n')[0].split(',').map((x) => x.trim());
      const mib = 1024 ** 2;
      if (Number.isFinite(Number(free)) && Number.isFinite(Number(total))) return { free: Number(free) * mib, total: Number(total) * mib, source: 'nvidia-smi', name: name.join(',') };
    } catch {
      /* no nvidia-smi: fall through */
    }
    return { free: null, total: null, source: 'nvidia-smi not available' };
  }
  return { free: null, total: null, source: 'WebGPU does not report it' };
}
