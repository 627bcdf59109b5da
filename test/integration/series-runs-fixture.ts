/**
 * A session file with one training series measured twice by measure-series (p = 5% and p = 20%, the last 2 checkpoints
 * searched) and a later single CETT-PPL-1% run on its last checkpoint (its own CETT): tiny in-memory models measured by
 * main/metrics, stored through the jobs' session persistence (the path the app writes runs by). What the charts' and
 * the Laws page's series selection tests read back.
 */
import path from 'node:path';
import { SessionStore } from '../../main/store';
import { SessionJobPersistence } from '../../main/jobs/session-persistence';
import { JsonFilePersistence } from '../../main/jobs/persistence';
import { batchStream } from '../../main/metrics/data';
import { measureCettPpl, measureSeries } from '../../main/metrics/cett-ppl';
import type { MeasureTarget } from '../../main/metrics/target';
import type { MeasureResult, SeriesResult } from '../../main/metrics/types';
import { makeToyModel } from './metrics-toy-model';

/** Writes `dir`/lab.sparsitylab; checkpoint i is `dir`/`series`/step-i (not on disk: the rows still name the series),
 * trained on tokens[i], its toy model seeded 7 + i + seedOffset. Runs 'se5', 'se20', then 'one'. */
export async function seriesRunsSession(dir: string, series: string, tokens: number[], seedOffset = 0): Promise<{ file: string; paths: string[]; s5: SeriesResult; s20: SeriesResult; single: MeasureResult }> {
  const file = path.join(dir, 'lab.sparsitylab');
  const paths = tokens.map((_, i) => path.join(dir, series, `step-${i}`));
  const cfg = { seed: 7, vocab: 24, d: 8, f: 24, layers: 2, gated: true, activation: 'relu' as const };
  const models = tokens.map((_, i) => makeToyModel({ ...cfg, seed: cfg.seed + i + seedOffset }));
  const data = batchStream(models.at(-1)!.sample(6, 16, 3), { seqLen: 16, batch: 3 }, 'toy');
  const entries = models.map((m, i) => ({ id: paths[i], tokensSeen: tokens[i], open: async (): Promise<MeasureTarget> => ({ id: paths[i], runner: m, downWeights: m.down }) }));
  const s5 = await measureSeries(entries, data, { p: 5, tol: 1e-2, thresholdMode: 'authors', lastK: 2 });
  const s20 = await measureSeries(entries, data, { p: 20, tol: 1e-2, thresholdMode: 'authors', lastK: 2 });
  const single = await measureCettPpl(await entries.at(-1)!.open(), data, { p: 1, tol: 1e-3, thresholdMode: 'authors' });

  const s = SessionStore.create(file);
  const p = new SessionJobPersistence(() => s, new JsonFilePersistence(path.join(dir, 'jobs')));
  const seriesCfg = (pp: number) => ({ kind: 'measure-series', method: 'cett-ppl', p: pp, checkpoints: paths.map((q, i) => ({ path: q, tokensSeen: tokens[i] })), lastK: 2 });
  const pause = () => new Promise((r) => setTimeout(r, 5)); // distinct creation times
  await p.create('se5', 'measure-series', seriesCfg(5));
  await p.finish('se5', 'completed', { result: s5 });
  await pause();
  await p.create('se20', 'measure-series', seriesCfg(20));
  await p.finish('se20', 'completed', { result: s20 });
  await pause();
  // the later single run on the series' last checkpoint, its own CETT
  await p.create('one', 'measure', { kind: 'measure', method: 'cett-ppl', p: 1, checkpoint: paths.at(-1) });
  await p.finish('one', 'completed', { result: single });
  s.close();
  return { file, paths, s5, s20, single };
}
