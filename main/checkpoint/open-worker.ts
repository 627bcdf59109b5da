/**
 * The checkpoint reader's worker thread (open.ts): opens one checkpoint completely (every check, the NaN/Inf scan, the
 * content hash; an .onnx file's parse) off the engine's event loop and posts the content hash and notices back (and an
 * .onnx file's facts), or the error. Stops
 * within one chunk when the interrupt flag is set (interrupt.ts), or is ended at once while it holds no file. In
 * `tokenizer` mode it loads a tokenizer and encodes texts for tokenizer-remote.ts. Bundled as checkpoint-worker.cjs (scripts/build*.mjs).
 */
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { loadCheckpoint } from './load';
import { hashFiles, useHashMemo } from './hash';
import { inspectOnnx } from './onnx';
import { checkInterrupted, watchInterrupt } from './interrupt';
import { LabError, toErrorPayload } from '../api/errors';
import { loadTokenizer, tokenizerFacts } from './tokenizer';
import type { TokenizerReply } from './tokenizer-remote';
import type { TextTokenizer } from './types';
import type { WorkerInput, WorkerReply } from './open';

const input = workerData as WorkerInput;
watchInterrupt(input.interrupt);
useHashMemo(input.memoFile);
const post = (r: WorkerReply) => parentPort!.postMessage(r);
async function open(): Promise<WorkerReply> {
  if (input.path.toLowerCase().endsWith('.onnx')) {
    // parsed here, once: the engine's thread builds the checkpoint from these facts (open.ts), never parsing the file
    const onnx = inspectOnnx(input.path, { family: input.family });
    const tok = await loadTokenizer(path.dirname(input.path));
    return { ok: true, contentHash: await hashFiles(onnx.hashed), notices: onnx.notices, onnx, tokenizer: tok ? tokenizerFacts(tok) : null };
  }
  const c = await loadCheckpoint(input.path, { family: input.family });
  return { ok: true, contentHash: c.contentHash, notices: c.notices, tokenizer: c.tokenizer ? tokenizerFacts(c.tokenizer) : null };
}
/** `tokenizer` mode (tokenizer-remote.ts): load the folder's tokenizer, then encode the texts sent until terminated. */
async function serveTokenizer(): Promise<void> {
  let tok: TextTokenizer | undefined;
  try {
    tok = await loadTokenizer(input.path);
    checkInterrupted();
    if (!tok) throw new LabError('BAD_CHECKPOINT', `${input.path} has no tokenizer (tokenizer.json or tokenizer.model)`);
  } catch (e) {
    parentPort!.postMessage({ ok: false, error: toErrorPayload(e) } satisfies TokenizerReply);
    return; // nothing listens: the worker ends
  }
  const t = tok;
  Atomics.store(input.interrupt, 1, 1); // from here on it holds no file: a cancel ends it at once
  parentPort!.on('message', ({ id, text }: { id: number; text: string }) => {
    try {
      const ids = Int32Array.from(t.encode(text));
      parentPort!.postMessage({ ok: true, id, ids } satisfies TokenizerReply, [ids.buffer]);
    } catch (e) {
      parentPort!.postMessage({ ok: false, id, error: toErrorPayload(e) } satisfies TokenizerReply);
    }
  });
  parentPort!.postMessage({ ok: true, ready: true, ...tokenizerFacts(t) } satisfies TokenizerReply);
}

if (input.tokenizer) void serveTokenizer();
else open().then(post, (e: unknown) => post({ ok: false, error: toErrorPayload(e) }));
