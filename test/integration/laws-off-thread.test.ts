// Issue 19 (main/laws/off-thread.ts): large 'laws' requests run in the laws worker thread. The answers and the
// errors (code, message naming the file and line) are the same on and off the thread, and while a large points file
// (made here, deleted after) is imported the engine answers another request and its event loop keeps turning.
import { afterAll, expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../main/engine/engine';
import { MAX_LAW_POINTS } from '../../main/api/domains/laws';
import { lawsGoesOffThread, OFF_THREAD_POINTS_BYTES, runLaws } from '../../main/laws/off-thread';
import { workerScriptFor } from '../../main/base/worker-script';
import { alongside } from '../helpers/event-loop';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-laws-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** a sparsity–data curve per series: A = A0 + c·D^-0.3, with a little deterministic noise */
function rows(n: number, series = 2): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = i % series;
    const D = 1e9 * (1 + Math.floor(i / series));
    out.push(`${D},${(0.1 + 0.05 * s + 2 * D ** -0.3 + 1e-4 * Math.sin(i)).toFixed(6)},s${s},${1e8 * (s + 1)}`);
  }
  return out;
}
const csv = (n: number) => ['tokens,activation_ratio,series,params', ...rows(n)].join('\n') + '\n';

test('the laws worker script resolves to the sources here and next to the bundle in a bundle (asar: unpacked)', () => {
  expect(fs.existsSync(workerScriptFor(new URL('../../main/laws/off-thread.ts', import.meta.url).href, 'worker-dev.mjs', 'laws-worker.cjs'))).toBe(true);
  expect(workerScriptFor('file:///opt/Lab/resources/app.asar/dist-electron/engine-host.cjs', 'worker-dev.mjs', 'laws-worker.cjs')).toBe('/opt/Lab/resources/app.asar.unpacked/dist-electron/laws-worker.cjs');
});

test('importPoints (CSV and JSON) and a fit with bootstrap and a fixed seed give the same answer on and off the thread', async () => {
  const c = path.join(tmp, 'p.csv');
  fs.writeFileSync(c, csv(40));
  const j = path.join(tmp, 'p.json');
  const pts = (await runLaws('laws.importPoints', { path: c }, 'never')).points;
  fs.writeFileSync(j, JSON.stringify({ points: pts.map(({ source: _s, ...p }) => p) }));
  for (const file of [c, j]) {
    const here = await runLaws('laws.importPoints', { path: file }, 'never');
    const there = await runLaws('laws.importPoints', { path: file }, 'always');
    expect(there.points).toHaveLength(40);
    expect(there).toEqual(here);
  }
  const req = { points: pts, bootstrap: 50, seed: 7 };
  const fitHere = await runLaws('laws.fit', req, 'never');
  const fitThere = await runLaws('laws.fit', req, 'always');
  expect(fitThere.fits).toHaveLength(2);
  expect(fitThere.fits[0].A0Low).toBeLessThan(fitThere.fits[0].A0High!);
  expect(fitThere).toEqual(fitHere);
  const scaleThere = await runLaws('laws.limitVsScale', req, 'always');
  expect(scaleThere).toEqual(await runLaws('laws.limitVsScale', req, 'never'));
  // auto: a small file and a small fit stay here, a large file or many points × resamples go to the worker
  expect(lawsGoesOffThread('laws.importPoints', { path: c })).toBe(false);
  expect(lawsGoesOffThread('laws.fit', req)).toBe(false);
  expect(lawsGoesOffThread('laws.fit', { points: Array.from({ length: 200 }, () => pts[0]) })).toBe(true); // default 200 resamples
});

test('hostile points files give the same LabError on and off the thread', async () => {
  const missing = path.join(tmp, 'missing-col.csv');
  fs.writeFileSync(missing, 'tokens,series\n1e9,a\n');
  const tooMany = path.join(tmp, 'too-many.csv');
  fs.writeFileSync(tooMany, csv(MAX_LAW_POINTS + 1));
  const badRow = path.join(tmp, 'bad-row.csv');
  fs.writeFileSync(badRow, 'tokens,activation_ratio\n1e9,0.1\n2e9,abc\n');
  for (const [file, re] of [
    [missing, /missing-col\.csv:1: missing column 'activation_ratio'/],
    [tooMany, new RegExp(`too-many\\.csv has ${MAX_LAW_POINTS + 1} rows`)],
    [badRow, /bad-row\.csv:3: column activation_ratio, value 'abc'/],
    [path.join(tmp, 'absent.csv'), /absent\.csv does not exist/],
  ] as const) {
    const here = await runLaws('laws.importPoints', { path: file }, 'never').catch((e: unknown) => e);
    const there = await runLaws('laws.importPoints', { path: file }, 'always').catch((e: unknown) => e);
    expect(here).toMatchObject({ code: expect.stringMatching(/BAD_DATA|NOT_FOUND/), message: expect.stringMatching(re) });
    expect(there).toMatchObject({ code: (here as { code: string }).code, message: (here as Error).message });
    expect(there).toBeInstanceOf(Error);
  }
  // through the engine, the too-many file goes to the worker (auto) and still says so
  expect(lawsGoesOffThread('laws.importPoints', { path: tooMany })).toBe(true);
});

test('while a large points file is imported, the engine answers another request and its event loop keeps turning', async () => {
  const big = path.join(tmp, 'big.csv');
  fs.writeFileSync(big, csv(200_000));
  expect(fs.statSync(big).size).toBeGreaterThan(OFF_THREAD_POINTS_BYTES);
  const e = new Engine({ paths: { userData: path.join(tmp, 'ud'), cache: path.join(tmp, 'cache') }, log: { info() {}, warn() {}, error() {} } });
  // the engine's first answers (its lazy imports of the domains, compiled on this thread) before anything is timed:
  // beside the suite on a loaded machine they were a gap of their own, not the import's
  await e.call('sessions.recent', {});
  fs.writeFileSync(path.join(tmp, 'warm.csv'), csv(10));
  await e.call('laws.importPoints', { path: path.join(tmp, 'warm.csv') });
  const { result: r, doneMs, otherMs, stall } = await alongside(() => e.call('laws.importPoints', { path: big }), () => e.call('sessions.recent', {}));
  expect((r as { points: unknown[] }).points).toHaveLength(200_000);
  expect(otherMs).toBeGreaterThan(0);
  expect(otherMs).toBeLessThan(doneMs); // answered while the import was still running
  expect(stall).toBeLessThan(doneMs / 3);
  console.log(`import ${doneMs.toFixed(0)} ms, other answered at ${otherMs.toFixed(0)} ms, longest stall ${stall.toFixed(0)} ms`);
  fs.rmSync(big);
  await e.dispose();
});
