/**
 * The 'laws' domain (issue 6): pure computations from main/laws over the points in the request (or a points
 * file for importPoints). Nothing is stored here; the session keeps fits through its own domain. Large requests run
 * in the laws worker thread, off the engine's event loop (main/laws/off-thread.ts).
 */
import type { HandlerMap } from '../engine';
import { runLaws } from '../../laws/off-thread';

export const lawsHandlers: HandlerMap = {
  'laws.fit': (req) => runLaws('laws.fit', req),
  'laws.importPoints': (req) => runLaws('laws.importPoints', req),
  'laws.widthDepth': (req) => runLaws('laws.widthDepth', req),
  'laws.limitVsScale': (req) => runLaws('laws.limitVsScale', req),
  'laws.convergence': (req) => runLaws('laws.convergence', req),
};
