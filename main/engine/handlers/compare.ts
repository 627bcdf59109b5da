/** The 'compare' domain: runs of any session side by side (main/engine/compare.ts). */
import type { HandlerMap } from '../engine';
import { currentSession } from './sessions';
import { compareRuns, withSession } from '../compare';

export const compareHandlers: HandlerMap = {
  'compare.sessionRuns': (req, ctx) => withSession(currentSession(ctx), req.session, (s, open) => ({ session: s.file, name: s.name, open, runs: s.listRuns().filter((r) => !r.deleted) })),
  'compare.runs': (req, ctx) => compareRuns(currentSession(ctx), req),
};
