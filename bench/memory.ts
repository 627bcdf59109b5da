/**
 * Peak memory of one dense pass with the activations captured (what the CETT search's host curves read), against
 * main/inference/plan.ts's formula (README "Memory"). One size per process (the peak is the process's VmHWM, Linux):
 *   npm run bench -- memory --provider cpu --seq-len 256 --batch 4 [--model DIR]
 * Prints the measured growth of the process's peak resident memory over its resident memory before the runner was
 * made, the formula's figure and their ratio. On a GPU the device peak comes from nvidia-smi (bench/gpu/run.sh peak).
 */
import fs from 'node:fs';
import { wholePeakBytes } from '../main/inference/plan';
import { machine, openTarget, parse, writeOut } from './common';

/** VmHWM and VmRSS of this process in bytes (Linux), null elsewhere */
function procMem(): { hwm: number; rss: number } | null {
  try {
    const s = fs.readFileSync('/proc/self/status', 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN) * 1024;
    return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
  } catch {
    return null;
  }
}

export async function main(argv: string[]): Promise<void> {
  const v = parse(argv);
  const before = procMem();
  if (!before) throw new Error('memory: needs /proc/self/status (Linux)');
  const seqLen = Number(v['seq-len'] ?? 256);
  const batch = Number(v.batch ?? 4);
  const { target, data } = await openTarget({ ...v, 'n-tokens': String(seqLen * batch), execution: v.execution ?? 'whole' });
  const r = target.runner;
  const b = data.batches[0];
  const res = await r.forward({ ids: b.ids, batch: b.batch, seqLen: b.seqLen, mode: { kind: 'dense' }, captureActivations: true });
  const after = procMem()!;
  const measured = after.hwm - Math.max(before.rss, 0);
  const plan = r.plan!;
  // one session (dense with capture); the captured activations are counted once more: onnxruntime-node hands them to
  // JavaScript as copies ([L, B·S, F] fp32, the term capture · L · d_f · 4 of the formula, again)
  const formula = wholePeakBytes(r.spec, { dtype: r.dtype, fused: false, batch: b.batch, seqLen: b.seqLen, weightBytes: plan.weightBytes, sessions: 1 });
  const hostCopy = r.spec.numLayers * b.batch * b.seqLen * r.spec.intermediateSize * 4;
  const out = {
    suite: 'memory',
    provider: r.provider,
    dtype: r.dtype,
    layers: r.spec.numLayers,
    dF: r.spec.intermediateSize,
    hidden: r.spec.hiddenSize,
    vocab: r.spec.vocabSize,
    batch: b.batch,
    seqLen: b.seqLen,
    weightBytes: plan.weightBytes,
    measuredPeakGrowth: measured,
    formulaBytes: formula,
    formulaPlusHostCopy: formula + hostCopy,
    ratio: measured / (formula + hostCopy),
    activations: res.activations?.length,
    machine: machine(),
    date: new Date().toISOString(),
  };
  console.log(JSON.stringify(out));
  writeOut(v.out, out);
  await r.dispose();
}
