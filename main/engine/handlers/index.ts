import type { HandlerMap } from '../engine';
import { engineHandlers } from './engine';

/** Every domain's handlers. Each issue adds its domain's map here. */
export const allHandlers: HandlerMap = {
  ...engineHandlers,
};
