/**
 * Requests a client can cancel (issue 19 "cancel works during every phase"): the pre-run estimate (`runs.estimate`)
 * and the `laws.*` requests take an optional `cancelId` the client chooses; `runs.cancel` / `laws.cancel` with that id
 * cancel it the way the job runner cancels a job (main/jobs/runner.ts): the work's AbortSignal fires, the work stops at
 * its next check (between the pilot's phases and forward calls, metrics/control.ts; a worker is terminated), and the
 * request is answered CANCELLED when the cancel comes, even while the work still unwinds (an onnxruntime session being
 * created cannot be interrupted: it is released when it arrives). Ids are per domain ('runs', 'laws'); an id that is in
 * use is refused (BUSY). Nothing is recorded for these requests: no job row, no state file.
 */
import { LabError } from '../api/errors';
import { whenAborted } from '../jobs/runner';
import type { EngineContext } from './context';

export type CancelDomain = 'runs' | 'laws';

interface Entry {
  abort: AbortController;
}

/** The engine's cancellable requests in flight, and the work of those answered but still unwinding. */
class Cancellables {
  readonly active = new Map<string, Entry>();
  /** every piece of work not yet settled (answered or not): dispose waits for them */
  readonly working = new Set<Promise<unknown>>();
  private readonly all = new Set<AbortController>();

  track(abort: AbortController, working: Promise<unknown>): void {
    this.all.add(abort);
    const settled = working.then(
      () => undefined,
      () => undefined,
    );
    this.working.add(settled);
    void settled.then(() => {
      this.working.delete(settled);
      this.all.delete(abort);
    });
  }

  /** The engine closes: everything still running is cancelled, and its unwinding waited for (files closed, staging removed). */
  async dispose(): Promise<void> {
    for (const a of this.all) a.abort();
    await Promise.all([...this.working]);
  }
}

function registry(ctx: EngineContext): Cancellables {
  let r = ctx.services.get('cancellable') as Cancellables | undefined;
  if (!r) ctx.services.set('cancellable', (r = new Cancellables()));
  return r;
}

const key = (domain: CancelDomain, id: string) => `${domain}:${id}`;

/**
 * Runs `work` with an AbortSignal that `cancelRequest(ctx, domain, cancelId)` fires; rejects CANCELLED ("`what` was
 * cancelled") at once when it does. Without a cancelId the work runs the same, cancelled only when the engine closes.
 */
export async function cancellable<T>(ctx: EngineContext, domain: CancelDomain, cancelId: string | undefined, what: string, work: (signal: AbortSignal) => Promise<T> | T): Promise<T> {
  const reg = registry(ctx);
  const k = cancelId === undefined ? undefined : key(domain, cancelId);
  if (k !== undefined && reg.active.has(k)) throw new LabError('BUSY', `a ${domain} request with cancelId '${cancelId}' is running already: give each request its own id`);
  const abort = new AbortController();
  if (k !== undefined) reg.active.set(k, { abort });
  const working = (async () => work(abort.signal))();
  reg.track(abort, working);
  try {
    return await Promise.race([working, whenAborted(abort.signal, () => new LabError('CANCELLED', `${what} was cancelled`))]);
  } finally {
    if (k !== undefined) reg.active.delete(k);
  }
}

/** Cancels the request of `domain` that carries `cancelId`; false when none runs (finished already, or never started). */
export function cancelRequest(ctx: EngineContext, domain: CancelDomain, cancelId: string): boolean {
  const e = registry(ctx).active.get(key(domain, cancelId));
  if (!e) return false;
  e.abort.abort();
  return true;
}

/** Settles once every cancellable request's work has unwound (tests: nothing is left writing). */
export function cancellablesIdle(ctx: EngineContext): Promise<void> {
  return Promise.all([...registry(ctx).working]).then(() => undefined);
}
