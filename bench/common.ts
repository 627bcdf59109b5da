import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadCheckpoint } from '../main/checkpoint/index';
import { writeTinyCheckpoint } from '../main/checkpoint/testing/tiny';
import { createRunner, parseOrtSessionTuning } from '../main/inference/index';
import { openRunnerOffThread } from '../main/inference/runner-off-thread';
import { parseSearchTuning } from '../main/graph/search-graph';
import { batchStream, loadEvalData, type EvalData } from '../main/metrics/data';
import { downWeightsOf, type MeasureTarget } from '../main/metrics/target';

export const benchOptions = {
  model: { type: 'string' },
  tokens: { type: 'string' }, // .i32 file of token ids (as written by bench/reference/make_model.py)
  data: { type: 'string' }, // or a text file, tokenized with the model's tokenizer
  'n-tokens': { type: 'string' },
  'seq-len': { type: 'string' },
  batch: { type: 'string' },
  provider: { type: 'string' },
  dtype: { type: 'string' },
  p: { type: 'string' },
  tol: { type: 'string' },
  out: { type: 'string' },
  act: { type: 'string' },
  engine: { type: 'string' }, // measure: auto | fused | ort | js
  speculate: { type: 'string' }, // measure: 1 = search the next step's targets in the same fused call
  fused: { type: 'string' }, // 1 / 0: force the contrib-op decoder form on or off (default: on CUDA only)
  what: { type: 'string' }, // profile: search (default) | forward (the dense forward graph alone, by operator and provider)
  'device-memory': { type: 'string' }, // GiB the engine may use (issue 15's cap; default: what is free)
  execution: { type: 'string' }, // auto (default) | whole | streamed
  'block-layers': { type: 'string' }, // streamed: layers per block (default: planned)
  'search-block-layers': { type: 'string' }, // streamed: layers per block of the fused search (default: planned)
  warm: { type: 'string' }, // streamed: each paged search block's session makes a call of zeros right after its creation: 1 = 1 × 2 tokens, s<n> = n sequences of the run's length
  overlap: { type: 'string' }, // streamed: 1 = the next paged block created while one computes, 0 = one after another (default: on CUDA only)
  'paged-weights': { type: 'string' }, // streamed search: inputs = one session per block shape fed each block's weights, sessions = a session per paged block (default: planned)
  'half-weights': { type: 'string' }, // CPU fp32 graph: 0 = fp16/bf16-stored weights converted to fp32 initializers (pre-packed; 2× their memory), 1 = kept 16-bit behind Casts (default)
  forms: { type: 'string' }, // cpusearch: CPU graph forms to A/B, e.g. a1,a4,f1,a4-h0 (attention chunks, fused form, fp32 weights)
  threads: { type: 'string' }, // cpusearch --forms: onnxruntime intra-op threads (default: its own, one per core)
  'mask-mul': { type: 'string' }, // CPU: 1 = CETT masks by Mul with the cast keep mask (the default since 2026-12-05), 0 = by Where (the form before)
  eps: { type: 'string' }, // cpusearch --forms: the sparse forms' threshold ε in every layer (default 0.1)
  'attn-chunks': { type: 'string' }, // plain-form (CPU) attention in this many causal query chunks (default 4 on the CPU; 1 = the whole S×S, the form before)
  'off-thread': { type: 'string' }, // 1 = the runner in the inference worker (main/inference/runner-off-thread.ts), as the engine runs large CPU jobs
  search: { type: 'string' }, // fused CETT search tuning, e.g. levels=2,chunk=4096,nin=1 (search-graph.ts SearchTuning)
  ops: { type: 'string' }, // profile: 1 = also onnxruntime's per-operator profile of one call
  shape: { type: 'string' }, // kernels: 0.1b | 7b | L,T,F,d
  reps: { type: 'string' }, // profile: timed repetitions per measurement (default 8)
  k: { type: 'string' }, // kernels: Loop iterations timed
  'curve-only': { type: 'string' }, // cpusearch: 1 = only the CETT curve's timings (one capture forward, no other forward, no ORT probe)
  variants: { type: 'string' }, // kernels: comma-separated formulations
  opt: { type: 'string' }, // kernels: onnxruntime graph optimisation level
  ort: { type: 'string' }, // onnxruntime session settings, e.g. opt=basic,mempattern=0,log=0 (main/inference RunnerOptions.ortSession)
  'at-cett': { type: 'string' }, // measure: the final measurement at these CETT values (comma-separated), no outer search
  'overlap-curves': { type: 'string' }, // measure: 0 = the CPU curve of a batch after the next batch's dense forward, not beside it (issue 16)
  progress: { type: 'string' }, // measure: 1 = a progress line per step on stderr (phase, step/of, ETA; bench/gpu/eta.mjs checks the ETA held)
} as const;

/** --paged-weights: auto | inputs | sessions (a clear error otherwise) */
function pagedWeightsArg(v: string): 'auto' | 'inputs' | 'sessions' {
  if (v === 'auto' || v === 'inputs' || v === 'sessions') return v;
  throw new Error(`--paged-weights: '${v}' is not one of auto, inputs, sessions`);
}

/** --attn-chunks: a whole number 1…64 (a clear error otherwise) */
export function attnChunksArg(v: string): number {
  if (/^[1-9]\d*$/.test(v) && Number(v) <= 64) return Number(v);
  throw new Error(`--attn-chunks: '${v}' is not a whole number from 1 to 64`);
}

/** --half-weights: 0 or 1 (a clear error otherwise) */
function halfWeightsArg(v: string): boolean {
  if (v === '0' || v === '1') return v === '1';
  throw new Error(`--half-weights: '${v}' is not 0 or 1`);
}

/** --mask-mul: 0 or 1 (a clear error otherwise) */
function maskMulArg(v: string): boolean {
  if (v === '0' || v === '1') return v === '1';
  throw new Error(`--mask-mul: '${v}' is not 0 or 1`);
}

export function parse(argv: string[]) {
  return parseArgs({ args: argv, options: benchOptions, allowPositionals: true }).values;
}

export function machine(): string {
  return `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${process.platform}/${process.arch}, Node ${process.versions.node}`;
}

/** The model under test: --model DIR, or a generated small LLaMA (CPU-friendly) in .cache/bench. */
export async function openTarget(v: ReturnType<typeof parse>): Promise<{ target: MeasureTarget; data: EvalData; modelDir: string }> {
  let dir = v.model;
  if (!dir) {
    dir = path.resolve('.cache/bench/small-llama-' + (v.act ?? 'relu'));
    if (!fs.existsSync(path.join(dir, 'model.safetensors')))
      writeTinyCheckpoint(dir, 'llama', { activation: (v.act ?? 'relu') as never, hidden: 256, layers: 4, heads: 4, intermediate: 640, vocab: 4096, seed: 7, std: 0.05, maxPositions: 2048 });
  }
  const ckpt = await loadCheckpoint(dir);
  const seqLen = Number(v['seq-len'] ?? 256);
  const open = v['off-thread'] === '1' ? openRunnerOffThread : createRunner;
  const runner = await open(ckpt, {
    provider: (v.provider ?? 'auto') as never,
    dtype: (v.dtype ?? 'auto') as never,
    maxSeq: seqLen,
    cacheDir: path.resolve('.cache/graphs'),
    ...(v.fused ? { fused: v.fused === '1' } : {}),
    batchSeqs: Number(v.batch ?? 16),
    ...(v['device-memory'] ? { deviceMemoryBytes: Number(v['device-memory']) * 1024 ** 3 } : {}),
    ...(v.execution ? { execution: v.execution as never } : {}),
    ...(v['block-layers'] ? { blockLayers: Number(v['block-layers']) } : {}),
    ...(v['search-block-layers'] ? { searchBlockLayers: Number(v['search-block-layers']) } : {}),
    ...(v.warm === '1' ? { blockWarmup: true } : /^s[1-9]\d*$/.test(v.warm ?? '') ? { blockWarmup: Number(v.warm!.slice(1)) } : {}),
    ...(v.overlap ? { blockOverlap: v.overlap === '1' } : {}),
    ...(v['paged-weights'] ? { pagedWeights: pagedWeightsArg(v['paged-weights']) } : {}),
    ...(v['half-weights'] !== undefined ? { halfWeights: halfWeightsArg(v['half-weights']) } : {}),
    ...(v['attn-chunks'] ? { attnChunks: attnChunksArg(v['attn-chunks']) } : {}),
    ...(v['mask-mul'] !== undefined ? { maskMul: maskMulArg(v['mask-mul']) } : {}),
    ...(v.search ? { searchTuning: parseSearchTuning(v.search, '--search') } : {}),
    ...(v.ort ? { ortSession: parseOrtSessionTuning(v.ort, '--ort') } : {}),
  });
  const opts = { tokens: Number(v['n-tokens'] ?? 65536), seqLen, batch: Number(v.batch ?? 16) };
  let data: EvalData;
  if (v.tokens) {
    const buf = fs.readFileSync(v.tokens);
    const ids = new Int32Array(buf.buffer, buf.byteOffset, Math.floor(buf.byteLength / 4));
    data = batchStream(ids, opts, v.tokens);
  } else if (v.data) data = loadEvalData(v.data, ckpt.tokenizer!, opts);
  else {
    // seeded Zipf-like ids (as make_model.py) when no data is given
    let s = 12345;
    const ids = Int32Array.from({ length: opts.tokens }, () => {
      s = (s * 1103515245 + 12345) >>> 0;
      return Math.min(ckpt.spec.vocabSize - 1, Math.floor(1 / Math.max(1e-9, s / 2 ** 32) ** 0.8) - 1);
    });
    data = batchStream(ids, opts, 'synthetic');
  }
  return { target: { id: dir, runner, downWeights: downWeightsOf(ckpt) }, data, modelDir: dir };
}

export function writeOut(file: string | undefined, obj: unknown): void {
  if (file) fs.writeFileSync(file, JSON.stringify(obj, null, 1));
}
