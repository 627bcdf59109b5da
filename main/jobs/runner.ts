/**
 * The job queue's runner: starts long work in the background, reports progress, cancels at once (the job ends
 * cancelled when the cancel comes; the work, told by its AbortSignal, stops at its next check: between forward calls
 * in metrics/control.ts, after a graph build or session creation in main/inference), persists every completed step
 * through a JobPersistence so a killed or cancelled run resumes from the last completed step.
 */
import { randomUUID } from 'node:crypto';
import { LabError, toErrorPayload } from '../api/errors';
import type { JobFinishedEvent, JobInfo, JobProgressEvent } from '../api/domains/runs';
import type { Progress, RunControl } from '../metrics/control';
import type { JobPersistence } from './persistence';
import { checkInputs, hashInputs, relocatedInputs } from './inputs';
import { acquireRun, type HeldRun } from './run-lock';
import { describeConfig, type LabelConfig } from '../../common/run-label';

/** The job's label from its config (a run config), or its kind for anything else. */
function labelOf(kind: string, config: unknown): string {
  const c = config as LabelConfig | null;
  return c && typeof c === 'object' && (c.kind === 'measure' || c.kind === 'measure-series') ? describeConfig(c) : kind;
}

export interface JobHooks<S> {
  resume?: S;
  onStep: (state: S) => Promise<void>;
  /** the children a resumed job saved (onChild), in index order */
  children?: unknown[];
  /** saves child `index` of the result once, as it finishes (JobPersistence.saveChild): a p% sweep's point */
  onChild?: (index: number, result: unknown) => Promise<void>;
}

export type JobWork<S = unknown> = (ctl: RunControl, hooks: JobHooks<S>) => Promise<unknown>;

export interface JobEvents {
  progress(e: JobProgressEvent): void;
  finished(e: JobFinishedEvent): void;
}

interface Active {
  info: JobInfo;
  abort: AbortController;
  done: Promise<JobFinishedEvent>;
}

const cancelledJob = (id: string) => new LabError('CANCELLED', `run ${id} was cancelled`);

/**
 * Rejects with `error()` when `signal` fires (never resolves): raced against the work, it answers a cancel at once while
 * the work unwinds on its own. Also the cancellable requests' (main/engine/cancellable.ts).
 */
export function whenAborted(signal: AbortSignal, error: () => Error): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(error());
    else signal.addEventListener('abort', () => reject(error()), { once: true });
  });
}

export class JobRunner {
  private active = new Map<string, Active>();

  constructor(
    private readonly store: JobPersistence,
    private readonly events: JobEvents,
  ) {}

  /**
   * Starts work now; with `resumeId`, continues that job from its saved state. Returns the job id at once, and the
   * stale locks of killed processes cleared in its job-state folder on the way (run-lock.ts), in words.
   */
  async start(kind: string, config: unknown, work: JobWork, resumeId?: string): Promise<{ id: string; done: Promise<JobFinishedEvent>; notices: string[] }> {
    // the run is this job's from here, before any await: a second job of this process writing it gets BUSY (run-lock.ts)
    const held = resumeId ? acquireRun(this.store.where(resumeId), resumeId, resumeId) : undefined;
    try {
      return await this.begin(kind, config, work, resumeId, held);
    } catch (e) {
      held?.release();
      throw e;
    }
  }

  private async begin(kind: string, config: unknown, work: JobWork, resumeId: string | undefined, held: HeldRun | undefined): Promise<{ id: string; done: Promise<JobFinishedEvent>; notices: string[] }> {
    let id: string;
    let resume: unknown;
    let children: unknown[] | undefined;
    /** a resumed job's first start (the monitor shows it, and the resume time beside it) */
    let firstStart: string | undefined;
    if (resumeId) {
      const stored = await this.store.load(resumeId);
      if (!stored) throw new LabError('NOT_FOUND', `no saved job ${resumeId} to resume`);
      if (stored.status === 'completed') throw new LabError('BAD_REQUEST', `job ${resumeId} has completed already`);
      // the same configuration, or the same one with its files at new places (a relocated session): then the files
      // there must be the very bytes the run started on
      const moved = relocatedInputs(stored.config, config, stored.inputs);
      if (JSON.stringify(stored.config) !== JSON.stringify(config) && !moved)
        throw new LabError('BAD_REQUEST', `job ${resumeId} was started with a different configuration; start a new run instead`);
      if (this.active.has(resumeId)) throw new LabError('BUSY', `job ${resumeId} is running`);
      await checkInputs(resumeId, moved ?? stored.inputs); // the saved steps belong to those bytes
      id = resumeId;
      firstStart = stored.createdAt;
      resume = stored.state;
      children = stored.children;
    } else {
      id = `${kind}-${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID().slice(0, 8)}`;
    }
    // (a resumed run is held since start(); a new one from here, before any await)
    const { release, notices } = held ?? acquireRun(this.store.where(id), id, id);
    const abort = new AbortController();
    const now = new Date().toISOString();
    const info: JobInfo = { id, kind, label: labelOf(kind, config), startedAt: firstStart ?? now, ...(firstStart ? { resumedAt: now } : {}), phase: 'start', step: 0, of: 1, tokensPerSec: 0, etaSec: null };
    const ctl: RunControl = {
      signal: abort.signal,
      progress: (p: Progress) => {
        if (abort.signal.aborted) return; // the job has ended for the user: work still unwinding reports nothing
        Object.assign(info, { phase: p.phase, step: p.step, of: p.of, tokensPerSec: p.tokensPerSec, etaSec: p.etaSec }, p.overall !== undefined ? { overall: p.overall, overallBasis: p.overallBasis, phases: p.phases, phaseIndex: p.phaseIndex, overallEtaSec: p.overallEtaSec, phasesDone: p.phasesDone } : {});
        this.events.progress({ id, ...p });
      },
    };
    // a new run is recorded inside the job: hashing its inputs reads a large checkpoint through once (in a worker,
    // main/checkpoint/open.ts), and meanwhile the job is listed and can be cancelled (issue 19)
    let recorded = !!resumeId;
    const done = (async (): Promise<JobFinishedEvent> => {
      let ev: JobFinishedEvent;
      try {
        if (!recorded) {
          const inputs = await hashInputs(config, abort.signal);
          if (abort.signal.aborted) throw new LabError('CANCELLED', `run ${id} was cancelled before it started`);
          await this.store.create(id, kind, config, inputs);
          recorded = true;
        }
        // a cancel ends the job at once, even while the work waits on a step that cannot be interrupted (a graph build, an
        // onnxruntime session being created): the work is left to unwind on its own (it releases what it opened), and
        // from the cancel on it writes nothing more: its steps are refused, the last saved one is where a resume starts
        let saving: Promise<unknown> = Promise.resolve();
        const write = (save: () => Promise<void>): Promise<void> => {
          if (abort.signal.aborted) return Promise.reject(cancelledJob(id));
          const p = save();
          saving = p.catch(() => undefined);
          return p;
        };
        const onStep = (s: unknown) => write(() => this.store.saveStep(id, s));
        const onChild = (index: number, r: unknown) => write(() => this.store.saveChild(id, index, r));
        const working = work(ctl, { resume, onStep, children, onChild });
        let result: unknown;
        try {
          result = await Promise.race([working, whenAborted(abort.signal, () => cancelledJob(id))]);
        } catch (e) {
          working.catch(() => undefined); // settles later (CANCELLED at its next check): nothing to report
          await saving; // a step being saved when the cancel came is kept whole
          throw e;
        }
        await this.store.finish(id, 'completed', { result });
        ev = { id, status: 'completed', result };
      } catch (err) {
        const e = toErrorPayload(err);
        const status = e.code === 'CANCELLED' ? 'cancelled' : 'failed';
        if (recorded) await this.store.finish(id, status, { error: e.message }).catch(() => undefined);
        ev = { id, status, error: { code: e.code, message: e.message, ...(e.reason ? { reason: e.reason } : {}) } };
      } finally {
        this.active.delete(id);
        release();
      }
      this.events.finished(ev);
      return ev;
    })();
    this.active.set(id, { info, abort, done });
    return { id, done, notices };
  }

  cancel(id: string): boolean {
    const a = this.active.get(id);
    if (!a) return false;
    a.abort.abort();
    return true;
  }

  list(): JobInfo[] {
    return [...this.active.values()].map((a) => ({ ...a.info }));
  }
}
