/**
 * A graph to build, as plain data: the decoder graph (llama-graph.ts) or the CETT search graph (search-graph.ts) with
 * its options. Being data (no closure), a recipe can be sent to a worker thread and built there from the same files
 * (main/inference/graph-off-thread.ts): the engine's thread then does not wait for a build that converts weights.
 */
import type { LoadedCheckpoint } from '../checkpoint/types';
import { buildLlamaGraph, type ExternalTarget, type GraphOptions } from './llama-graph';
import { buildSearchEndGraph, buildSearchGraph, type SearchGraphOptions } from './search-graph';
import { planWeights } from './weights';

export type GraphRecipe =
  | { kind: 'decoder'; options: GraphOptions }
  | { kind: 'search'; options: SearchGraphOptions }
  | { kind: 'search-end'; options: Parameters<typeof buildSearchEndGraph>[1] };

/** The serialised graph of `r` over `ckpt`'s weights (the same bytes wherever it is built). */
export function buildGraph(ckpt: LoadedCheckpoint, r: GraphRecipe, external?: ExternalTarget): Uint8Array {
  if (r.kind === 'search-end') return buildSearchEndGraph(ckpt, r.options, external);
  return r.kind === 'decoder' ? buildLlamaGraph(ckpt, r.options, external) : buildSearchGraph(ckpt, r.options, external);
}

/**
 * Bytes of checkpoint tensors the build of `r` decodes and converts itself (those neither pointed at in place nor
 * prepared in `external.converted`): what makes a build long (≈ 7 ms per MiB on the 2-core dev machine, against
 * ≈ 1 ms per layer for the graph itself). For a streamed block (options.layers) an upper bound: it converts only its
 * own layers' tensors.
 */
export function convertedByBuild(ckpt: LoadedCheckpoint, r: GraphRecipe, external?: ExternalTarget): number {
  const o = r.options;
  const plan = planWeights(ckpt, { dtype: o.dtype, ...('halfWeights' in o ? { halfWeights: o.halfWeights } : {}) }, external?.base !== undefined);
  let n = 0;
  for (const p of plan.tensors.values()) if (p.reason && !external?.converted?.has(p.name)) n += p.bytes;
  return n;
}
