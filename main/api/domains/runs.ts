import { z } from 'zod';
import { pProblem, paramProblem } from '../../../common/run-params';

/**
 * Commands of the 'runs' domain: long measurements run as jobs (main/jobs) with progress events
 * (`job.progress`, `job.finished` in events.ts), cancel and resume. Sparsing Law (Luo et al., arXiv 2411.02335) Sec. 4–5; issue 4.
 */
export const METHODS = ['cett-ppl', 'relu', 'topk-token', 'topk-batch', 'fat'] as const;

// the ranges the wizard checks too (one implementation, pure: common/run-params.ts)
export { P_MAX_PERCENT, pProblem, paramProblem } from '../../../common/run-params';

/**
 * a run config's numbers that depend on each other: the token budget holds at least one sequence; the baseline's
 * parameter, each value of a baseline's sweep, a CETT sweep's values in [0, 1]
 */
function checkMethodParams(c: { method: string; param?: number; sweep?: number[]; tokens: number; seqLen: number }, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  // (only when both are valid on their own: each field's own check names its problem)
  if (RUN_PARAMS.tokens.safeParse(c.tokens).success && RUN_PARAMS.seqLen.safeParse(c.seqLen).success && c.tokens < c.seqLen) issue(['tokens'], `the token budget (${c.tokens}) is less than one sequence of ${c.seqLen} tokens (seqLen): give at least ${c.seqLen}`);
  if (c.sweep) {
    for (const [i, v] of c.sweep.entries()) {
      const problem = c.method === 'cett-ppl' ? (v >= 0 && v <= 1 ? undefined : `a CETT sweep's values lie in [0, 1] (got ${v})`) : paramProblem(c.method, v);
      if (problem) issue(['sweep', i], problem);
    }
  } else {
    const problem = paramProblem(c.method, c.param);
    if (problem) issue(['param'], problem);
  }
}

const pPercent = z.number().superRefine((p, ctx) => {
  const problem = pProblem(p);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/**
 * The numeric run parameters and their valid ranges, in ONE place: a run's config (runs.start, runs.estimate: the
 * CLI's measure, measure-series and the lab's wizard all send it; runs.plan checks the numbers the plan reads), a p% sweep's values
 * (main/jobs/p-sweep.ts checkSweepP), a cluster submission's measure options (domains/cluster.ts) and a sweep spec file's
 * values (main/cluster/tasks.ts). z.number() refuses NaN and ±Infinity; a count is a whole number.
 */
export const RUN_PARAMS = {
  p: pPercent,
  /** baseline parameter: FAT ε; Top-k fraction of neurons kept (each method's range: main/metrics/baselines.ts) */
  param: z.number(),
  /** token budget N (rounded down to a multiple of seqLen) */
  tokens: z.number().int().positive().max(1e9),
  seqLen: z.number().int().min(2).max(1 << 17),
  batch: z.number().int().min(1).max(4096),
  tol: z.number().positive().lt(0.5),
  /** GiB of device memory (host memory on the CPU) the engine may use */
  deviceMemory: z.number().positive().max(1e5),
};

const common = {
  data: z.string().min(1).max(4096),
  method: z.enum(METHODS).default('cett-ppl'),
  /** CETT-PPL-p%: PPL may rise by p% (presets 1, 5, 10); 0 < p ≤ 100 */
  p: RUN_PARAMS.p.default(1),
  param: RUN_PARAMS.param.optional(),
  tokens: RUN_PARAMS.tokens.default(65536),
  seqLen: RUN_PARAMS.seqLen.default(1024),
  batch: RUN_PARAMS.batch.default(4),
  tol: RUN_PARAMS.tol.default(1e-3),
  thresholdMode: z.enum(['authors', 'exact']).default('authors'),
  provider: z.enum(['auto', 'cuda', 'webgpu', 'cpu']).default('auto'),
  /** GiB of device memory (host memory on the CPU) the engine may use; default: what the device has free (issue 15) */
  deviceMemory: RUN_PARAMS.deviceMemory.optional(),
  /** whole-model graph or streamed blocks of layers; default: chosen from the memory (ExecutionPlan) */
  execution: z.enum(['auto', 'whole', 'streamed']).optional(),
  bosPerSequence: z.boolean().default(false),
  /** sweep: the method's parameter (or CETT for cett-ppl) over these values instead of one measurement */
  sweep: z.array(z.number()).min(1).max(200).optional(),
  /** p% sweep (cett-ppl only): one full CETT-PPL-p% search per value of p, each recorded as a run of its own */
  sweepP: z.array(RUN_PARAMS.p).min(1).max(50).optional(),
  /** folder for the resumable job state (JSON files) when no session is open */
  stateDir: z.string().max(4096).optional(),
};

const measureShape = { kind: z.literal('measure'), checkpoint: z.string().min(1).max(4096), ...common };
const seriesShape = {
  kind: z.literal('measure-series'),
  checkpoints: z.array(z.object({ path: z.string().min(1).max(4096), tokensSeen: z.number().nonnegative().optional() })).max(1000),
  lastK: z.number().int().min(1).default(5),
  ...common,
};
export const measureConfigSchema = z.object(measureShape).superRefine(checkMethodParams);
export const seriesConfigSchema = z.object(seriesShape).superRefine(checkMethodParams);
export const runConfigSchema = z.discriminatedUnion('kind', [measureConfigSchema, seriesConfigSchema]);
/**
 * runs.plan's config: how a run would execute depends on neither p nor the method's parameter or sweep, so they are not
 * checked there (the wizard asks for the plan while they may still be half typed); runs.start and runs.estimate check them.
 */
const planLoose = { p: z.number().default(1), param: z.number().optional(), sweep: z.array(z.number()).max(200).optional(), sweepP: z.array(z.number()).max(50).optional() };
const planConfigSchema = z.discriminatedUnion('kind', [z.object({ ...measureShape, ...planLoose }), z.object({ ...seriesShape, ...planLoose })]);
export type RunConfig = z.output<typeof runConfigSchema>;
export type MeasureConfig = z.output<typeof measureConfigSchema>;
export type SeriesConfig = z.output<typeof seriesConfigSchema>;

/** a name the client gives a request it may want to cancel (runs.estimate, laws.*): main/engine/cancellable.ts */
export const cancelIdSchema = z.string().min(1).max(128);

export const runsRequests = {
  /** starts a job (or resumes `resume` = a job id whose state was saved) and returns its id at once */
  'runs.start': z.object({ config: runConfigSchema, resume: z.string().max(128).optional() }),
  /** cancels a job (its id from runs.start) or a pre-run estimate (the cancelId it was sent with) */
  'runs.cancel': z.object({ id: z.string().max(128) }),
  'runs.active': z.object({}),
  /**
   * a short timed pilot of the run on a slice of its text, scaled by the run's counts (main/jobs/estimate.ts);
   * `cancelId` (chosen by the client): runs.cancel with that id ends it CANCELLED, nothing recorded (issue 19)
   */
  'runs.estimate': z.object({ config: runConfigSchema, cancelId: cancelIdSchema.optional() }),
  /** how the run would execute (whole / streamed, device, memory), from the checkpoint's config and the free memory; opens nothing */
  'runs.plan': z.object({ config: planConfigSchema }),
} satisfies Record<string, z.ZodType>;

export interface JobInfo {
  id: string;
  kind: string;
  startedAt: string;
  phase: string;
  step: number;
  of: number;
  tokensPerSec: number;
  etaSec: number | null;
  /** the run in words (common/run-label.ts), the same in every window and after a reload */
  label?: string;
  /** the session file the job writes into; null: job files outside any session */
  session?: string | null;
  /** as in JobProgressEvent: the whole run's fraction done, its phases and the current one */
  overall?: number;
  overallBasis?: 'time' | 'work';
  phases?: string[];
  phaseIndex?: number;
  overallEtaSec?: number | null;
  /** as in JobProgressEvent: phases done before this process (a resumed p% sweep's finished points) */
  phasesDone?: number[];
  /** a resumed job: when it was resumed (startedAt stays the run's first start) */
  resumedAt?: string;
}

/** How a checkpoint runs (main/inference/plan.ts), recorded with the run's result and shown before Run (issue 15). */
export interface ExecutionPlan {
  mode: 'whole' | 'streamed';
  provider: 'cuda' | 'webgpu' | 'cpu';
  /** the device in words (e.g. "cuda (NVIDIA H200): 139.8 GiB free (nvidia-smi), capped at 16.0 GiB") */
  device: string;
  /** bytes the plan may use: min(free − reserve, cap) */
  budgetBytes: number;
  freeBytes: number | null;
  capBytes: number | null;
  /** weights of one session of the whole graph, in its dtype */
  weightBytes: number;
  /** blocks of layers [from, to) (one block [0, L) when whole) */
  blocks: [number, number][];
  /** streamed: block sessions kept resident (the others are paged in per call) */
  residentBlocks: number;
  /** sequences per graph call (a measurement batch of more is cut into chunks of this many: same numbers) */
  chunkSeqs: number;
  /** planned peak bytes at chunkSeqs */
  peakBytes: number;
  /**
   * streamed on a GPU: whether the CETT search's per-layer curves keep their operands on the device (room for every
   * layer's A and N of a batch), else they are fed per call (slow, within the cap). Absent: whole graph or CPU.
   */
  curvesOnDevice?: boolean;
  /**
   * streamed: the fused CETT search block by block (dense stream, grid, bisection and sparse stream of a block's
   * layers in one call, then the next block), sized from the budget for `tokens` tokens per call; absent when even one
   * layer's search does not fit (then the host/ORT curves search, slower)
   */
  search?: {
    blocks: [number, number][];
    residentBlocks: number;
    chunkTokens: number;
    layerGroup: number;
    tokens: number;
    peakBytes: number;
    overlap?: boolean;
    /** one session per block shape, kept, fed each block's weights as inputs (read from the checkpoint per call) instead of a session per paged block */
    weightInputs?: boolean;
  };
  /**
   * streamed: the forward blocks (dense and sparse passes) are one session per block shape (and mask kind), kept, fed
   * each block's weights as inputs, with the embedding and the head in two small sessions, instead of a session per
   * paged block
   */
  weightInputs?: boolean;
  /**
   * streamed with paged blocks: the next block's session is created on a second thread while the current block
   * computes (two block sessions on the device at once, counted in peakBytes; search.overlap likewise for the search's
   * blocks). Absent: one after another.
   */
  overlap?: boolean;
  /** why this mode (one sentence) */
  reason: string;
}

export interface RunEstimate {
  forwardPasses: number;
  secondsPerPass: number;
  curveSeconds: number;
  totalSeconds: number;
  /** where the time goes (seconds): reading/opening, the dense phase, the outer search, the final measurement(s) */
  breakdown?: { setupSeconds: number; denseSeconds: number; searchSeconds: number; finalSeconds: number };
  /** how long the timed pilot took (main/jobs/estimate.ts) */
  pilotSeconds?: number;
  provider: string;
  dtype: string;
  /** whole or streamed, the device and memory chosen (absent for ONNX-file inputs) */
  execution?: ExecutionPlan;
}

export interface RunsResponses {
  /**
   * notices: stale locks that killed processes left in the run's job-state folder, cleared on the way, each naming its
   * file, its dead owner and whether its run can be resumed (main/jobs/run-lock.ts)
   */
  'runs.start': { id: string; notices?: string[] };
  'runs.cancel': { cancelled: boolean };
  'runs.active': JobInfo[];
  'runs.estimate': RunEstimate;
  /** null: not known for this input (an .onnx file, a test model source) */
  'runs.plan': { execution: ExecutionPlan | null };
}

/** event 'job.progress' */
export interface JobProgressEvent {
  id: string;
  phase: string;
  step: number;
  of: number;
  tokensPerSec: number;
  etaSec: number | null;
  message?: string;
  /**
   * the whole run, across its phases: fraction done (0–1; main/jobs/progress.ts): of the run's time when overallBasis
   * is 'time' (never decreasing while it is), else of its forward passes (a kind of phase to come has no rate yet)
   */
  overall?: number;
  overallBasis?: 'time' | 'work';
  /** the run's phases in order ('dense', 'search p=5%', 'final p=5%', …) and the index of the current one */
  phases?: string[];
  phaseIndex?: number;
  /** indices of phases done before this process started (a resumed p% sweep's finished points), whatever the current one */
  phasesDone?: number[];
  /**
   * seconds left for the whole run, from the rate of its steady steps (each phase's first, warm-up step left out;
   * main/jobs/progress.ts); null while too few steps are done to say ("estimating…"). etaSec is the phase's, alike.
   */
  overallEtaSec?: number | null;
}

/** event 'job.finished' */
export interface JobFinishedEvent {
  id: string;
  status: 'completed' | 'failed' | 'cancelled';
  result?: unknown;
  /** reason: what exactly went wrong, where the app acts on it (main/api/errors.ts ERROR_REASONS) */
  error?: { code: string; message: string; reason?: import('../errors').ErrorReason };
}
