/**
 * The block-host worker thread (block-host.ts): creates block sessions from the graph bytes and session options the
 * streamed runner sends, runs them on its feeds, and sends the outputs back transferred. Messages are handled in order:
 * a run waits for its session's creation, a release for the runs before it. `close` (the runner's dispose or a cancel)
 * releases every session and ends the thread. Bundled as block-host-worker.cjs (scripts/build.mjs workerEntryPoints).
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { LabError, toErrorPayload } from '../api/errors';
import { busyWait, fromWire, tensorBytes, toWire, wallMs, type BlockHostInput, type HostCall, type HostEvent, type HostReply, type WireTensor } from './block-host';

const input = workerData as BlockHostInput;
const port = parentPort!;
const sessions = new Map<number, Promise<ort.InferenceSession>>();
/** sessions that have run once (a run event says whether it was its session's first) */
const ran = new Set<number>();
let closing = false;

const fail = (id: number, e: unknown) => port.postMessage({ id, ok: false, error: toErrorPayload(e), lab: e instanceof LabError } satisfies HostReply);

async function answer(m: Exclude<HostCall, { op: 'close' }>): Promise<void> {
  // a call queued behind a close (a cancel during a remote block's chunks) is not run: the thread exits sooner
  if (closing) return;
  try {
    if (m.op === 'create') {
      const t0 = wallMs();
      const p = ort.InferenceSession.create(m.bytes, m.options);
      sessions.set(m.sid, p);
      p.catch(() => sessions.delete(m.sid));
      const sess = await p;
      if (m.warm && !closing) await sess.run(Object.fromEntries(Object.entries(m.warm).map(([k, w]) => [k, fromWire(w)])));
      const event: HostEvent = { what: 'create', host: 'remote', label: m.label, start: t0, end: wallMs() };
      if (closing) return;
      port.postMessage({ id: m.id, ok: true, event } satisfies HostReply);
    } else if (m.op === 'run') {
      const sess = await sessions.get(m.sid);
      if (!sess) throw new LabError('INTERNAL', `block ${m.label}: no session ${m.sid} in the block-host worker`);
      const t0 = wallMs();
      if (input.runDelayMs) busyWait(input.runDelayMs);
      const feeds = Object.fromEntries(Object.entries(m.feeds).map(([k, w]) => [k, fromWire(w)]));
      const out = m.fetches ? await sess.run(feeds, m.fetches) : await sess.run(feeds);
      const event: HostEvent = { what: 'run', host: 'remote', label: m.label, start: t0, end: wallMs(), first: !ran.has(m.sid), ioBytes: tensorBytes(feeds) + tensorBytes(out) };
      ran.add(m.sid);
      const transfer: ArrayBuffer[] = [];
      const outputs: Record<string, WireTensor> = {};
      for (const [k, t] of Object.entries(out)) outputs[k] = toWire(t as ort.Tensor, true, transfer);
      if (closing) return;
      port.postMessage({ id: m.id, ok: true, outputs, event } satisfies HostReply, transfer);
    } else {
      const p = sessions.get(m.sid);
      sessions.delete(m.sid);
      ran.delete(m.sid);
      await (await p?.catch(() => undefined))?.release();
      if (!closing) port.postMessage({ id: m.id, ok: true } satisfies HostReply);
    }
  } catch (e) {
    if (!closing) fail(m.id, e);
  }
}

/** the calls in arrival order: a run after its create, a release after the runs before it */
let queue: Promise<unknown> = Promise.resolve();
port.on('message', (m: HostCall) => {
  if (m.op !== 'close') {
    queue = queue.then(() => answer(m));
    return;
  }
  closing = true;
  void (async () => {
    await queue.catch(() => undefined);
    for (const p of sessions.values()) await (await p.catch(() => undefined))?.release().catch(() => undefined);
    sessions.clear();
    setImmediate(() => process.exit(0));
  })();
});
port.postMessage({ id: 0, ok: true } satisfies HostReply);
