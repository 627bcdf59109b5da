/**
 * The graph worker thread (graph-off-thread.ts): opens a Hugging Face folder lazily (config and headers, no weight
 * byte), checks it finds the tensors the engine's thread has, then writes the converted weights of a plan or builds a
 * graph with the same code the engine's thread runs (weights.ts writeConverted, recipe.ts buildGraph), and posts the
 * result back (a graph's bytes transferred), or the error; or parses and instruments an .onnx file for measuring
 * (main/graph/instrument-onnx.ts instrumentedOnnx), holding no file while it does (a cancel then ends it at once). Stops within one MiB of reading or before the next tensor
 * conversion when the interrupt flag is set (main/checkpoint/interrupt.ts), closing its files on the way out. Bundled
 * as graph-worker.cjs (scripts/build.mjs workerEntryPoints).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LabError, toErrorPayload } from '../api/errors';
import { loadCheckpoint } from '../checkpoint/load';
import { checkInterrupted, watchInterrupt } from '../checkpoint/interrupt';
import { buildGraph } from '../graph/recipe';
import { instrumentedOnnx } from '../graph/instrument-onnx';
import { planWeights, writeConverted } from '../graph/weights';
import { checkpointSignature, type GraphWorkerInput, type GraphWorkerReply } from './graph-off-thread';

const input = workerData as GraphWorkerInput;
watchInterrupt(input.interrupt);

async function run(): Promise<GraphWorkerReply> {
  if (input.job.op === 'onnx') {
    // the .onnx file parsed and instrumented here (buildOnnxGraphOffThread): no checkpoint to open or compare
    const g = instrumentedOnnx(input.path, input.job.instrument);
    return { ok: true, graph: g.bytes, locations: g.locations };
  }
  const ckpt = await loadCheckpoint(input.path, { family: input.family, hash: false, scanFinite: false, tokenizer: null });
  if (checkpointSignature(ckpt) !== input.signature)
    throw new LabError('BAD_CHECKPOINT', `${input.path}: the weight files changed since the checkpoint was opened; open it again`);
  checkInterrupted();
  const job = input.job;
  if (job.op === 'convert') {
    const plan = planWeights(ckpt, { dtype: job.dtype, halfWeights: job.halfWeights }, job.refs);
    return { ok: true, converted: writeConverted(ckpt, plan, job.file) };
  }
  return { ok: true, graph: buildGraph(ckpt, job.recipe, job.external) };
}

run().then(
  (r) => parentPort!.postMessage(r, r.ok && r.graph ? [r.graph.buffer as ArrayBuffer] : []),
  (e: unknown) => parentPort!.postMessage({ ok: false, error: toErrorPayload(e), lab: e instanceof LabError } satisfies GraphWorkerReply),
);
