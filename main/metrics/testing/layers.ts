/**
 * Generated FFN layers for the threshold-search tests: gated activations a [tokens, f], W_out [d, f] and its column
 * norms, from the project's seeded PRNG. Kinds: ReLU- and SiLU-like activations, and the search's edge cases — tokens
 * whose activations are all zero, ties in |a| (few distinct values), a layer that is zero everywhere.
 */
import { mulberry32 } from '../../base/rng';
import type { LayerInput } from '../thresholds';

export type LayerKind = 'relu' | 'silu' | 'zero-tokens' | 'ties' | 'all-zero';

export function generatedLayer(seed: number, tokens: number, f: number, d: number, kind: LayerKind): LayerInput {
  const r = mulberry32(seed);
  const a = new Float32Array(tokens * f);
  for (let t = 0; t < tokens; t++)
    for (let i = 0; i < f; i++) {
      const g = (r() - 0.5) * 4;
      let v = kind === 'relu' ? Math.max(0, g) * r() : (g / (1 + Math.exp(-g))) * (r() - 0.3);
      if (kind === 'ties') v = Math.round(v * 2) / 2; // few distinct |a|: many equal N
      if (kind === 'all-zero' || (kind === 'zero-tokens' && t % 3 === 1)) v = 0;
      a[t * f + i] = v;
    }
  const wDown = new Float32Array(d * f);
  for (let i = 0; i < wDown.length; i++) wDown[i] = (r() - 0.5) * (0.5 + (i % 7) / 7);
  const colNorms = new Float32Array(f);
  for (let i = 0; i < f; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += wDown[k * f + i] ** 2;
    colNorms[i] = Math.sqrt(s);
  }
  return { a, tokens, f, wDown, d, colNorms };
}
