/** Dense forward throughput (NLL computed in the graph): tokens/s of our ONNX graph on the chosen provider. */
import { machine, openTarget, parse, writeOut } from './common';
import { summarizeStream, type StreamStats } from '../main/inference/streamed';

export async function main(argv: string[]): Promise<void> {
  const v = parse(argv);
  const { target, data } = await openTarget(v);
  const r = target.runner;
  for (const b of data.batches.slice(0, 2)) await r.forward({ ids: b.ids, batch: b.batch, seqLen: data.seqLen, mode: { kind: 'dense' } }); // warm-up
  const t0 = performance.now();
  let tokens = 0;
  for (const b of data.batches) {
    await r.forward({ ids: b.ids, batch: b.batch, seqLen: data.seqLen, mode: { kind: 'dense' } });
    tokens += b.batch * data.seqLen;
  }
  const sec = (performance.now() - t0) / 1000;
  const res = {
    suite: 'forward',
    provider: r.provider,
    dtype: r.dtype,
    tokens,
    seconds: sec,
    tokensPerSecond: tokens / sec,
    layers: r.spec.numLayers,
    hidden: r.spec.hiddenSize,
    // whole or streamed (issue 15): the plan, and for streamed the block sessions opened (pages) and their time
    execution: r.plan,
    streamStats: ((st) => st && summarizeStream(st))((r as { streamStats?: StreamStats }).streamStats),
    machine: machine(),
    date: new Date().toISOString(),
  };
  console.log(JSON.stringify(res));
  writeOut(v.out, res);
  await r.dispose();
}
