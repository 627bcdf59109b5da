// The CLI's progress line says what the run monitor says (progress-line.ts): the run's share with its basis ("of its
// time"; "estimating…" while only the share of forward passes is known), ETAs not known yet as "estimating…", a p%
// sweep's phase by its label. Checked on the events of a real measure job through the CLI command.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { Engine } from '../engine/engine';
import { EXIT_TARGET_NOT_MET } from '../api/errors';
import type { JobProgressEvent } from '../api/domains/runs';
import { makeToyModel, toyModelSource } from '../../test/integration/metrics-toy-model';
import { measureCommand } from './measure';
import { ESTIMATING_WHY, progressLine } from './progress-line';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-progress-line-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const ev = (o: Partial<JobProgressEvent>): JobProgressEvent => ({ id: 'j', phase: 'search', step: 3, of: 10, tokensPerSec: 1234.4, etaSec: 12.4, ...o });

test('the line for each basis and for ETAs not known yet', () => {
  expect(progressLine(ev({ overall: 0.843, overallBasis: 'time', overallEtaSec: 20.2, phases: ['dense', 'search p=5%', 'final p=5%'], phaseIndex: 1 }))).toBe('[search p=5% 3/10] · 1234 tok/s · phase ETA 12 s · run 84% of its time, ETA 20 s');
  expect(progressLine(ev({ overall: 0.5, overallBasis: 'time', overallEtaSec: null, etaSec: null }))).toBe('[search 3/10] · 1234 tok/s · phase ETA estimating… · run 50% of its time, ETA estimating…');
  expect(progressLine(ev({ phase: 'dense', overall: 0.07, overallBasis: 'work', overallEtaSec: null, etaSec: 4 }))).toBe('[dense 3/10] · 1234 tok/s · phase ETA 4 s · run: estimating… (7% of its forward passes done), ETA estimating…');
  expect(progressLine(ev({ phase: 'dense', overall: 0.07, overallBasis: 'work', overallEtaSec: null }), true)).toContain(`(7% of its forward passes done; ${ESTIMATING_WHY})`);
  // an event outside the plan (the execution plan's announcement) by its own name; an engine without the run's figure
  expect(progressLine(ev({ phase: 'plan', step: 0, of: 0, message: 'streamed: 4 blocks', overall: 0, overallBasis: 'work', phases: ['dense'], phaseIndex: 0 }))).toMatch(/^\[plan\] · .* · streamed: 4 blocks$/);
  expect(progressLine(ev({}))).toBe('[search 3/10] · 1234 tok/s · phase ETA 12 s');
});

test('a measure job through the CLI: each line says the basis of the event it shows, the reason for "estimating" once', async () => {
  const model = makeToyModel({ seed: 3, vocab: 20, d: 8, f: 16, layers: 2, gated: true, activation: 'silu' });
  const src = toyModelSource(model);
  const text = path.join(dir, 'eval.txt');
  fs.writeFileSync(text, 'the quick brown fox jumps over the lazy dog; '.repeat(40));
  const engine = new Engine({ paths: { userData: path.join(dir, 'ud'), cache: path.join(dir, 'cache') }, log: { info() {}, warn() {}, error() {} } });
  engine.ctx.services.set('runs.models', src);
  const events: JobProgressEvent[] = [];
  engine.onEvent((e, p) => e === 'job.progress' && events.push(p as JobProgressEvent));
  const lines: string[] = [];
  const write = process.stderr.write;
  const log = console.log;
  process.stderr.write = ((m: string) => (lines.push(...m.split('\n').filter((l) => l.startsWith('['))), true)) as typeof process.stderr.write;
  console.log = () => undefined;
  let rc: number;
  try {
    rc = await measureCommand.run(['/models/toy', '--data', text, '--p', '5', '--tokens', '480', '--seq-len', '12', '--batch', '4', '--state-dir', path.join(dir, 'state')], engine);
  } finally {
    process.stderr.write = write;
    console.log = log;
    await engine.dispose();
  }
  expect([0, EXIT_TARGET_NOT_MET]).toContain(rc); // measured to its end (the toy model may not meet p)
  expect(lines).toHaveLength(events.length);
  const work = events.flatMap((e, i) => (e.overallBasis === 'work' ? [i] : []));
  const time = events.flatMap((e, i) => (e.overallBasis === 'time' ? [i] : []));
  // a fresh engine has no rate for the search during the dense pass: both kinds of line occur
  expect(work.length).toBeGreaterThan(0);
  expect(time.length).toBeGreaterThan(0);
  for (const i of work) expect(lines[i]).toContain(`run: estimating… (${(100 * events[i].overall!).toFixed(0)}% of its forward passes done`);
  for (const i of time) expect(lines[i]).toContain(`run ${(100 * events[i].overall!).toFixed(0)}% of its time, ETA `);
  expect(lines.filter((l) => l.includes(ESTIMATING_WHY))).toEqual([lines[work[0]]]);
  // an ETA not known yet is said, not left out
  for (const [i, e] of events.entries()) if (e.etaSec === null) expect(lines[i]).toContain('phase ETA estimating…');
});
