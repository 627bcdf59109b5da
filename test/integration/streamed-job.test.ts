// A measure job with a small device-memory cap (RunConfig.deviceMemory, the CLI's --device-memory): the planner
// streams, the job's progress says so, the result records the plan, and CETT-PPL-1% is the uncapped run's.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { measureConfigSchema } from '../../main/api/domains/runs';
import { writeTinyCheckpoint } from '../../main/checkpoint/testing/tiny';
import { loadCheckpoint } from '../../main/checkpoint/index';
import { runMeasure } from '../../main/jobs/measure-job';
import type { Progress } from '../../main/metrics/control';
import { weightBytesByLayer } from '../../main/inference/plan';
import { Engine } from '../../main/engine/engine';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-streamed-job-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('a capped job streams with the uncapped answer, says so, and records the plan', async () => {
  const ckptDir = writeTinyCheckpoint(path.join(dir, 'ckpt'), 'llama', { layers: 4, activation: 'silu', std: 0.3 });
  const data = path.join(dir, 'eval.txt');
  fs.writeFileSync(data, 'The quick brown fox jumps over the lazy dog while the cat sleeps in the warm sun. '.repeat(8));
  const w = weightBytesByLayer(await loadCheckpoint(ckptDir), { dtype: 'float32', halfWeights: true });
  const cap = (w.embedBytes + w.headBytes + 3 * w.layerBytes[0] + 200_000) / 1024 ** 3;
  const run = async (deviceMemory?: number) => {
    const events: Progress[] = [];
    const cfg = measureConfigSchema.parse({ kind: 'measure', checkpoint: ckptDir, data, tokens: 256, seqLen: 32, batch: 4, provider: 'cpu', ...(deviceMemory ? { deviceMemory } : {}) });
    const res = (await runMeasure(cfg, { progress: (p) => events.push(p) }, { onStep: async () => undefined })) as Record<string, unknown> & { execution: { mode: string; capBytes: number | null } };
    return { res, events };
  };
  const whole = await run();
  const streamed = await run(cap);
  expect(whole.res.execution.mode).toBe('whole');
  expect(streamed.res.execution.mode).toBe('streamed');
  expect(streamed.res.execution.capBytes).toBeCloseTo(cap * 1024 ** 3, 0);
  expect(streamed.events.find((e) => e.phase === 'plan')?.message).toMatch(/^streamed on cpu.*capped at/);
  expect(streamed.res.cett).toBe(whole.res.cett);
  expect(streamed.res.activationRatio).toBeCloseTo(whole.res.activationRatio as number, 9);
  expect(streamed.res.thresholds).toEqual(whole.res.thresholds);
  expect(measureConfigSchema.safeParse({ kind: 'measure', checkpoint: 'x', data: 'y', deviceMemory: -1 }).success).toBe(false);
  // runs.plan (what the wizard shows before Run) says the same without opening anything
  const e = new Engine({ paths: { userData: dir, cache: dir }, log: { info() {}, warn() {}, error() {} } });
  const cfg = { kind: 'measure', checkpoint: ckptDir, data, tokens: 256, seqLen: 32, batch: 4, provider: 'cpu' };
  const planned = (await e.invoke('runs.plan', { config: { ...cfg, deviceMemory: cap } } as never)) as { execution: { mode: string; blocks: unknown[]; reason: string } };
  expect(planned.execution.mode).toBe('streamed');
  expect(planned.execution.blocks).toEqual((streamed.res.execution as unknown as { blocks: unknown[] }).blocks);
  expect(((await e.invoke('runs.plan', { config: cfg } as never)) as { execution: { mode: string } }).execution.mode).toBe('whole');
});
