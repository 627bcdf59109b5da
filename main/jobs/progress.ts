/**
 * One progress figure per run across its phases (issue 18: the bar used to restart at 0 for each phase). The
 * measurements report (phase, step, of) per phase (main/metrics/control.ts); a job knows which phases its run goes
 * through and how much work each is, in forward passes over the evaluation batches, so it adds to every event
 * `overall` (0–1, never decreasing), the list of `phases` and the index of the current one. A phase not in the plan
 * (the execution plan's announcement) keeps the figure where it was. `overall` is the share of forward passes done
 * until every kind of phase has a measured rate (EtaTracker), then the share of the run's time: on the CPU a dense
 * pass costs five search steps, and the bar stood at 8% when 60% of the time had gone.
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
 * (the last ETA_WINDOW of them), and the phase ETA is its steps left at that rate.
 *
 * The whole run's ETA adds, for the current phase and every planned phase after it, its work left (forward passes,
 * the plan's weights) at the work rate of ITS kind: a pass does not cost the same in every phase. On the CPU's curve
 * engine a dense pass (which builds the CETT curves) cost five times a search step (0.1B demo model, 65k tokens: the
 * old figure, the dense rate for all the work, said 110 s where 17 s were left). A kind's rate comes from its own
 * steady steps (ETA_MIN_STEPS of them); a final pass is one sparse pass per batch, as a search step is, so it takes the
 * search's rate until it has its own. While a phase to come has no rate (during the dense pass of a CETT-PPL-p% run: no
 * search step yet) the run's ETA is null: the UI says "estimating…" or shows the wizard's pilot estimate instead of a
 * wrong number. Times in seconds, any origin.
 */
export class EtaTracker {
  private at = -1;
  private lastStep = 0;
  private lastT = 0;
  private lastOverall = 0;
  /** the phase's first step (its warm-up) is done: later steps are steady */
  private warm = false;
  private phase: Sample[] = [];
  /** the latest steady steps of each kind of phase ('dense', 'search', …) */
  private byKind = new Map<string, Sample[]>();
  /** each planned phase's end as a fraction of the run's work */
  private readonly ends: number[];

  /** `plan`: the run's phases (planPhases); without one, the run's ETA is never given */
  constructor(private readonly plan: readonly PlannedPhase[] = []) {
    const total = plan.reduce((s, q) => s + q.weight, 0) || 1;
    let acc = 0;
    this.ends = plan.map((q) => (acc += q.weight) / total);
  }

  /** seconds per unit of run fraction of a kind of phase, from its steady steps (a final pass: the search's) */
  private rate(kind: string): number | null {
    const of = (k: string) => {
      const xs = this.byKind.get(k) ?? [];
      const work = xs.reduce((a, x) => a + x.work, 0);
      return xs.length >= ETA_MIN_STEPS && work > 0 ? xs.reduce((a, x) => a + x.dt, 0) / work : null;
    };
    return of(kind) ?? (kind === 'final' ? of('search') : null);
  }

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
        const kind = this.plan[at]?.phase;
        if (kind !== undefined) this.byKind.set(kind, [...(this.byKind.get(kind) ?? []), s].slice(-ETA_WINDOW));
      }
      this.warm = true;
      this.lastStep = step;
      this.lastT = t;
      this.lastOverall = overall;
    }
    const sum = (xs: Sample[], k: 'dt' | 'steps' | 'work') => xs.reduce((a, x) => a + x[k], 0);
    const phaseEtaSec = this.phase.length >= ETA_MIN_STEPS ? (sum(this.phase, 'dt') / sum(this.phase, 'steps')) * Math.max(0, of - step) : null;
    return { phaseEtaSec, overallEtaSec: this.runLeft(at, overall) };
  }

  /**
   * The share of the run's time done, once every planned phase's kind has a rate: each phase's work weighed by its
   * kind's seconds per unit of work (a CPU dense pass counts five search steps); null before. Phases done before this
   * process (a resumed p% sweep's) count at their kind's rate too.
   */
  timeFraction(overall: number): number | null {
    let done = 0;
    let all = 0;
    for (let j = 0; j < this.plan.length; j++) {
      const start = j > 0 ? this.ends[j - 1] : 0;
      const work = this.ends[j] - start;
      if (work <= 0) continue;
      const r = this.rate(this.plan[j].phase);
      if (r === null) return null;
      const w = this.plan[j].done ? work : Math.min(work, Math.max(0, overall - start));
      done += r * w;
      all += r * work;
    }
    return all > 0 ? done / all : null;
  }

  /** the run's seconds left: each phase's work left at its kind's rate; null while one of them has none */
  private runLeft(at: number, overall: number): number | null {
    if (at < 0 || at >= this.plan.length) return null;
    let left = 0;
    for (let j = at; j < this.plan.length; j++) {
      const q = this.plan[j];
      if (q.done) continue;
      const work = j === at ? Math.max(0, this.ends[j] - overall) : this.ends[j] - (j > 0 ? this.ends[j - 1] : 0);
      if (work <= 0) continue;
      const r = this.rate(q.phase);
      if (r === null) return null;
      left += r * work;
    }
    return left;
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
  // phases done before this process (a resumed sweep's finished points): listed as done from the first event on
  const doneBefore = plan.flatMap((p, i) => (p.done ? [i] : []));
  let at = -1;
  /** the share of forward passes done (the ETAs' unit of work) */
  let overall = 0;
  /** the figure the events carry: never decreasing */
  let shown = 0;
  const eta = new EtaTracker(plan);
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
      // what the bar shows: the share of work (forward passes) until every kind of phase has a rate, then of time
      shown = Math.max(shown, eta.timeFraction(overall) ?? overall);
      emit({ ...p, overall: shown, phases: labels, phaseIndex: Math.max(0, at), ...(doneBefore.length ? { phasesDone: doneBefore } : {}), etaSec: last.phaseEtaSec, overallEtaSec: last.overallEtaSec });
    },
  };
}
