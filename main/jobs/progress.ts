/**
 * One progress figure per run across its phases (issue 18: the bar used to restart at 0 for each phase). The
 * measurements report (phase, step, of) per phase (main/metrics/control.ts); a job knows which phases its run goes
 * through and how much work each is, in forward passes over the evaluation batches, so it adds to every event
 * `overall` (0–1, never decreasing), the list of `phases` and the index of the current one. A phase not in the plan
 * (the execution plan's announcement) keeps the figure where it was.
 */
import type { RunConfig } from '../api/domains/runs';
import type { Progress, RunControl } from '../metrics/control';

export interface PlannedPhase {
  /** the phase name the measurement reports ('dense', 'search', 'final', 'sweep', 'sparse') */
  phase: string;
  /** what the UI shows for it ('search p=5%') */
  label: string;
  /** its share of the work, in forward passes over all batches */
  weight: number;
}

/** Outer bisection steps of CETT-PPL-p% on [0, 1] down to `tol` (Algorithm 1's `while r − l > tol`); estimate.ts uses it too. */
export function outerSteps(tol: number): number {
  let steps = 0;
  for (let w = 1; w > tol; w /= 2) steps++;
  return steps;
}

/** The phases of a run and their weights, from its config and the number of evaluation batches. */
export function planPhases(cfg: RunConfig, batches: number): PlannedPhase[] {
  const nb = Math.max(1, batches);
  const S = outerSteps(cfg.tol);
  if (cfg.kind === 'measure-series') {
    const k = Math.min(cfg.lastK, cfg.checkpoints.length);
    // the last k share one search; every checkpoint then gets its final pass (the others a dense pass first)
    return [
      { phase: 'dense', label: 'dense', weight: k * nb },
      { phase: 'search', label: 'search', weight: k * S * nb },
      { phase: 'final', label: 'final', weight: (2 * cfg.checkpoints.length - k) * nb },
    ];
  }
  if (cfg.sweepP?.length) {
    const out: PlannedPhase[] = [{ phase: 'dense', label: 'dense', weight: nb }];
    for (const p of cfg.sweepP) out.push({ phase: 'search', label: `search p=${p}%`, weight: S * nb }, { phase: 'final', label: `final p=${p}%`, weight: nb });
    return out;
  }
  if (cfg.sweep?.length) return [{ phase: 'dense', label: 'dense', weight: nb }, { phase: 'sweep', label: `sweep ×${cfg.sweep.length}`, weight: cfg.sweep.length * nb }];
  if (cfg.method !== 'cett-ppl') return [{ phase: 'dense', label: 'dense', weight: nb }, { phase: 'sparse', label: 'sparse', weight: nb }];
  return [
    { phase: 'dense', label: 'dense', weight: nb },
    { phase: 'search', label: 'search', weight: S * nb },
    { phase: 'final', label: 'final', weight: nb },
  ];
}

/** A RunControl whose progress events carry the run's overall fraction and phase list (same signal). */
export function withOverall(ctl: RunControl, plan: PlannedPhase[]): RunControl {
  if (!ctl.progress || plan.length === 0) return ctl;
  const total = plan.reduce((s, p) => s + p.weight, 0) || 1;
  const labels = plan.map((p) => p.label);
  let at = -1;
  let overall = 0;
  const emit = ctl.progress;
  return {
    signal: ctl.signal,
    progress: (p: Progress) => {
      // the current planned phase, or the next one of this name (a p% sweep goes through 'search' once per p)
      if (at < 0 || plan[at].phase !== p.phase) {
        const next = plan.findIndex((q, i) => i > at && q.phase === p.phase);
        if (next >= 0) at = next;
      }
      if (at >= 0 && plan[at].phase === p.phase) {
        const before = plan.slice(0, at).reduce((s, q) => s + q.weight, 0);
        const within = p.of > 0 ? Math.min(1, Math.max(0, p.step / p.of)) : 0;
        overall = Math.max(overall, Math.min(1, (before + plan[at].weight * within) / total));
      }
      emit({ ...p, overall, phases: labels, phaseIndex: Math.max(0, at) });
    },
  };
}
