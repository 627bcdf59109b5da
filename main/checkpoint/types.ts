/**
 * The normalised view of a checkpoint that the rest of the engine works with. Readers (safetensors,
 * pytorch_model.bin, ONNX) and architecture adapters (llama, qwen2, minicpm, opt, gpt2, gpt_neox, ...)
 * turn whatever a folder holds into this shape; graph building never looks at raw HF names.
 */

export type Family = 'llama' | 'mistral' | 'qwen2' | 'qwen3' | 'minicpm' | 'opt' | 'gpt2' | 'gpt_neox';
export type ActivationName = 'relu' | 'silu' | 'gelu' | 'gelu_tanh' | 'relu2' | 'fatrelu';
export type StorageDType = 'float32' | 'float16' | 'bfloat16';

export interface RopeScaling {
  type: 'linear' | 'dynamic' | 'llama3' | 'yarn' | 'none';
  factor: number;
  /** llama3 / yarn extras, verbatim from config.json */
  [k: string]: unknown;
}

export interface ModelSpec {
  family: Family;
  /** config.json's model_type as found (e.g. 'sparsellama'), for display and the session. */
  modelType: string;
  activation: ActivationName;
  /** fatrelu threshold (ProSparse `hidden_act_param`) */
  activationParam?: number;
  hiddenSize: number; // d_h
  intermediateSize: number; // d_f
  numLayers: number; // L
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  maxPositions: number;
  norm: 'rms' | 'layer';
  normEps: number;
  positional: 'rope' | 'learned';
  ropeTheta: number;
  ropeScaling?: RopeScaling;
  /** Number of head dims that are rotated (gpt_neox partial rotary); = headDim for full rotary. */
  rotaryDim: number;
  /** true: FFN(x) = W_out[σ(W_gate x) ⊙ (W_in x)]; false: W_out σ(W_in x + b) + b_out */
  gated: boolean;
  /** gpt_neox: x + attn(ln1(x)) + mlp(ln2(x)) */
  parallelResidual: boolean;
  /** qwen3: RMSNorm on q and k per head before rotary */
  qkNorm: boolean;
  qkvBias: boolean;
  attnOutBias: boolean;
  mlpBias: boolean;
  tieEmbeddings: boolean;
  /** minicpm: embeddings × scale_emb; 1 elsewhere */
  embedScale: number;
  /** minicpm: each residual branch × scale_depth/√L; 1 elsewhere */
  residualScale: number;
  /** minicpm: logits computed on h / (d_h / dim_model_base); 1 elsewhere */
  logitScale: number;
  /** OPT's learned positions start at index 2 */
  positionOffset: number;
  bosTokenId?: number;
  eosTokenId?: number;
  /** dtype of the stored weights (the largest share) */
  dtype: StorageDType;
  parameters: number;
  /** parameters minus token (and learned position) embeddings and an untied lm_head */
  nonEmbeddingParameters: number;
  /** d_h / L (Sparsing Law Sec. 5.2) */
  widthDepthRatio: number;
}

/**
 * Canonical weight names (PyTorch Linear layout [out, in] for every matrix):
 *   embed.tokens [V, d]        embed.positions [P, d] (learned positions only)
 *   layers.{i}.attn_norm.weight/.bias   layers.{i}.mlp_norm.weight/.bias
 *   layers.{i}.attn.{q,k,v,o}.weight/.bias   layers.{i}.attn.{q_norm,k_norm}.weight (qwen3)
 *   layers.{i}.mlp.gate.weight [F, d] (gated only)   layers.{i}.mlp.up.weight [F, d] (+ .bias)
 *   layers.{i}.mlp.down.weight [d, F] (+ .bias)
 *   final_norm.weight/.bias    lm_head.weight [V, d] (absent when tied)
 */
export interface WeightTensor {
  name: string;
  shape: number[];
  dtype: StorageDType;
  /** Decodes (and caches nothing): fp16/bf16 are widened to fp32. */
  toFloat32(): Float32Array;
  /** How many NaN/±Inf values it holds, counted on the stored bits (absent: count on toFloat32()). */
  nonFinite?(): number;
  /**
   * Where exactly this tensor's values sit in a file, when they are one contiguous row-major byte range there (a
   * safetensors entry, an uncompressed pytorch_model.bin storage, a run of rows of one): built graphs point at those
   * bytes (ONNX external data) instead of writing a copy. Absent or undefined: the values exist only decoded.
   */
  stored?(): StoredBytes | undefined;
}

/** A tensor's bytes in a checkpoint file (WeightTensor.stored). */
export interface StoredBytes {
  /** absolute path of the file as the loader opened it (may be a symlink) */
  file: string;
  /** byte offset of the first value and the byte length of all of them */
  offset: number;
  length: number;
  dtype: StorageDType;
  /**
   * true: the bytes are the canonical [out, in] matrix transposed, i.e. [in, out] row-major (GPT-2's Conv1D layout);
   * false: the canonical shape row-major
   */
  transposed: boolean;
}

export interface TextTokenizer {
  /** Encodes text without adding special tokens. */
  encode(text: string): number[];
  decode(ids: number[]): string;
  vocabSize: number;
  bosTokenId?: number;
  eosTokenId?: number;
  /** 'tokenizer.json' | 'tokenizer.model' */
  source: string;
  /** the folder it was loaded from (loadTokenizer): a worker can load the same one there (tokenizer-remote.ts) */
  dir?: string;
}

export interface LoadedCheckpoint {
  path: string;
  format: 'hf' | 'onnx';
  spec: ModelSpec;
  /** canonical name -> tensor (HF folders). ONNX files: only each layer's W_out (layers.{i}.mlp.down.weight, from the graph's initializers, for CETT); the rest stays in the graph. */
  weights: Map<string, WeightTensor>;
  tokenizer?: TextTokenizer;
  /** sha256 over config + weight files (or the .onnx and its external data); '' when loaded with hash: false */
  contentHash: string;
  /** non-fatal findings shown to the user (forced family, NaN weights, ...) */
  notices: string[];
}
