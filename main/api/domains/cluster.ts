import { z } from 'zod';
import { pProblem, RUN_PARAMS } from './runs';

/**
 * Commands of the 'cluster' domain (issue 20): measurement series and sweeps sent to a Slurm cluster as one job
 * array, watched, collected into the open session, cancelled. The engine side is main/cluster; the CLI is
 * `sparsity-lab cluster` (main/cli/cluster.ts). README "Running on a Slurm cluster".
 */
const filePath = z.string().min(1).max(4096);

/** the `measure` options every task gets (the same names and meaning as the CLI's `measure` flags) */
export const clusterMeasureSchema = z
  .object({
    data: filePath,
    method: z.enum(['cett-ppl', 'relu', 'topk-token', 'topk-batch', 'fat']).optional(),
    // the same ranges as a run's config (runs.ts RUN_PARAMS): a bad value is refused here, not by every task on the nodes
    p: RUN_PARAMS.p.optional(),
    param: RUN_PARAMS.param.optional(),
    tokens: RUN_PARAMS.tokens.optional(),
    seqLen: RUN_PARAMS.seqLen.optional(),
    batch: RUN_PARAMS.batch.optional(),
    tol: RUN_PARAMS.tol.optional(),
    thresholdMode: z.enum(['authors', 'exact']).optional(),
    provider: z.enum(['auto', 'cuda', 'webgpu', 'cpu']).optional(),
    bos: z.boolean().optional(),
  })
  .strict();

/** where and how the array runs (sbatch options, and the command that starts the engine on a node) */
export const clusterProfileSchema = z
  .object({
    partition: z.string().max(200).optional(),
    account: z.string().max(200).optional(),
    /** Slurm time limit per task, e.g. "02:00:00" */
    time: z.string().max(50).optional(),
    gpusPerTask: z.number().int().min(0).max(64).default(1),
    cpusPerTask: z.number().int().min(1).max(1024).default(4),
    mem: z.string().max(50).optional(),
    maxParallel: z.number().int().positive().optional(),
    /** a shell line that runs the engine on a node, e.g. "module load sparsity-lab && sparsity-lab" or
     *  "apptainer exec --nv /shared/lab.sif sparsity-lab"; default: this installation's CLI (shared file system) */
    engineCommand: z.string().min(1).max(4000).refine((s) => !/[\n\r]/.test(s), 'one line').optional(),
  })
  .strict();

export const clusterRequests = {
  /** whether sbatch is on PATH here (the "Run on cluster" affordance shows when it is) */
  'cluster.detect': z.object({}).strict(),
  /** writes the results folder and the sbatch script; submits it unless dryRun (then returns the script only) */
  'cluster.submit': z
    .object({
      checkpoints: z.array(z.object({ path: filePath, tokensSeen: z.number().nonnegative().optional() })).min(1).max(10000),
      measure: clusterMeasureSchema,
      /** a sweep: one task per checkpoint and value of p (or of the method's parameter) */
      sweep: z
        .object({ key: z.enum(['p', 'param']), values: z.array(z.number()).min(1).max(1000) })
        .strict()
        .superRefine((s, ctx) => {
          if (s.key !== 'p') return;
          for (const [i, v] of s.values.entries()) {
            const problem = pProblem(v);
            if (problem) ctx.addIssue({ code: 'custom', path: ['values', i], message: problem });
          }
        })
        .optional(),
      profile: clusterProfileSchema.default({ gpusPerTask: 1, cpusPerTask: 4 }),
      /** results folder on the shared file system (default: beside the session, <session>-cluster/<id>) */
      results: filePath.optional(),
      dryRun: z.boolean().optional(),
      /** a job bundle for a cluster this machine cannot reach: the folder is written, not submitted; `pathMap`
       *  rewrites where the checkpoints and the text are on the cluster (prefix from → to) */
      bundle: z.object({ pathMap: z.array(z.object({ from: filePath, to: filePath }).strict()).max(50).default([]) }).strict().optional(),
    })
    .strict(),
  /** the arrays recorded in the open session */
  'cluster.list': z.object({}).strict(),
  /** each task's state from its status file and squeue/sacct */
  'cluster.status': z.object({ id: z.string().min(1).max(4096) }).strict(),
  /** merges finished tasks into the open session (idempotent); offline: Slurm is not asked (a bundle brought back) */
  'cluster.collect': z.object({ id: z.string().min(1).max(4096), offline: z.boolean().optional() }).strict(),
  'cluster.cancel': z.object({ id: z.string().min(1).max(4096), tasks: z.array(z.number().int().nonnegative()).max(100000).optional() }).strict(),
  /** a task's log (the tail) */
  'cluster.log': z.object({ id: z.string().min(1).max(4096), task: z.number().int().nonnegative() }).strict(),
} satisfies Record<string, z.ZodType>;

export type ClusterTaskState = 'pending' | 'running' | 'done' | 'failed' | 'cancelled';

export interface ClusterTaskView {
  task: number;
  label: string;
  checkpoint: string;
  state: ClusterTaskState;
  /** what squeue/sacct say, when Slurm could be asked */
  slurmState?: string;
  node?: string;
  gpu?: string | null;
  reason?: string;
  runIds: string[];
  /** true once its runs are in the session */
  collected?: boolean;
  startedAt?: string;
  finishedAt?: string;
  log: string;
}

export interface ClusterArray {
  id: string;
  slurmJobId: string | null;
  resultsDir: string;
  tasks: number;
  submittedAt: string;
  cancelledAt: string | null;
}

export interface ClusterStatus {
  array: ClusterArray;
  tasks: ClusterTaskView[];
  counts: Record<ClusterTaskState, number>;
  /** why Slurm could not be asked (then states come from the task files alone) */
  slurmNote?: string;
  /** whether sacct answered (clusters without accounting have only squeue) */
  accounting: boolean;
}

export interface ClusterCollectResult {
  array: ClusterArray;
  /** tasks whose runs came into the session now */
  collected: number;
  /** tasks collected by an earlier call (nothing done again) */
  already: number;
  failed: { task: number; label: string; reason: string; log: string }[];
  waiting: number;
  runsImported: number;
}

export interface ClusterResponses {
  'cluster.detect': { sbatch: string | null; available: boolean };
  'cluster.submit': { id: string; slurmJobId: string | null; resultsDir: string; script: string; tasks: number; dryRun: boolean };
  'cluster.list': ClusterArray[];
  'cluster.status': ClusterStatus;
  'cluster.collect': ClusterCollectResult;
  'cluster.cancel': { cancelled: string };
  'cluster.log': { task: number; path: string; text: string };
}
