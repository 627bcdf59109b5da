/**
 * The files a run reads, by content: each checkpoint's content hash (main/checkpoint/hash.ts) and the evaluation
 * text's sha256, taken when the run starts. A resume re-checks them and refuses when a file changed, because the
 * saved search state (and the steps already done) belong to the old bytes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';
import { inspectCheckpoint } from '../checkpoint/index';
import { checkRegularFile } from '../base/regular-file';

import { fileHashAsync, type InputRef, type RunInputs } from '../base/file-hash';

interface ConfigLike {
  checkpoint?: string;
  checkpoints?: { path: string }[];
  data?: string;
}

/**
 * A checkpoint's content hash, or null when there is none to read at that path (another model source decides what the
 * path means: tests); `signal` abandons it (CANCELLED is thrown). A checkpoint that is there but that its reader refuses
 * (truncated, damaged, unsupported) throws that error: the job then fails before it is recorded, as the CLI refuses it
 * before a job starts (a job file or session run was recorded for it, only to fail a moment later on the same file).
 */
export async function checkpointHash(p: string, signal?: AbortSignal): Promise<string | null> {
  try {
    return (await inspectCheckpoint(p, { signal })).contentHash ?? null;
  } catch (e) {
    if (signal?.aborted) throw e;
    if (e instanceof LabError && (e.code === 'BAD_CHECKPOINT' || e.code === 'UNSUPPORTED') && fs.existsSync(p)) throw e;
    return null;
  }
}

export function inputPaths(config: unknown): { checkpoints: string[]; data?: string } {
  const c = (config ?? {}) as ConfigLike;
  const checkpoints = c.checkpoint ? [c.checkpoint] : (c.checkpoints ?? []).map((x) => x.path);
  return { checkpoints: checkpoints.map((p) => path.resolve(p)), data: c.data ? path.resolve(c.data) : undefined };
}

/**
 * Before a job starts: every file it reads exists, so a wrong path is the answer to runs.start (the UI shows it)
 * instead of a job that is reported started and fails a moment later. `checkpoints: false` when another model
 * source decides what a checkpoint path means (tests).
 */
export function requireInputs(config: unknown, opts: { checkpoints?: boolean } = {}): void {
  const p = inputPaths(config);
  if (opts.checkpoints !== false)
    for (const ck of p.checkpoints) if (!fs.existsSync(ck)) throw new LabError('NOT_FOUND', `checkpoint ${ck}: no such file or folder (moved? re-point it in the session)`);
  if (p.data && !fs.existsSync(p.data)) throw new LabError('NOT_FOUND', `evaluation text ${p.data}: no such file`);
  // a FIFO would block the hash's read (and a device never end it) before the job could say anything; a folder is
  // named by the text's reader (main/metrics/data.ts)
  if (p.data && !fs.statSync(p.data).isDirectory()) checkRegularFile(p.data, 'a text file (the evaluation text)', (m) => new LabError('BAD_DATA', m));
}

export async function hashInputs(config: unknown, signal?: AbortSignal): Promise<RunInputs> {
  const p = inputPaths(config);
  const checkpoints: InputRef[] = [];
  for (const ck of p.checkpoints) checkpoints.push({ path: ck, hash: await checkpointHash(ck, signal) });
  return { checkpoints, data: p.data ? { path: p.data, hash: (await fileHashAsync(p.data)) ?? null } : undefined };
}

/**
 * When `config` is `stored` with only its input paths changed (same checkpoint count and order), the recorded
 * inputs at the new paths (their hashes are then checked there); otherwise undefined. Without recorded hashes a
 * move cannot be verified: undefined.
 */
export function relocatedInputs(stored: unknown, config: unknown, recorded: RunInputs | undefined): RunInputs | undefined {
  if (!recorded) return undefined;
  const strip = (c: unknown) => {
    const { checkpoint: _c, checkpoints, data: _d, ...rest } = (c ?? {}) as ConfigLike & { checkpoints?: Record<string, unknown>[] };
    return JSON.stringify({ ...rest, checkpoints: checkpoints?.map(({ path: _p, ...x }) => x) });
  };
  if (strip(stored) !== strip(config)) return undefined;
  const was = inputPaths(stored);
  const now = inputPaths(config);
  if (was.checkpoints.length !== now.checkpoints.length || !!was.data !== !!now.data || recorded.checkpoints.length !== now.checkpoints.length) return undefined;
  if (recorded.checkpoints.some((c, i) => !c.hash || c.path !== was.checkpoints[i]) || (recorded.data && (!recorded.data.hash || recorded.data.path !== was.data))) return undefined;
  return {
    checkpoints: recorded.checkpoints.map((c, i) => ({ path: now.checkpoints[i], hash: c.hash })),
    data: recorded.data && now.data ? { path: now.data, hash: recorded.data.hash } : recorded.data,
  };
}

/**
 * Refuses to resume run `id` when a file it read has other contents now (or is gone). Inputs whose hash was not
 * taken (null) are not checked.
 */
export async function checkInputs(id: string, recorded: RunInputs | undefined): Promise<void> {
  if (!recorded) return;
  const refuse = (what: string, file: string, was: string, now: string | null) => {
    throw new LabError(
      'BAD_REQUEST',
      `cannot resume run ${id}: the ${what} ${file} ${now === null ? 'cannot be read any more' : 'has changed since the run started'} (content hash was ${was.slice(0, 23)}…${now ? `, is ${now.slice(0, 23)}…` : ''}); restore that file or start a new run`,
    );
  };
  for (const ck of recorded.checkpoints ?? []) {
    if (!ck.hash) continue;
    const now = await checkpointHash(ck.path);
    if (now !== ck.hash) refuse('checkpoint', ck.path, ck.hash, now);
  }
  const d = recorded.data;
  if (d?.hash) {
    const now = (await fileHashAsync(d.path)) ?? null;
    if (now !== d.hash) refuse('evaluation text', d.path, d.hash, now);
  }
}
