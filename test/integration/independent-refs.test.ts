/**
 * Independent references (issue 17): tiny checkpoints of every supported family written by `transformers` itself on
 * the GPU machine (MiniCPM, which transformers lacks offline, by a PyTorch forward written after the authors'
 * modeling_minicpm.py), with their per-token NLL computed by PyTorch in float64, and for a gated SiLU and a gated ReLU
 * LLaMA the CETT-PPL-1% result of the PyTorch reference of the authors' algorithm
 * (bench/reference/sparsing_law_reference.py). Written by tools/gpu-check/independent_refs.py into
 * test/fixtures/independent. Nothing here was computed by our code.
 *
 * Checked: the loader reads each folder as written; our float64 reference forward (test/reference/forward.ts, which
 * reads config.json itself) and the production ONNX graph on the CPU give PyTorch's NLL; and our CETT-PPL-1% search on
 * the same tokens and batches finds the reference's CETT, thresholds, activation ratio and PPL ratio.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../main/checkpoint/index';
import { createRunner } from '../../main/inference/index';
import { batchStream } from '../../main/metrics/data';
import { measureCettPpl } from '../../main/metrics/cett-ppl';
import { downWeightsOf } from '../../main/metrics/target';
import { createReferenceRunner } from '../reference/forward';

const ROOT = path.resolve(__dirname, '../fixtures/independent');
const tokens = JSON.parse(fs.readFileSync(path.join(ROOT, 'tokens.json'), 'utf8')) as { vocab: number; seqLen: number; sequences: number; ids: number[] };
const CASES = fs.readdirSync(ROOT).filter((d) => fs.existsSync(path.join(ROOT, d, 'expected.json'))).sort();
const FAMILIES = ['gpt2', 'gpt_neox', 'llama', 'minicpm', 'mistral', 'opt', 'qwen2', 'qwen3'];

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

it('every supported family has a reference', () => {
  const fams = new Set(CASES.map((c) => (JSON.parse(fs.readFileSync(path.join(ROOT, c, 'expected.json'), 'utf8')) as { family: string }).family));
  expect([...fams].sort()).toEqual(FAMILIES);
});

describe.each(CASES)('%s', (name) => {
  const dir = path.join(ROOT, name);
  const want = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as { family: string; seqLen: number; sequences: number; nll_float64: number[] };
  const req = { ids: Int32Array.from(tokens.ids), batch: tokens.sequences, seqLen: tokens.seqLen, mode: { kind: 'dense' as const } };

  it('loads as written; reference forward (float64) and ONNX graph (fp32, CPU) give PyTorch’s NLL', async () => {
    const ck = await loadCheckpoint(dir);
    expect(ck.spec.family).toBe(want.family);
    expect(ck.spec.vocabSize).toBe(tokens.vocab);
    const ref = await createReferenceRunner(ck).forward(req);
    expect(maxAbs(ref.nll, want.nll_float64)).toBeLessThan(1e-5); // seen ≤ 3.5e-6 (transformers' rotary tables are fp32)
    const onnx = await createRunner(ck, { provider: 'cpu', maxSeq: tokens.seqLen });
    try {
      expect(maxAbs((await onnx.forward(req)).nll, want.nll_float64)).toBeLessThan(2e-5); // seen ≤ 4.9e-6 (fp32)
    } finally {
      await onnx.dispose();
    }
  });

});

describe.each(['llama-silu', 'llama-relu'])('%s', (name) => {
  const dir = path.join(ROOT, name);
  it('CETT-PPL-1% equals the PyTorch reference of the authors’ algorithm', async () => {
    const r = JSON.parse(fs.readFileSync(path.join(dir, 'cett-p1.json'), 'utf8')) as { p: number; tol: number; seqLen: number; batch: number; tokens: number; cett: number; pplRatio: number; activationRatio: number; thresholds: number[] };
    const ck = await loadCheckpoint(dir);
    const data = batchStream(tokens.ids, { tokens: r.tokens, seqLen: r.seqLen, batch: r.batch }, path.join(ROOT, 'tokens.json'));
    expect(data.batches.length).toBe(Math.ceil(r.tokens / r.seqLen / r.batch));
    const runner = await createRunner(ck, { provider: 'cpu', maxSeq: r.seqLen });
    try {
      const got = await measureCettPpl({ id: dir, runner, downWeights: downWeightsOf(ck) }, data, { p: r.p, tol: r.tol, thresholdMode: 'authors' });
      // seen: the same CETT, activation ratio within 2e-8, PPL ratio within 5e-7, thresholds within 1e-6 relative. A
      // PPL ratio within fp32 noise of the target could send the outer bisection the other way: one step allowed
      expect(Math.abs(got.cett! - r.cett)).toBeLessThanOrEqual(r.tol);
      expect(Math.abs(got.activationRatio - r.activationRatio)).toBeLessThan(1e-4);
      expect(Math.abs(got.pplRatio - r.pplRatio)).toBeLessThan(1e-4);
      got.thresholds.forEach((e, l) => expect(Math.abs(e - r.thresholds[l])).toBeLessThanOrEqual(1e-4 * Math.abs(r.thresholds[l])));
    } finally {
      await runner.dispose();
    }
  });
});
