import type { ConfigReader } from '../config';
import type { Family, ModelSpec } from '../types';

/** What an adapter derives from config.json before it sees the tensors. */
export type SpecDraft = Omit<ModelSpec, 'dtype' | 'parameters' | 'nonEmbeddingParameters' | 'widthDepthRatio'>;

export interface Adapter {
  family: Family;
  /** model_type values this adapter takes as its own */
  modelTypes: string[];
  spec(cfg: ConfigReader, modelType: string): SpecDraft;
  /** HF tensor name → canonical name (types.ts), or undefined to ignore the tensor (buffers etc.) */
  mapName(hf: string, spec: SpecDraft): string | undefined;
  /** Fused tensors (GPT-2 c_attn, NeoX query_key_value) are split by the loader through this hook. */
  split?: SplitRule[];
}

export interface SplitRule {
  /** matches an HF name; returns the canonical names of the parts in order, or undefined */
  match(hf: string, spec: SpecDraft): { parts: string[]; axis: 0 | 1; transpose: boolean; layout: 'blocks' | 'neox-heads' } | undefined;
}
