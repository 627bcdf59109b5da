// What the engine-level integration tests (lab session, p% sweep, provenance) set up the same way: an in-process
// Engine with a home of its own that remembers each finished job, a text of numbered lines to measure on, and a tiny
// llama checkpoint with that text and a small CPU measurement config.
import fs from 'node:fs';
import path from 'node:path';
import { Engine } from '../../main/engine/engine';
import type { JobFinishedEvent } from '../../main/api/domains/runs';
import { writeTinyCheckpoint, type TinyOptions } from '../../main/checkpoint/testing/tiny';

/** An Engine whose user data and cache live under `home`; `finished(id)` resolves with the job's finished event,
 * also when the job finished before the call. */
export function testEngine(home: string): { e: Engine; finished: (id: string) => Promise<JobFinishedEvent> } {
  const e = new Engine({ paths: { userData: home, cache: path.join(home, 'cache') }, log: { info() {}, warn() {}, error() {} } });
  const done = new Map<string, JobFinishedEvent>();
  e.onEvent((ev, p) => ev === 'job.finished' && done.set((p as JobFinishedEvent).id, p as JobFinishedEvent));
  const finished = (id: string) =>
    new Promise<JobFinishedEvent>((resolve) => {
      const poll = () => (done.has(id) ? resolve(done.get(id)!) : setTimeout(poll, 5));
      poll();
    });
  return { e, finished };
}

/** `lines` numbered lines of plain text (a few tokens each for the tiny models' byte tokenizer) */
export function ferryText(lines: number): string {
  return Array.from({ length: lines }, (_, i) => `Line ${i}: the ferry left at ${(i * 13) % 60} past the hour.\n`).join('');
}

/** A tiny llama at tmp/models/<name>, 160 lines of ferryText at tmp/eval.txt and a CETT-PPL measurement config of
 * 256 tokens (8 sequences of 32, batches of 4, tolerance 1e-2) on the CPU. */
export function tinyMeasureSetup(tmp: string, name: string, model: TinyOptions) {
  const ck = writeTinyCheckpoint(path.join(tmp, 'models', name), 'llama', { hidden: 32, layers: 2, ...model });
  const data = path.join(tmp, 'eval.txt');
  fs.writeFileSync(data, ferryText(160));
  const base = { kind: 'measure' as const, checkpoint: ck, data, tokens: 256, seqLen: 32, batch: 4, tol: 1e-2, provider: 'cpu' as const };
  return { ck, data, base };
}
