import { z } from 'zod';

// Commands of the 'checkpoints' domain (issue 3): inspect a checkpoint, scan a folder of a training run.

export const FAMILIES = ['llama', 'mistral', 'qwen2', 'qwen3', 'minicpm', 'opt', 'gpt2', 'gpt_neox'] as const;

export const checkpointsRequests = {
  'checkpoints.inspect': z.object({ path: z.string().min(1).max(4096), family: z.enum(FAMILIES).optional() }).strict(),
  /** `path` is accepted as another name for `dir` (the load wizard sends it) */
  'checkpoints.scanSeries': z
    .object({
      dir: z.string().min(1).max(4096).optional(),
      path: z.string().min(1).max(4096).optional(),
      /** tokens per optimizer step: tokens = step × this where neither the name nor trainer_state.json says */
      tokensPerStep: z.number().positive().finite().optional(),
    })
    .strict()
    .refine((r) => !!(r.dir ?? r.path), { message: 'dir is required' }),
} satisfies Record<string, z.ZodType>;

export interface CheckpointCard {
  path: string;
  family: (typeof FAMILIES)[number];
  modelType: string;
  activation: string;
  layers: number;
  hiddenSize: number;
  intermediateSize: number;
  heads: number;
  kvHeads: number;
  vocabSize: number;
  parameters: number;
  nonEmbeddingParameters: number;
  widthDepthRatio: number;
  /** longest sequence the model takes (max_position_embeddings / n_positions); 0 = unknown (an .onnx without config) */
  maxPositions: number;
  dtype: string;
  gated: boolean;
  tokenizer: string | null;
  contentHash: string;
  notices: string[];
  /** bytes on disk and what running the checkpoint writes (issue 15); absent for .onnx files */
  disk?: DiskFacts;
}

/**
 * A checkpoint's weights on disk, and per graph the engine builds from them (CPU: fp32, 16-bit matrices kept 16-bit;
 * GPU: fp16) how many bytes the graph reads in place from the checkpoint's files and how many it must write once
 * into the graph cache as converted copies, and why.
 */
export interface DiskFacts {
  weightBytes: number;
  graphs: {
    target: 'cpu' | 'gpu';
    dtype: 'float32' | 'float16';
    inPlaceBytes: number;
    convertedBytes: number;
    conversions: { reason: string; tensors: number; bytes: number }[];
  }[];
}

export interface SeriesEntry {
  path: string;
  name: string;
  /** training step from the folder name (step-12000, global_step12000, checkpoint-500) or trainer_state.json */
  step?: number;
  /** tokens trained (tokens-20B, 20B, trainer_state.json's count, or step × tokensPerStep); absent = unknown */
  tokensTrained?: number;
  /** where tokensTrained came from */
  tokensFrom?: 'name' | 'trainer_state.json' | 'step × tokens per step';
  /** parameters, from a size in the name (relu-7b-…) */
  modelSize?: number;
  /** a readable checkpoint (config.json present) */
  isCheckpoint: boolean;
}

export interface CheckpointsResponses {
  'checkpoints.inspect': CheckpointCard;
  /** `series` (the folder name) and `checkpoints` (entries with tokensText) are what the load wizard reads */
  'checkpoints.scanSeries': { dir: string; entries: SeriesEntry[]; series: string; checkpoints: (SeriesEntry & { tokensText: string })[] };
}
