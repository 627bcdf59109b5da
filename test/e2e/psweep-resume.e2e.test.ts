// Issue 18: a p% sweep killed with SIGKILL mid-run (a real engine process, test/integration/fixtures/psweep-child.ts)
// shows as interrupted in the session view with Resume; resuming it from there finishes it with one point per p, the
// first point as the killed process saved it.
import { expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, screenshot, useLab } from './harness';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';
import { SessionStore } from '../../main/store/index';
import { outerSteps } from '../../main/jobs/progress';

const PS = [1, 5, 10];
let firstPoint: unknown;
/** when the sweep first started (the session's record of it) */
let firstStart = '';
const lab = useLab('slab-psweep-resume-e2e-', (work) => {
  const ck = writeTinyCheckpoint(path.join(work, 'models', 'relu-tiny'), 'llama', { activation: 'relu', hidden: 48, layers: 2, seed: 17 });
  const data = path.join(work, 'eval.txt');
  fs.writeFileSync(data, Array.from({ length: 300 }, (_, i) => `Entry ${i}: the mill ground ${(i * 29) % 97} sacks before noon.\n`).join(''));
  const session = path.join(work, 'lab.sparsitylab');
  SessionStore.create(session).close();
  const config = { kind: 'measure', checkpoint: ck, data, tokens: 1024, seqLen: 64, batch: 4, tol: 1e-3, provider: 'cpu', sweepP: PS };
  // killed after p = 1% finished and 3 outer steps of p = 5%
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/run-ts'), path.join(ROOT, 'test/integration/fixtures/psweep-child.ts'), session, path.join(work, 'home-kill'), String(outerSteps(1e-3) + 4), JSON.stringify(config)], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (r.signal !== 'SIGKILL') throw new Error(`the sweep was not killed where planned: ${r.status} ${r.stderr}`);
  const s = SessionStore.open(session, { readOnly: true });
  firstPoint = s.getResult(`${s.listRuns({ parentId: null })[0].id}#0`); // the finished point, saved as its child run
  firstStart = s.listRuns({ parentId: null })[0].createdAt;
  s.close();
  return { session, viewport: { width: 1280, height: 800 } };
});

test('an interrupted p% sweep resumes from the session view and finishes with its saved point', async () => {
  const { page, server, errors } = lab;
  await page.goto(`${server.url}#/session`);
  const row = page.getByTestId('run-row').filter({ hasText: 'interrupted' });
  await row.waitFor({ timeout: 30_000 });
  expect(await row.textContent()).toMatch(/CETT-PPL-p% sweep ×3/); // what it sweeps, from its config: one point is recorded so far
  await screenshot(page, 'psweep-interrupted-light');
  await page.getByTestId('theme-toggle').click();
  await screenshot(page, 'psweep-interrupted-dark');
  await page.getByTestId('theme-toggle').click();
  await row.getByTestId('run-resume').click();
  const job = page.getByTestId('job').first();
  await job.waitFor({ timeout: 30_000 });
  // while it runs: the finished point's phases are done from the start (the dense pass runs again first), and the job
  // says when it first started and when it was resumed
  const states: string[] = [];
  /** the bar's figure while it runs: from the first event at the finished point's share or more, never back */
  const bars: string[] = [];
  let shot = false;
  await expect
    .poll(
      async () => {
        const status = (await job.getByTestId('job-status').textContent()) ?? '';
        const phases = await job.getByTestId('job-phase').evaluateAll((ls) => ls.map((l) => `${l.textContent?.replace(/^[✓▸·]/, '').replace(/\d+\/\d+$/, '').trim()}:${l.getAttribute('data-state')}`));
        if (phases.length) {
          states.push(phases.join(' '));
          bars.push((await job.getByTestId('job-progress-pct').textContent()) ?? '');
        }
        if (!shot && phases.some((p) => p === 'dense:now')) {
          shot = true;
          await screenshot(page, 'psweep-resumed-running');
        }
        return status;
      },
      { timeout: 120_000, interval: 100 },
    )
    .toMatch(/completed/);
  expect(states.length, 'no progress seen while the resumed sweep ran').toBeGreaterThan(0);
  for (const s of states) expect(s).toMatch(/search p=1%:done final p=1%:done/);
  const pcts = bars.map((b) => Number(b.replace(/%$/, '')));
  expect(bars.every((b) => /^\d+\.\d%$/.test(b)), `the bar said ${bars.join(' ')}`).toBe(true);
  const S = outerSteps(1e-3); // one point of three is (S + 1) of the 1 + 3 (S + 1) passes
  expect(pcts[0]).toBeGreaterThanOrEqual(Math.floor((1000 * (S + 1)) / (1 + 3 * (S + 1))) / 10);
  expect(pcts).toEqual([...pcts].sort((a, b) => a - b));
  expect(await job.getByTestId('job-started').getAttribute('data-at')).toBe(firstStart);
  const resumedAt = (await job.getByTestId('job-resumed').getAttribute('data-at')) ?? '';
  expect(Date.parse(resumedAt)).toBeGreaterThan(Date.parse(firstStart));
  const table = job.getByTestId('sweep-table');
  await table.waitFor({ timeout: 10_000 });
  expect((await table.locator('tbody tr').allTextContents()).map((t) => t.match(/^\d+%/)?.[0])).toEqual(PS.map((p) => `${p}%`));
  await screenshot(page, 'psweep-resumed-light');

  // the session: the sweep completed with one child per p; the first is the saved one, not measured again
  const s = SessionStore.open(path.join(lab.work, 'lab.sparsitylab'), { readOnly: true });
  try {
    const parent = s.listRuns({ parentId: null })[0];
    expect(parent.status).toBe('completed');
    const kids = s.listRuns().filter((r) => r.parentId === parent.id).sort((a, b) => a.id.localeCompare(b.id));
    expect(kids.map((k) => [k.p, k.status])).toEqual(PS.map((p) => [p, 'completed']));
    // (the store keeps large arrays in float32: the scalars and the killed process's own timings say it is the same)
    const pick = (r: unknown) => {
      const x = r as Record<string, unknown>;
      return [x.p, x.cett, x.activationRatio, x.pplRatio, x.pplSparse, x.forwardPasses, x.timingsMs];
    };
    expect(pick(s.getResult(kids[0].id))).toEqual(pick(firstPoint));
  } finally {
    s.close();
  }
  expect(errors).toEqual([]);
}, 180_000);
