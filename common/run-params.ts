/**
 * The ranges of a run's parameters that both the engine (main/api/domains/runs.ts checks every run config with them)
 * and the lab's Measure wizard (shows the problem beside the field before Start) need: one implementation, pure code.
 */

/**
 * CETT-PPL-p%: the perplexity may rise by p% (Luo et al., arXiv 2411.02335, Sec. 4.2 report p = 1, 5, 10). Valid:
 * 0 < p ≤ 100. Above 100% the sparse model's PPL is more than twice the dense one's: not a sparsity measurement, and
 * `--p 1000` is far more likely a slip than a wish.
 */
export const P_MAX_PERCENT = 100;

/** Why `p` is not a valid p% (naming the value and the range), or undefined when it is. */
export function pProblem(p: unknown): string | undefined {
  if (typeof p === 'number' && Number.isFinite(p) && p > 0 && p <= P_MAX_PERCENT) return undefined;
  return `p is the allowed rise of perplexity in percent: it must be > 0 and ≤ ${P_MAX_PERCENT} (the paper reports 1, 5, 10); got ${typeof p === 'number' ? p : JSON.stringify(p)}`;
}

/**
 * Why `param` is not a valid parameter of baseline `method` (Luo et al., Sec. 4.1), or undefined: FAT-ε's ε is a finite
 * number ≥ 0; Top-k's is the fraction of neurons kept, in (0, 1]; ReLU and CETT-PPL-p% take none (ignored).
 */
export function paramProblem(method: string, param: unknown): string | undefined {
  const got = typeof param === 'number' ? String(param) : param === undefined ? 'none' : JSON.stringify(param);
  if (method === 'fat') return typeof param === 'number' && Number.isFinite(param) && param >= 0 ? undefined : `fat needs --param ε ≥ 0 (the threshold under which activations are zeroed; got ${got})`;
  if (method === 'topk-token' || method === 'topk-batch')
    return typeof param === 'number' && param > 0 && param <= 1 ? undefined : `${method} needs --param = the fraction of neurons kept, in (0, 1] (got ${got})`;
  return undefined;
}
