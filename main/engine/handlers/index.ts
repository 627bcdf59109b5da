import type { HandlerMap } from '../engine';
import { engineHandlers } from './engine';
import { runsHandlers } from './runs';
import { filesHandlers } from './files';
import { chartsHandlers } from './charts';
import { sessionsHandlers } from './sessions';
import { checkpointsHandlers } from './checkpoints';
import { lawsHandlers } from './laws';
import { clusterHandlers } from './cluster';
import { compareHandlers } from './compare';

/** Every domain's handlers. Each issue adds its domain's map here. */
export const allHandlers: HandlerMap = {
  ...engineHandlers,
  ...runsHandlers,
  ...filesHandlers,
  ...chartsHandlers,
  ...sessionsHandlers,
  ...checkpointsHandlers,
  ...lawsHandlers,
  ...clusterHandlers,
  ...compareHandlers,
};
