import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Meter } from '../metrics/control';
import { JsonFilePersistence } from './persistence';
import { JobRunner, type JobWork } from './runner';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-'));

/** a job of 6 steps; each step saves {done: k}; `failAt` simulates a kill after that many steps */
function countingJob(log: number[], failAt?: number): JobWork<{ done: number }> {
  return async (ctl, hooks) => {
    const meter = new Meter(ctl);
    meter.enter('count', 6);
    for (let k = hooks.resume?.done ?? 0; k < 6; k++) {
      await new Promise((r) => setTimeout(r, 5));
      meter.pass(10);
      if (failAt !== undefined && k === failAt) throw new Error('killed');
      log.push(k);
      await hooks.onStep({ done: k + 1 });
      meter.step();
    }
    return { total: log.length };
  };
}

describe('JobRunner', () => {
  it('emits progress, persists steps and resumes from the last completed step', async () => {
    const store = new JsonFilePersistence(tmp());
    const progress: number[] = [];
    const finished: string[] = [];
    const jr = new JobRunner(store, { progress: (e) => progress.push(e.step), finished: (e) => finished.push(e.status) });
    const log: number[] = [];
    const first = await jr.start('count', { n: 6 }, countingJob(log, 3) as JobWork);
    const ev = await first.done;
    expect(ev.status).toBe('failed');
    expect(log).toEqual([0, 1, 2]);
    expect((await store.load(first.id))!.state).toEqual({ done: 3 });
    await expect(jr.start('count', { n: 7 }, countingJob(log) as JobWork, first.id)).rejects.toThrow(/different configuration/);
    const createdAt = (await store.load(first.id))!.createdAt;
    const again = await jr.start('count', { n: 6 }, countingJob(log) as JobWork, first.id);
    // the resumed job keeps the run's first start, and says when it was resumed (the monitor shows both)
    const info = jr.list().find((j) => j.id === first.id)!;
    expect(info.startedAt).toBe(createdAt);
    expect(Date.parse(info.resumedAt!)).toBeGreaterThanOrEqual(Date.parse(createdAt));
    expect((await again.done).status).toBe('completed');
    expect(log).toEqual([0, 1, 2, 3, 4, 5]);
    expect(progress.length).toBeGreaterThan(5);
    expect(finished).toEqual(['failed', 'completed']);
    expect(await store.listUnfinished()).toEqual([]);
  });

  it('cancels within one step and records the cancellation', async () => {
    const store = new JsonFilePersistence(tmp());
    const jr = new JobRunner(store, { progress: () => {}, finished: () => {} });
    const log: number[] = [];
    const { id, done } = await jr.start('count', {}, countingJob(log) as JobWork);
    expect(jr.list().map((j) => j.id)).toEqual([id]);
    const t0 = Date.now();
    setTimeout(() => jr.cancel(id), 12);
    const ev = await done;
    expect(ev.status).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(log.length).toBeLessThan(6);
    expect((await store.load(id))!.status).toBe('cancelled');
    expect(jr.list()).toEqual([]);
  });

  it('a damaged job file is a clear error', async () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'x.job.json'), '{nope');
    await expect(new JsonFilePersistence(dir).load('x')).rejects.toThrow(/x\.job\.json: cannot be read as JSON/);
    await expect(new JsonFilePersistence(dir).load('../evil')).rejects.toThrow(/not a safe file name/);
  });
});
