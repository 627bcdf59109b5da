import type { ConfigReader } from '../config';
import type { Family, ModelSpec, WeightTensor } from '../types';

/** What an adapter derives from config.json before it sees the tensors. */
export type SpecDraft = Omit<ModelSpec, 'dtype' | 'parameters' | 'nonEmbeddingParameters' | 'widthDepthRatio'>;

export interface Adapter {
  family: Family;
  /** model_type values this adapter takes as its own */
  modelTypes: string[];
  spec(cfg: ConfigReader, modelType: string): SpecDraft;
  /**
   * One HF tensor → its canonical tensor(s) (types.ts): renamed, transposed (GPT-2 Conv1D) or split (GPT-2
   * c_attn, NeoX query_key_value). [] ignores the tensor (rotary inv_freq, attention-mask buffers, ...).
   */
  map(hf: string, t: WeightTensor, spec: SpecDraft): WeightTensor[];
}
