/**
 * The laws worker thread (off-thread.ts): runs one 'laws' request (requests.ts) off the engine's event loop and posts
 * the response back, or the error as a LabError payload. Bundled as laws-worker.cjs (scripts/build.mjs workerEntryPoints).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { toErrorPayload } from '../api/errors';
import { runLawsRequest, type LawsCommand } from './requests';

const { name, req } = workerData as { name: LawsCommand; req: never };
try {
  parentPort!.postMessage({ ok: true, res: runLawsRequest(name, req) });
} catch (e) {
  parentPort!.postMessage({ ok: false, error: toErrorPayload(e) });
}
