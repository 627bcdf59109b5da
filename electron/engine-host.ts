/**
 * Entry point of the engine inside Electron's utilityProcess: receives {id, cmd, payload} from the shell,
 * answers with the WireResponse envelope, and forwards engine events. Nothing thrown escapes.
 */
import { Engine } from '../main/engine/engine';
import { toErrorPayload } from '../main/api/errors';

interface ParentPort {
  on(event: 'message', listener: (e: { data: unknown }) => void): void;
  postMessage(msg: unknown): void;
}
const port = (process as unknown as { parentPort: ParentPort }).parentPort;
const engine = new Engine({ host: 'electron' });
engine.onEvent((event, payload) => port.postMessage({ event, payload }));

port.on('message', async ({ data }) => {
  const msg = data as { id?: unknown; cmd?: unknown; payload?: unknown };
  const id = typeof msg?.id === 'number' ? msg.id : null;
  try {
    const result = await engine.call(String(msg?.cmd), msg?.payload);
    port.postMessage({ id, ok: true, result: result ?? null });
  } catch (err) {
    port.postMessage({ id, ok: false, error: toErrorPayload(err) });
  }
});
process.on('uncaughtException', (err) => console.error('[engine] uncaught', err));
process.on('unhandledRejection', (err) => console.error('[engine] unhandled rejection', err));
