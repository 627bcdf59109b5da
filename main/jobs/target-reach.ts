/**
 * Unreachable p% targets (issue 19). The outer CETT bisection on [0, 1] always ends somewhere, so a target that no
 * CETT meets used to finish "completed" at the edge: every step's PPL ratio above 1 + p/100 walks it to CETT ≈ 0
 * (p too small for the model and text: even the first tried sparsity costs more), every step below it walks it to
 * CETT ≈ 1 (nearly all activation pruned and the perplexity still not p% up; toy models whose perplexity falls
 * with pruning do this). Either way the number is not CETT-PPL-p%: the result is flagged, never reported as met.
 */
/** What is wrong with the target, from the search's steps (CETT tried, mean PPL ratio); undefined when it was bracketed. */
export function unreachableTarget(history: readonly { c: number; pplRatio: number }[], p: number): string | undefined {
  if (history.length === 0) return undefined;
  const target = 1 + p / 100;
  const fmt = (v: number) => (Number.isFinite(v) ? v.toPrecision(6) : String(v));
  if (history.every((h) => !(h.pplRatio < target))) {
    const lo = history.reduce((a, h) => (h.c < a.c ? h : a));
    return `the p = ${p}% target cannot be met: even the smallest CETT tried (${fmt(lo.c)}) gives a PPL ratio of ${fmt(lo.pplRatio)}, above the target ${fmt(target)} (choose a larger p, or more evaluation tokens for a less noisy ratio)`;
  }
  if (history.every((h) => h.pplRatio < target)) {
    const hi = history.reduce((a, h) => (h.c > a.c ? h : a));
    return `the p = ${p}% target cannot be met: even the largest CETT tried (${fmt(hi.c)}, nearly every activation pruned) gives a PPL ratio of only ${fmt(hi.pplRatio)}, below the target ${fmt(target)} (choose a smaller p)`;
  }
  return undefined;
}

/**
 * Flags a CETT-PPL-p% result whose search never bracketed its target: the run keeps its measurements (the edge the
 * search ended at) but carries `targetNotMet` with the reason, which the CLI prints as a warning with exit status 3
 * and a session keeps with the result, so it is never shown as a plain CETT-PPL-p%. Other results pass unchanged.
 */
export function flagUnreachedTarget<T extends { p?: number; searchHistory?: readonly { c: number; pplRatio: number }[] }>(result: T): T & { targetNotMet?: string } {
  const why = result.p !== undefined && result.searchHistory ? unreachableTarget(result.searchHistory, result.p) : undefined;
  return why ? { ...result, targetNotMet: `${why}; the numbers are those at the edge of the search, not a CETT-PPL-${result.p}%` } : result;
}
