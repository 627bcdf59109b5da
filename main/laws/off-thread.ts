/**
 * Large 'laws' requests run in the laws worker thread (worker.ts) so the engine's event loop keeps answering other
 * requests: a points file of OFF_THREAD_POINTS_BYTES or more (a 64 MB CSV parses for seconds), a fit whose points ×
 * (bootstrap resamples + 1) reach OFF_THREAD_FIT_WORK. Small ones stay on the thread, where they take a fraction of a
 * second and a worker's start (≈ 0.3 s from the sources through tsx, less bundled) would cost more than it saves. The
 * response comes back by structured clone: 200k imported points cost the engine's thread ≈ 0.25 s to receive, against
 * ≈ 0.9 s to parse them there. The answer and the errors (LabError code and message, sent as a payload across the
 * thread boundary) are the same either way. A cancel (the request's signal: laws.cancel, main/engine/cancellable.ts)
 * terminates the worker, which holds no file open but the points file it reads and writes nothing, so nothing is left;
 * the requests on the thread are short by construction (that is what decides where they run) and are not interrupted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError, labErrorFrom, type ErrorPayload } from '../api/errors';
import type { ParsedRequestOf, ResponseOf } from '../api/contract';
import { workerScriptFor } from '../base/worker-script';
import { runWorkerThread } from '../base/worker-thread';
import { runLawsRequest, type LawsCommand } from './requests';

export const OFF_THREAD_POINTS_BYTES = 1 * 2 ** 20;
/** 40 points × 201 fits take ≈ 0.2 s here, 1000 × 201 ≈ 2.7 s (the 2-core dev machine, 2026-12-04) */
export const OFF_THREAD_FIT_WORK = 20_000;

/** Whether `auto` sends this request to the worker. */
export function lawsGoesOffThread<N extends LawsCommand>(name: N, req: ParsedRequestOf<N>): boolean {
  if (name === 'laws.importPoints') {
    try {
      return fs.statSync(path.resolve((req as ParsedRequestOf<'laws.importPoints'>).path)).size >= OFF_THREAD_POINTS_BYTES;
    } catch {
      return false; // a missing file: readPointsFile says so on the thread
    }
  }
  const r = req as { points?: unknown[]; limits?: unknown[]; bootstrap?: number };
  const n = r.points?.length ?? r.limits?.length ?? 0;
  return n * (Math.max(0, r.bootstrap ?? 200) + 1) >= OFF_THREAD_FIT_WORK;
}

/** each request in words, for its CANCELLED message */
export const LAWS_REQUEST_WORDS: Record<LawsCommand, string> = {
  'laws.fit': 'the fit',
  'laws.importPoints': 'the import of the points file',
  'laws.widthDepth': 'the width–depth fit',
  'laws.limitVsScale': 'the limit-vs-scale fit',
  'laws.convergence': 'the convergence fit',
};
const cancelled = (name: LawsCommand) => new LabError('CANCELLED', `${LAWS_REQUEST_WORDS[name]} was cancelled`);

/**
 * Runs a 'laws' request: on this thread or in the worker ('auto': by lawsGoesOffThread). `signal` cancels one in the
 * worker: the worker is terminated and the request rejects CANCELLED once it has exited.
 */
export async function runLaws<N extends LawsCommand>(name: N, request: ParsedRequestOf<N>, mode: 'auto' | 'always' | 'never' = 'auto', signal?: AbortSignal): Promise<ResponseOf<N>> {
  const { cancelId: _id, ...rest } = request as ParsedRequestOf<N> & { cancelId?: string };
  const req = rest as ParsedRequestOf<N>; // the computation's own fields
  if (signal?.aborted) throw cancelled(name);
  if (mode === 'never' || (mode === 'auto' && !lawsGoesOffThread(name, req))) return runLawsRequest(name, req);
  const reply = await runWorkerThread<{ ok: true; res: ResponseOf<N> }, { ok: false; error: ErrorPayload }>(workerScriptFor(import.meta.url, 'worker-dev.mjs', 'laws-worker.cjs'), { name, req }, {
    name: 'the laws worker',
    what: `running ${name}`,
    signal, // no interrupt flag: the worker holds no file but the points file it reads, so it is ended at once
    cancelled: () => cancelled(name),
    failed: (r) => labErrorFrom(r.error),
    internal: (m) => new LabError('INTERNAL', m),
  });
  return reply.res;
}
