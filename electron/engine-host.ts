/**
 * Entry point of the engine inside Electron's utilityProcess: receives {id, cmd, payload} from the shell,
 * answers with the WireResponse envelope, and forwards engine events. Nothing thrown escapes.
 *
 * Quitting the app ends this process with SIGTERM (electron/main.ts: utilityProcess.kill() before it quits; the OS at
 * logout does the same): it closes in order first, within SHUTDOWN_LIMIT_MS. Requests that arrive then are refused. The
 * engine is disposed (estimates and fits cancelled, the open session closed: its writes checkpointed, its lock released;
 * a measurement running into it stays 'running' there and the session reopens with it interrupted, ready to resume),
 * then every worker thread is stopped and its native call let end: process.exit() while a worker is inside onnxruntime
 * aborts the process (main/base/worker-thread.ts). Exit status 0 when all of it ended in time, 1 when not.
 */
import { Engine } from '../main/engine/engine';
import { LabError, toErrorPayload } from '../main/api/errors';
import { settleInferenceWorkers } from '../main/inference/runner-off-thread';
import { settlesWithin } from '../main/base/worker-thread';

interface ParentPort {
  on(event: 'message', listener: (e: { data: unknown }) => void): void;
  postMessage(msg: unknown): void;
}
const port = (process as unknown as { parentPort: ParentPort }).parentPort;
const engine = new Engine({ host: 'electron' });
engine.onEvent((event, payload) => port.postMessage({ event, payload }));

/** how long the orderly close may take in all (the shell waits a little longer for the exit) */
const SHUTDOWN_LIMIT_MS = 20_000;
let closing = false;

port.on('message', async ({ data }) => {
  const msg = data as { id?: unknown; cmd?: unknown; payload?: unknown };
  const id = typeof msg?.id === 'number' ? msg.id : null;
  try {
    if (closing) throw new LabError('INTERNAL', 'the engine is closing (the app is quitting)');
    const result = await engine.call(String(msg?.cmd), msg?.payload);
    port.postMessage({ id, ok: true, result: result ?? null });
  } catch (err) {
    port.postMessage({ id, ok: false, error: toErrorPayload(err) });
  }
});
process.on('uncaughtException', (err) => console.error('[engine] uncaught', err));
process.on('unhandledRejection', (err) => console.error('[engine] unhandled rejection', err));

async function shutdown(signal: string): Promise<void> {
  if (closing) return;
  closing = true;
  const deadline = Date.now() + SHUTDOWN_LIMIT_MS;
  const disposed = await settlesWithin(
    engine.dispose().catch((e: unknown) => console.error('[engine] closing:', e instanceof Error ? e.message : e)),
    SHUTDOWN_LIMIT_MS / 2,
  );
  const settled = await settleInferenceWorkers(Math.max(0, deadline - Date.now()));
  if (!disposed || !settled) console.error(`[engine] ${signal}: ${!disposed ? 'the engine did not close' : 'a worker did not exit'} within ${SHUTDOWN_LIMIT_MS / 1000} s; exiting anyway`);
  process.exit(disposed && settled ? 0 : 1);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
