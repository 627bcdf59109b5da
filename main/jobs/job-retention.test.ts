// A job-state folder (~/.sparsity-lab/jobs) keeps what can still be used and lets the rest go (persistence.ts
// JOB_RETENTION, README "Job state"): every failed measure left its job file there for ever. Running jobs, locked ones
// and files that are not job records are never touched; failed/cancelled jobs that saved no step: the newest 20;
// other finished jobs: the last 30 days, and at least the newest 50.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { JOB_RETENTION, JsonFilePersistence, pruneJobFiles, type StoredJob } from './persistence';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-job-retention-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const DAY = 86_400_000;
const NOW = Date.parse('2026-12-05T00:00:00Z');

function job(dir: string, id: string, status: StoredJob['status'], ageDays: number, steps = 0): void {
  const t = new Date(NOW - ageDays * DAY).toISOString();
  const j: StoredJob = { id, kind: 'measure', config: {}, status, steps, createdAt: t, updatedAt: t, ...(status === 'failed' ? { error: 'BAD_DATA: x' } : {}) };
  fs.writeFileSync(path.join(dir, `${id}.job.json`), JSON.stringify(j));
}

test('the rule: unsaved failures keep the newest 20; other finished jobs 30 days or the newest 50; running, locked and unreadable files stay', () => {
  const dir = path.join(root, 'rule');
  fs.mkdirSync(dir);
  for (let i = 0; i < 25; i++) job(dir, `fail-${i}`, i % 5 === 0 ? 'cancelled' : 'failed', i / 10); // i = 0 newest
  for (let i = 0; i < 60; i++) job(dir, `done-${i}`, 'completed', 10 + i); // 10…69 days old
  job(dir, 'resumable', 'failed', 5, 7); // saved 7 steps: a resume continues it
  fs.writeFileSync(path.join(dir, 'resumable.child-0.json'), '{}');
  job(dir, 'sweep', 'cancelled', 6, 0); // a p% sweep's finished point saved as a child: resumable
  job(dir, 'old-resumable', 'failed', 400, 3); // resumable, but older than 30 days and beyond the newest 50
  fs.writeFileSync(path.join(dir, 'old-resumable.child-0.json'), '{}');
  fs.writeFileSync(path.join(dir, 'sweep.child-0.json'), '{}');
  job(dir, 'killed', 'running', 900);
  job(dir, 'held', 'failed', 900);
  fs.writeFileSync(path.join(dir, 'held.job.json.lock'), '{}');
  fs.writeFileSync(path.join(dir, 'damaged.job.json'), '{"id": ');
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
  const big = path.join(dir, 'big.job.json'); // a large old result: kept unread
  fs.writeFileSync(big, JSON.stringify({ id: 'big', kind: 'measure', config: {}, status: 'completed', steps: 9, createdAt: '2020-01-01T00:00:00Z', updatedAt: '2020-01-01T00:00:00Z', result: 'x'.repeat(17 * 2 ** 20) }));
  const removed = pruneJobFiles(dir, NOW);
  const fails = Array.from({ length: 25 }, (_, i) => `fail-${i}`);
  // done-0 … done-19 are younger than 30 days (10…29), done-20 … done-49 among the newest 50, done-50 … older and beyond
  const old = Array.from({ length: 60 }, (_, i) => `done-${i}`).slice(JOB_RETENTION.newest - 2); // 2 resumable ones are newer
  expect(removed.sort()).toEqual([...fails.slice(JOB_RETENTION.unsaved), ...old, 'old-resumable'].sort());
  const left = fs.readdirSync(dir);
  for (const id of removed) expect(left).not.toContain(`${id}.job.json`);
  expect(left).not.toContain('old-resumable.child-0.json');
  for (const f of ['big.job.json', 'killed.job.json', 'held.job.json', 'held.job.json.lock', 'damaged.job.json', 'notes.txt', 'resumable.job.json', 'resumable.child-0.json', 'sweep.job.json', 'sweep.child-0.json', 'fail-19.job.json', 'done-47.job.json'])
    expect(left).toContain(f);
  expect(pruneJobFiles(dir, NOW)).toEqual([]); // nothing more to do
});

test('a new job recorded in the folder applies the rule (the new job itself, running, stays); an old completed job\'s child files go with it', async () => {
  const dir = path.join(root, 'create');
  fs.mkdirSync(dir);
  for (let i = 0; i < 30; i++) job(dir, `fail-${i}`, 'failed', 1 + i);
  const p = new JsonFilePersistence(dir);
  await p.create('new-one', 'measure', { p: 1 });
  const left = fs.readdirSync(dir).sort();
  expect(left).toEqual(['new-one.job.json', ...Array.from({ length: 20 }, (_, i) => `fail-${i}.job.json`)].sort());
  expect((await p.load('new-one'))?.status).toBe('running');
});
