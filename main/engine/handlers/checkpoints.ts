import type { HandlerMap } from '../engine';
import { openCheckpoint, summarize } from '../../checkpoint/index';
import { diskFacts } from '../../inference/graph-store';
import { scanSeries } from '../../checkpoint/series';
import type { Family } from '../../checkpoint/types';

export const checkpointsHandlers: HandlerMap = {
  'checkpoints.inspect': async (req) => {
    const c = await openCheckpoint(req.path, { family: req.family as Family | undefined }); // off the event loop when large
    // the disk facts (issue 15): bytes on disk and what each graph reads in place or must write
    return { ...summarize(c), ...(c.format === 'hf' ? { disk: diskFacts(c) } : {}) } as never;
  },
  'checkpoints.scanSeries': (req) => scanSeries((req.dir ?? req.path)!, req.tokensPerStep),
};
