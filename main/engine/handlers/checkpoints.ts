import type { HandlerMap } from '../engine';
import { inspectCheckpoint } from '../../checkpoint/index';
import { scanSeries } from '../../checkpoint/series';
import type { Family } from '../../checkpoint/types';

export const checkpointsHandlers: HandlerMap = {
  'checkpoints.inspect': (req) => inspectCheckpoint(req.path, { family: req.family as Family | undefined }) as never,
  'checkpoints.scanSeries': (req) => scanSeries((req.dir ?? req.path)!, req.tokensPerStep),
};
