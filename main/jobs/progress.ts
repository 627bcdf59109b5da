/**
 * One progress figure per run across its phases (issue 18: the bar used to restart at 0 for each phase). The
 * measurements report (phase, step, of) per phase (main/metrics/control.ts); a job knows which phases its run goes
 * through and how much work each is, in forward passes over the evaluation batches, so it adds to every event
 * `overall` (0–1, never decreasing), the list of `phases` and the index of the current one. A phase not in the plan
 * (the execution plan's announcement) keeps the figure where it was.
 */
import type { RunConfig } from '../api/domains/runs';
import type { Progress, RunControl } from '../metrics/control';
import { outerSteps } from '../base/authors-search';

/** Algorithm 1's outer steps on [0, 1] down to `tol` (main/base/authors-search.ts), re-exported for the plan's users */
export { outerSteps };

export interface PlannedPhase {
  /** the phase name the measurement reports ('dense', 'search', 'final', 'sweep', 'sparse') */
  phase: string;
  /** what the UI shows for it ('search p=5%') */
  label: string;
  /** its share of the work, in forward passes over all batches */
  weight: number;
  /** done before this process started (a resumed p% sweep's finished points): counted, never entered */
  done?: boolean;
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

/** Steady steps (after each phase's first) an ETA needs before it is given; until then it is null ("estimating…"). */
export const ETA_MIN_STEPS = 2;
/** The ETA follows the rate of the last this many steady steps (a search step gets cheaper as the search narrows). */
export const ETA_WINDOW = 5;

interface Sample {
  dt: number;
  steps: number;
  work: number;
}

/**
 * Honest ETAs (issue 18). A phase's first step carries one-off costs: the first call of a freshly opened model or graph
 * (session creation, warm-up), the dense pass's model open. Scaling it by the steps to come overestimated the early
 * search several times over. So no step that ends a phase's first call counts: the rate is that of the steps after it
 * (the last ETA_WINDOW of them), the phase ETA is its steps left at that rate, and the whole run's is its work left
 * (forward passes, the plan's weights) at the work rate of the latest steady steps, of this phase when it has
 * ETA_MIN_STEPS of them, else of the phases before. Until there are ETA_MIN_STEPS steady steps both are null: the UI
 * says "estimating…" (or shows the wizard's pilot estimate) instead of a wild number. Times in seconds, any origin.
 */
export class EtaTracker {
  private at = -1;
  private lastStep = 0;
  private lastT = 0;
  private lastOverall = 0;
  /** the phase's first step (its warm-up) is done: later steps are steady */
  private warm = false;
  private phase: Sample[] = [];
  private recent: Sample[] = [];

  /** One progress event: the index of its planned phase, its step of `of`, the run's overall fraction, the time. */
  update(t: number, at: number, step: number, of: number, overall: number): { phaseEtaSec: number | null; overallEtaSec: number | null } {
    if (at !== this.at || step < this.lastStep) {
      this.at = at;
      this.warm = false;
      this.phase = [];
      this.lastStep = step;
      this.lastT = t;
      this.lastOverall = overall;
    } else if (step > this.lastStep) {
      if (this.warm) {
        const s = { dt: t - this.lastT, steps: step - this.lastStep, work: overall - this.lastOverall };
        this.phase = [...this.phase, s].slice(-ETA_WINDOW);
        this.recent = [...this.recent, s].slice(-ETA_WINDOW);
      }
      this.warm = true;
      this.lastStep = step;
      this.lastT = t;
      this.lastOverall = overall;
    }
    const sum = (xs: Sample[], k: 'dt' | 'steps' | 'work') => xs.reduce((a, x) => a + x[k], 0);
    const phaseReady = this.phase.length >= ETA_MIN_STEPS;
    const phaseEtaSec = phaseReady ? (sum(this.phase, 'dt') / sum(this.phase, 'steps')) * Math.max(0, of - step) : null;
    const basis = phaseReady ? this.phase : this.recent;
    const work = sum(basis, 'work');
    const overallEtaSec = basis.length >= ETA_MIN_STEPS && work > 0 ? (sum(basis, 'dt') / work) * Math.max(0, 1 - overall) : null;
    return { phaseEtaSec, overallEtaSec };
  }
}

/**
 * A RunControl whose progress events carry the run's overall fraction and phase list (same signal), and honest ETAs
 * (EtaTracker) for the phase (etaSec) and the whole run (overallEtaSec). `now`: seconds, for tests.
 */
export function withOverall(ctl: RunControl, plan: PlannedPhase[], now: () => number = () => performance.now() / 1000): RunControl {
  if (!ctl.progress || plan.length === 0) return ctl;
  const total = plan.reduce((s, p) => s + p.weight, 0) || 1;
  const labels = plan.map((p) => p.label);
  let at = -1;
  let overall = 0;
  const eta = new EtaTracker();
  let last: ReturnType<EtaTracker['update']> = { phaseEtaSec: null, overallEtaSec: null };
  const emit = ctl.progress;
  return {
    signal: ctl.signal,
    progress: (p: Progress) => {
      // the current planned phase, or the next one of this name (a p% sweep goes through 'search' once per p)
      if (at < 0 || plan[at].phase !== p.phase) {
        const next = plan.findIndex((q, i) => i > at && q.phase === p.phase && !q.done);
        if (next >= 0) at = next;
      }
      if (at >= 0 && plan[at].phase === p.phase) {
        const before = plan.slice(0, at).reduce((s, q) => s + q.weight, 0);
        const within = p.of > 0 ? Math.min(1, Math.max(0, p.step / p.of)) : 0;
        overall = Math.max(overall, Math.min(1, (before + plan[at].weight * within) / total));
      }
      // an event outside the plan (the execution plan's announcement) leaves the ETAs as they were
      const inPlan = at >= 0 && plan[at].phase === p.phase;
      if (inPlan) last = eta.update(now(), at, p.step, p.of, overall);
      emit({ ...p, overall, phases: labels, phaseIndex: Math.max(0, at), etaSec: last.phaseEtaSec, overallEtaSec: last.overallEtaSec });
    },
  };
}
