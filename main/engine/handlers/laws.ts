/**
 * The 'laws' domain (issue 6): pure computations from main/laws over the points in the request (or a points
 * file for importPoints). Nothing is stored here; the session keeps fits through its own domain. Large requests run
 * in the laws worker thread, off the engine's event loop (main/laws/off-thread.ts); sent with a cancelId, laws.cancel
 * ends one there at once (main/engine/cancellable.ts).
 */
import type { HandlerMap } from '../engine';
import type { EngineContext } from '../context';
import type { ParsedRequestOf, ResponseOf } from '../../api/contract';
import { LAWS_REQUEST_WORDS, runLaws } from '../../laws/off-thread';
import type { LawsCommand } from '../../laws/requests';
import { cancellable, cancelRequest } from '../cancellable';

const laws = <N extends LawsCommand>(name: N) => (req: ParsedRequestOf<N>, ctx: EngineContext): Promise<ResponseOf<N>> => cancellable(ctx, 'laws', req.cancelId, LAWS_REQUEST_WORDS[name], (signal) => runLaws(name, req, 'auto', signal));

export const lawsHandlers: HandlerMap = {
  'laws.fit': laws('laws.fit'),
  'laws.importPoints': laws('laws.importPoints'),
  'laws.widthDepth': laws('laws.widthDepth'),
  'laws.limitVsScale': laws('laws.limitVsScale'),
  'laws.convergence': laws('laws.convergence'),
  'laws.cancel': (req, ctx) => ({ cancelled: cancelRequest(ctx, 'laws', req.id) }),
};
