/**
 * What a forward pass costs on a model and settings, known before a run (main/jobs/progress.ts KindRates): the run
 * monitor's bar weighs each phase by it from the start, so it moves with the run's time instead of jumping when the
 * search gets its first rate. Two sources in this engine process: the pilot estimate (runs.estimate: the wizard's
 * "Estimate time", the checkpoint card) and the rates an earlier run measured on the same model and settings. Keyed by
 * what sets a pass's cost (model(s), provider, device memory, sequence length, batch, method, threshold search), not by
 * the token budget, p or the tolerance, which change how many passes there are.
 */
import type { RunConfig } from '../api/domains/runs';
import { planPhases, type KindRates } from './progress';

const MAX_ENTRIES = 64;
const known = new Map<string, KindRates>();

/** what sets the cost of one pass of each kind */
export function costKey(cfg: RunConfig): string {
  const models = cfg.kind === 'measure' ? [cfg.checkpoint] : cfg.checkpoints.map((c) => c.path);
  return JSON.stringify([cfg.kind, models, cfg.provider, cfg.deviceMemory ?? null, cfg.execution ?? null, cfg.seqLen, cfg.batch, cfg.bosPerSequence ?? false, cfg.method, cfg.thresholdMode]);
}

/** Records rates (seconds per batch pass by kind) for `cfg`'s key; a kind measured again replaces the old figure. */
export function rememberRates(cfg: RunConfig, rates: KindRates): void {
  const good = Object.entries(rates).filter(([, v]) => typeof v === 'number' && Number.isFinite(v) && v > 0);
  if (!good.length) return;
  const key = costKey(cfg);
  const merged = { ...known.get(key), ...Object.fromEntries(good) };
  known.delete(key); // most recent last: the oldest go first when full
  known.set(key, merged);
  while (known.size > MAX_ENTRIES) known.delete(known.keys().next().value!);
}

/** The rates known for `cfg`'s key (empty: none). */
export function priorRates(cfg: RunConfig): KindRates {
  return { ...known.get(costKey(cfg)) };
}

/** Forgets every rate (tests). */
export function forgetRates(): void {
  known.clear();
}

/**
 * Seconds per batch pass by kind from a pilot estimate's breakdown of `cfg` (main/jobs/estimate.ts scalePilot): each
 * part's seconds over the passes of its kind in the run's plan (`batches` evaluation batches).
 */
export function ratesFromEstimate(cfg: RunConfig, batches: number, parts: { dense: number; search: number; final: number }): KindRates {
  const plan = planPhases(cfg, batches);
  const passes = (kind: string) => plan.filter((q) => q.phase === kind).reduce((s, q) => s + q.weight, 0);
  const per = (seconds: number, kind: string) => (passes(kind) > 0 && seconds > 0 ? { [kind]: seconds / passes(kind) } : {});
  // a series: the pilot's dense part is every checkpoint's dense pass, the plan's 'final' phase holds the n − k not
  // searched (main/jobs/progress.ts planPhases)
  if (cfg.kind === 'measure-series') {
    const n = cfg.checkpoints.length;
    const nb = Math.max(1, batches);
    const dense = parts.dense / Math.max(1, n * nb);
    const k = Math.min(cfg.lastK, n);
    return { ...(dense > 0 ? { dense } : {}), ...per(parts.search, 'search'), ...per((n - k) * nb * dense + parts.final, 'final') };
  }
  // a baseline's masked passes are the pilot's 'search' part; a CETT sweep's fixed values its 'final' part
  if (cfg.method !== 'cett-ppl') return { ...per(parts.dense, 'dense'), ...per(parts.search, cfg.sweep ? 'sweep' : 'sparse') };
  if (cfg.sweep) return { ...per(parts.dense, 'dense'), ...per(parts.final, 'sweep') };
  return { ...per(parts.dense, 'dense'), ...per(parts.search, 'search'), ...per(parts.final, 'final') };
}
