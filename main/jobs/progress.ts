/**
 * One progress figure per run across its phases (issue 18: the bar used to restart at 0 for each phase). The
 * measurements report (phase, step, of) per phase (main/metrics/control.ts); a job knows which phases its run goes
 * through and how much work each is, in forward passes over the evaluation batches, so it adds to every event
 * `overall` (0–1, never decreasing), the list of `phases` and the index of the current one. A phase not in the plan
 * (the execution plan's announcement) keeps the figure where it was. `overall` is the share of the run's time: each
 * phase's passes weighed by its kind's seconds per pass, measured by this run (EtaTracker) or, until it has, known from
 * before (`KindRates`: the pilot estimate of this configuration, or an earlier run on the same model and settings in
 * this engine: main/jobs/cost-prior.ts). On the CPU a dense pass costs five search steps or more, so the share of
 * passes is no measure of time (it said 7% where 75% of the time had gone, then jumped to 75% once the search had a
 * rate). Without any rate for a kind still to come, the events say so (`overallBasis: 'work'`: the figure is then the
 * share of passes, which the monitor does not draw as the run's progress).
 */
import type { RunConfig } from '../api/domains/runs';
import type { Progress, RunControl } from '../metrics/control';
import { outerSteps } from '../base/authors-search';

/** Algorithm 1's outer steps on [0, 1] down to `tol` (main/base/authors-search.ts), re-exported for the plan's users */
export { outerSteps };

/** Seconds per forward pass over one evaluation batch (the plan's unit of work), by kind of phase ('dense', 'search', …). */
export type KindRates = Partial<Record<string, number>>;

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
  /** the time of the first event of the plan (this process's start of it) */
  private t0 = -1;
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

  /** the plan's work in batch passes (a unit of run fraction is this many passes) */
  private readonly total: number;

  /**
   * `plan`: the run's phases (planPhases); without one, the run's ETA is never given. `prior`: each kind's seconds per
   * batch pass known before the run (the pilot's, an earlier run's): the bar's weights until the run has its own; the
   * ETA never takes them (the monitor shows the pilot's estimate as such).
   */
  constructor(
    private readonly plan: readonly PlannedPhase[] = [],
    private readonly prior: KindRates = {},
  ) {
    this.total = plan.reduce((s, q) => s + q.weight, 0) || 1;
    let acc = 0;
    this.ends = plan.map((q) => (acc += q.weight) / this.total);
  }

  /** each kind's measured seconds per batch pass so far, from one steady step on (for the next run's prior) */
  measuredRates(): KindRates {
    const out: KindRates = {};
    for (const [k, xs] of this.byKind) {
      const work = xs.reduce((a, x) => a + x.work, 0);
      const dt = xs.reduce((a, x) => a + x.dt, 0);
      if (work > 0 && dt > 0) out[k] = dt / work / this.total;
    }
    return out;
  }

  /** the bar's rate of a kind: measured, else known from before (a final pass: the search's), else none */
  private barRate(kind: string): number | null {
    const before = (k: string) => {
      const x = this.prior[k];
      return typeof x === 'number' && Number.isFinite(x) && x > 0 ? x * this.total : null;
    };
    return this.rate(kind) ?? before(kind) ?? (kind === 'final' ? before('search') : null);
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
    if (this.t0 < 0) this.t0 = t;
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
   * The share of the run's time done: the time this process has spent on the plan's phases (from its first event: a
   * phase's warm-up and all) over that plus the time left — the work left of each phase to come at its kind's rate,
   * measured or from the prior (a CPU dense pass counts five search steps or more); null while a kind to come has no
   * rate. Phases done before this process (a resumed p% sweep's) count as their work at their kind's rate.
   */
  timeFraction(overall: number, t: number): number | null {
    // (before the plan's first event, e.g. the execution plan's announcement: nothing spent, all of it to come)
    const left = this.workLeft(Math.max(0, this.at), overall, (k) => this.barRate(k));
    if (left === null) return null;
    let before = 0;
    for (let j = 0; j < this.plan.length; j++) {
      if (!this.plan[j].done) continue;
      const r = this.barRate(this.plan[j].phase);
      if (r === null) return null;
      before += r * (this.ends[j] - (j > 0 ? this.ends[j - 1] : 0));
    }
    const spent = (this.t0 < 0 ? 0 : Math.max(0, t - this.t0)) + before;
    return spent + left > 0 ? spent / (spent + left) : null;
  }

  /** the run's seconds left: each phase's work left at its kind's measured rate; null while one of them has none */
  private runLeft(at: number, overall: number): number | null {
    return this.workLeft(at, overall, (k) => this.rate(k));
  }

  private workLeft(at: number, overall: number, rate: (kind: string) => number | null): number | null {
    if (at < 0 || at >= this.plan.length) return null;
    let left = 0;
    for (let j = at; j < this.plan.length; j++) {
      const q = this.plan[j];
      if (q.done) continue;
      const work = j === at ? Math.max(0, this.ends[j] - overall) : this.ends[j] - (j > 0 ? this.ends[j - 1] : 0);
      if (work <= 0) continue;
      const r = rate(q.phase);
      if (r === null) return null;
      left += r * work;
    }
    return left;
  }
}

/**
 * A RunControl whose progress events carry the run's overall fraction and phase list (same signal), and honest ETAs
 * (EtaTracker) for the phase (etaSec) and the whole run (overallEtaSec). `now`: seconds, for tests. `prior`: each
 * kind's seconds per batch pass known before the run (main/jobs/cost-prior.ts), for the bar only. `rates()` says what
 * this run measured.
 */
export function withOverall(ctl: RunControl, plan: PlannedPhase[], now: () => number = () => performance.now() / 1000, prior: KindRates = {}): RunControl & { rates?: () => KindRates } {
  if (!ctl.progress || plan.length === 0) return ctl;
  const total = plan.reduce((s, p) => s + p.weight, 0) || 1;
  const labels = plan.map((p) => p.label);
  // phases done before this process (a resumed sweep's finished points): listed as done from the first event on
  const doneBefore = plan.flatMap((p, i) => (p.done ? [i] : []));
  // their share of the run (a finished point costs what a point to come does): the bar starts there and stays on the
  // time basis, held at it until the run's share of time is known and past it (never back, never 'estimating')
  const doneShare = Math.min(1, plan.reduce((s, q) => s + (q.done ? q.weight : 0), 0) / total);
  let at = -1;
  /** the share of forward passes done (the ETAs' unit of work) */
  let overall = 0;
  /** the figure the events carry on the passes' basis: never decreasing */
  let shown = 0;
  const eta = new EtaTracker(plan, prior);
  /** the bar on the time basis (never decreasing) and, while a kind to come has no rate, on the passes' */
  let shownTime = 0;
  /** the last figure of time (an event outside the plan keeps it) */
  let lastTime: number | null = null;
  let last: ReturnType<EtaTracker['update']> = { phaseEtaSec: null, overallEtaSec: null };
  const emit = ctl.progress;
  return {
    signal: ctl.signal,
    rates: () => eta.measuredRates(),
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
      const t = now();
      if (inPlan) last = eta.update(t, at, p.step, p.of, overall);
      // what the bar shows: the share of the run's time once every kind of phase has a rate (its own or the prior's);
      // before, the share of forward passes (the finished points of a resumed sweep in it), marked as such
      const time = inPlan || at < 0 ? eta.timeFraction(overall, t) : lastTime;
      lastTime = time;
      // (the positional figure counts a done phase only once the run is past it: it is counted here from the start)
      const work = Math.min(1, overall + plan.reduce((s, q, i) => s + (q.done && i > at ? q.weight : 0), 0) / total);
      const onTime = time !== null || doneShare > 0;
      if (onTime) shownTime = Math.max(shownTime, time ?? doneShare, doneShare);
      shown = onTime ? shownTime : Math.max(shown, work);
      emit({ ...p, overall: shown, overallBasis: onTime ? 'time' : 'work', phases: labels, phaseIndex: Math.max(0, at), ...(doneBefore.length ? { phasesDone: doneBefore } : {}), etaSec: last.phaseEtaSec, overallEtaSec: last.overallEtaSec });
    },
  };
}
