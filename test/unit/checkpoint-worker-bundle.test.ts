// The checkpoint reader's worker thread in a bundle (issue 19): built with the Electron engine's esbuild options and the
// project's worker entry points (scripts/build.mjs, used by build-bench.mjs too), a bundled engine finds
// checkpoint-worker.cjs next to itself and opens a checkpoint in it with the same card as the sources give (laws-worker.cjs,
// graph-worker.cjs and inference-worker.cjs likewise: the same answers, the same graph bytes, the same forward bits);
// without the file it says so instead of hanging.
import { afterAll, expect, test } from 'vitest';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { openCheckpoint, summarize } from '../../main/checkpoint/index';
import { loadCheckpoint } from '../../main/checkpoint/load';
import { buildGraph } from '../../main/graph/recipe';
import { createRunner } from '../../main/inference/index';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';

const root = path.resolve(__dirname, '../..');
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-worker-bundle-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));
const run = promisify(execFile);

test('a bundled engine opens a checkpoint in checkpoint-worker.cjs beside it, with the same card as the sources', async () => {
  const { electronBuildOptions, workerEntryPoints } = (await import(path.join(root, 'scripts/build.mjs'))) as {
    electronBuildOptions: () => Record<string, unknown>;
    workerEntryPoints: Record<string, string>;
  };
  const common = { ...electronBuildOptions(), sourcemap: false, absWorkingDir: root, outdir: out, outExtension: { '.js': '.cjs' } };
  const probe = `import { openCheckpoint, summarize } from './main/checkpoint/index';
openCheckpoint(process.argv[2], { offThread: 'always' }).then((c) => process.stdout.write(JSON.stringify(summarize(c))), (e) => { process.stderr.write(e.code + ': ' + e.message); process.exitCode = 1; });`;
  await build({ ...common, stdin: { contents: probe, resolveDir: root, loader: 'ts', sourcefile: 'probe.ts' }, outdir: undefined, outfile: path.join(out, 'probe.cjs') });
  await build({ ...common, entryPoints: workerEntryPoints });
  expect(fs.existsSync(path.join(out, 'checkpoint-worker.cjs'))).toBe(true);

  const dir = writeTinyCheckpoint(path.join(out, 'tiny'), 'qwen2', { seed: 5, layers: 2 });
  const { stdout } = await run(process.execPath, [path.join(out, 'probe.cjs'), dir]);
  expect(JSON.parse(stdout)).toEqual(JSON.parse(JSON.stringify(summarize(await openCheckpoint(dir, { offThread: 'never' })))));

  // the laws worker (main/laws/off-thread.ts) is found beside the bundle the same way, its errors crossing as LabErrors
  const lawsProbe = `import { runLaws } from './main/laws/off-thread';
runLaws('laws.importPoints', { path: process.argv[2] }, 'always').then((r) => process.stdout.write(JSON.stringify(r)), (e) => { process.stderr.write(e.code + ': ' + e.message); process.exitCode = 1; });`;
  await build({ ...common, stdin: { contents: lawsProbe, resolveDir: root, loader: 'ts', sourcefile: 'laws-probe.ts' }, outdir: undefined, outfile: path.join(out, 'laws-probe.cjs') });
  const csv = path.join(out, 'points.csv');
  fs.writeFileSync(csv, 'tokens,activation_ratio\n1e9,0.1\n2e9,0.09\n');
  const laws = JSON.parse((await run(process.execPath, [path.join(out, 'laws-probe.cjs'), csv])).stdout) as { points: unknown[] };
  expect(laws.points).toEqual([{ tokens: 1e9, activationRatio: 0.1, source: 'points.csv:2' }, { tokens: 2e9, activationRatio: 0.09, source: 'points.csv:3' }]);
  fs.writeFileSync(csv, 'tokens\n1e9\n');
  const bad = await run(process.execPath, [path.join(out, 'laws-probe.cjs'), csv]).catch((e: { stderr: string }) => e);
  expect((bad as { stderr: string }).stderr).toMatch(/^BAD_DATA: points\.csv:1: missing column 'activation_ratio'/);

  // the graph worker (main/inference/graph-off-thread.ts): a graph built in graph-worker.cjs is the bytes built here
  const graphProbe = `import { createHash } from 'node:crypto';
import { loadCheckpoint } from './main/checkpoint/load';
import { runGraphJob } from './main/inference/graph-off-thread';
const recipe = { kind: 'decoder', options: { dtype: 'float16', mode: 'cett', capture: false, maxSeq: 32 } };
loadCheckpoint(process.argv[2]).then((c) => runGraphJob(c, { op: 'graph', recipe })).then((r) => process.stdout.write(createHash('sha256').update(r.graph).digest('hex')), (e) => { process.stderr.write(e.code + ': ' + e.message); process.exitCode = 1; });`;
  await build({ ...common, stdin: { contents: graphProbe, resolveDir: root, loader: 'ts', sourcefile: 'graph-probe.ts' }, outdir: undefined, outfile: path.join(out, 'graph-probe.cjs') });
  const here = buildGraph(await loadCheckpoint(dir), { kind: 'decoder', options: { dtype: 'float16', mode: 'cett', capture: false, maxSeq: 32 } });
  expect((await run(process.execPath, [path.join(out, 'graph-probe.cjs'), dir])).stdout).toBe(createHash('sha256').update(here).digest('hex'));
  // the inference worker (main/inference/runner-off-thread.ts): a forward pass in inference-worker.cjs gives the bits of
  // one run here, and it finds graph-worker.cjs beside it the same way
  const inferenceProbe = `import { createHash } from 'node:crypto';
import { loadCheckpoint } from './main/checkpoint/load';
import { openRunnerOffThread } from './main/inference/runner-off-thread';
const ids = Int32Array.from({ length: 32 }, (_, i) => (i * 37) % 256);
loadCheckpoint(process.argv[2]).then(async (c) => { const r = await openRunnerOffThread(c, { provider: 'cpu', maxSeq: 16 }); const f = await r.forward({ ids, batch: 2, seqLen: 16, mode: { kind: 'relu' }, captureActivations: true }); await r.dispose(); const h = createHash('sha256'); for (const a of [f.nll, f.activeCounts, f.neuronActiveCounts, ...f.activations]) h.update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)); process.stdout.write(h.digest('hex')); }).catch((e) => { process.stderr.write(e.code + ': ' + e.message); process.exitCode = 1; });`;
  await build({ ...common, stdin: { contents: inferenceProbe, resolveDir: root, loader: 'ts', sourcefile: 'inference-probe.ts' }, outdir: undefined, outfile: path.join(out, 'inference-probe.cjs') });
  expect(fs.existsSync(path.join(out, 'inference-worker.cjs'))).toBe(true);
  const runner = await createRunner(await loadCheckpoint(dir), { provider: 'cpu', maxSeq: 16 });
  const f = await runner.forward({ ids: Int32Array.from({ length: 32 }, (_, i) => (i * 37) % 256), batch: 2, seqLen: 16, mode: { kind: 'relu' }, captureActivations: true });
  await runner.dispose();
  const h = createHash('sha256');
  for (const a of [f.nll, f.activeCounts, f.neuronActiveCounts, ...f.activations!]) h.update(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  // onnxruntime-node stays outside the bundle (a native module): beside dist-electron in the app, here found through NODE_PATH
  const withOrt = { env: { ...process.env, NODE_PATH: path.join(root, 'node_modules') } };
  expect((await run(process.execPath, [path.join(out, 'inference-probe.cjs'), dir], withOrt)).stdout).toBe(h.digest('hex'));
  fs.renameSync(path.join(out, 'inference-worker.cjs'), path.join(out, 'inference-worker.cjs.away'));
  const noInferenceWorker = await run(process.execPath, [path.join(out, 'inference-probe.cjs'), dir], withOrt).catch((e: { stderr: string }) => e);
  expect((noInferenceWorker as { stderr: string }).stderr).toMatch(/^INTERNAL: the inference worker stopped .*Cannot find module .*inference-worker\.cjs.* while opening /);

  fs.rmSync(path.join(out, 'graph-worker.cjs'));
  const noGraphWorker = await run(process.execPath, [path.join(out, 'graph-probe.cjs'), dir]).catch((e: { stderr: string }) => e);
  expect((noGraphWorker as { stderr: string }).stderr).toMatch(/^INTERNAL: the graph builder stopped .*Cannot find module .*graph-worker\.cjs.* while building a graph of /);

  fs.rmSync(path.join(out, 'checkpoint-worker.cjs'));
  const missing = await run(process.execPath, [path.join(out, 'probe.cjs'), dir]).catch((e: { stderr: string }) => e);
  expect((missing as { stderr: string }).stderr).toMatch(/^INTERNAL: the checkpoint reader stopped .*Cannot find module .*checkpoint-worker\.cjs/);
});
