/**
 * runs.* through the engine: a measurement job with progress and a finished event, a job killed
 * mid-search that resumes from its last saved step to the same answer, cancel, estimate, bad input.
 * Models come from a test ModelSource (toy models with a character tokenizer).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../main/engine/engine';
import type { JobFinishedEvent } from '../../main/api/domains/runs';
import type { LoadedCheckpoint } from '../../main/checkpoint/types';
import type { ModelSource } from '../../main/jobs/models';
import { measureCettPpl } from '../../main/metrics/cett-ppl';
import { loadEvalData } from '../../main/metrics/data';
import { makeToyModel, type ToyModel } from './metrics-toy-model';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metrics-jobs-'));
const tokenizer = {
  encode: (t: string) => Array.from(t, (ch) => ch.charCodeAt(0) % 20),
  decode: () => '',
  vocabSize: 20,
  source: 'chars',
};
const cfgToy = { seed: 21, vocab: 20, d: 8, f: 16, layers: 2, gated: true, activation: 'silu' as const };

/** a source whose runner dies after `dieAfter` forward calls (a killed process, as far as the job can tell) */
function source(model: ToyModel, dieAfter = Infinity): ModelSource {
  return {
    async loadCheckpoint(p) {
      if (!p.endsWith('toy')) throw new Error(`no checkpoint ${p}`);
      return { path: p, format: 'hf', spec: model.spec, weights: new Map(), tokenizer, contentHash: 'x', notices: [] } as LoadedCheckpoint;
    },
    async openTarget(ckpt) {
      let calls = 0;
      const runner = {
        ...model,
        forward: async (req: Parameters<ToyModel['forward']>[0]) => {
          if (++calls > dieAfter) throw new Error('process killed');
          return model.forward(req);
        },
      };
      return { id: ckpt.path, runner, downWeights: model.down };
    },
  };
}

function engineWith(src: ModelSource) {
  const e = new Engine({ paths: { userData: dir, cache: dir }, log: { info() {}, warn() {}, error() {} } });
  e.ctx.services.set('runs.models', src);
  const events: { event: string; payload: unknown }[] = [];
  e.onEvent((event, payload) => events.push({ event, payload }));
  const finished = (id: string) =>
    new Promise<JobFinishedEvent>((resolve) => {
      const poll = () => {
        const f = events.find((x) => x.event === 'job.finished' && (x.payload as JobFinishedEvent).id === id);
        if (f) resolve(f.payload as JobFinishedEvent);
        else setTimeout(poll, 5);
      };
      poll();
    });
  return { e, events, finished };
}

const text = path.join(dir, 'eval.txt');
fs.writeFileSync(text, 'the quick brown fox jumps over the lazy dog; '.repeat(8));
const config = { kind: 'measure' as const, checkpoint: '/models/toy', data: text, p: 5, tokens: 96, seqLen: 12, batch: 4, stateDir: path.join(dir, 'jobs') };

describe('runs.* jobs', () => {
  it('measures through the engine, resumes a killed run from its last step, same answer', async () => {
    const model = makeToyModel(cfgToy);
    const data = loadEvalData(text, tokenizer, { tokens: 96, seqLen: 12, batch: 4 });
    const direct = await measureCettPpl({ id: '/models/toy', runner: model, downWeights: model.down }, data, { p: 5, tol: 1e-3, thresholdMode: 'authors' });

    // killed after the dense pass and 3 outer steps (2 batches: 2 dense + 3×2 sparse calls)
    const dying = engineWith(source(model, 2 + 3 * 2));
    const { id } = await dying.e.invoke('runs.start', { config } as never);
    const dead = await dying.finished(id);
    expect(dead.status).toBe('failed');
    expect(dead.error?.message).toMatch(/killed/);
    expect(dying.events.some((x) => x.event === 'job.progress')).toBe(true);

    const alive = engineWith(source(model));
    model.forwardCalls = 0;
    await alive.e.invoke('runs.start', { config, resume: id } as never);
    const done = await alive.finished(id);
    expect(done.status).toBe('completed');
    const r = done.result as typeof direct;
    expect(r.cett).toBe(direct.cett);
    expect(r.activationRatio).toBe(direct.activationRatio);
    expect(r.searchHistory!.length).toBe(direct.searchHistory!.length);
    // the resumed run did 3 outer steps fewer than a fresh one
    expect(model.forwardCalls).toBe(direct.forwardPasses - 3 * 2);
    expect(JSON.parse(fs.readFileSync(path.join(config.stateDir, `${id}.job.json`), 'utf8')).status).toBe('completed');
  });

  it('cancel, active list, estimate and bad input', async () => {
    const model = makeToyModel(cfgToy);
    const { e, finished } = engineWith(source(model));
    const { id } = await e.invoke('runs.start', { config: { ...config, tol: 1e-6 } } as never);
    expect((await e.invoke('runs.active', {})).map((j) => j.id)).toContain(id);
    expect(await e.invoke('runs.cancel', { id })).toEqual({ cancelled: true });
    expect((await finished(id)).status).toBe('cancelled');
    const est = await e.invoke('runs.estimate', { config } as never);
    expect(est.forwardPasses).toBe(2 * (2 + 10)); // 2 batches × (dense + 10 outer steps + final)
    expect(est.totalSeconds).toBeGreaterThan(0);
    await expect(e.call('runs.start', { config: { ...config, p: 'x' } })).rejects.toThrow(/Invalid request/);
    // refused by the contract before a job is recorded (main/api/domains/runs.ts pProblem)
    await expect(e.invoke('runs.start', { config: { ...config, p: 0 } } as never)).rejects.toThrow(/config\.p: p is the allowed rise of perplexity in percent: it must be > 0 and ≤ 100 .*; got 0/);
  });
});

describe('runs.* with real checkpoint folders', () => {
  it('a series of different architectures fails before any runner is opened; W_out is read per layer', async () => {
    const { writeTinyCheckpoint } = await import('../../main/checkpoint/testing/tiny');
    const { loadCheckpoint } = await import('../../main/checkpoint/index');
    const { downWeightsOf } = await import('../../main/metrics/target');
    const a = writeTinyCheckpoint(path.join(dir, 'ser-a'), 'llama', { layers: 2, seed: 1 });
    const b = writeTinyCheckpoint(path.join(dir, 'ser-b'), 'llama', { layers: 3, seed: 2 });
    const ck = await loadCheckpoint(a);
    const w = downWeightsOf(ck);
    expect(w.layers).toBe(2);
    expect((await w.layer(0)).length).toBe(ck.spec.hiddenSize * ck.spec.intermediateSize);
    let opened = 0;
    const e = new Engine({ paths: { userData: dir, cache: dir }, log: { info() {}, warn() {}, error() {} } });
    e.ctx.services.set('runs.models', {
      loadCheckpoint: (p) => loadCheckpoint(p),
      openTarget: async () => {
        opened++;
        throw new Error('should not be reached');
      },
    } satisfies ModelSource);
    const done = new Promise<JobFinishedEvent>((r) => e.onEvent((ev, p) => ev === 'job.finished' && r(p as JobFinishedEvent)));
    await e.invoke('runs.start', { config: { kind: 'measure-series', checkpoints: [{ path: a }, { path: b }], data: text, stateDir: path.join(dir, 'jobs') } } as never);
    const f = await done;
    expect(f.status).toBe('failed');
    expect(f.error?.message).toMatch(/different architectures.*ser-a.*L=2.*ser-b.*L=3/);
    expect(opened).toBe(0);
  });
});
