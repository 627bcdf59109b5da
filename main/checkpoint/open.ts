/**
 * How the engine opens a checkpoint without blocking its event loop (issue 19). Opening reads config.json, the weight
 * files' headers, the tokenizer, scans the weights for NaN/Inf (up to 4 GiB) and hashes every byte: for a large
 * checkpoint that is seconds of synchronous reading, during which the engine could answer nothing (cancel included,
 * in browser mode and in Electron's utilityProcess alike). So a large checkpoint is opened in a worker thread
 * (open-worker.ts): it does the whole open (every check, the scan, the hash) and hands back the content hash and the
 * notices; this thread then opens the same files lazily (config, headers and tokenizer only: milliseconds, no weight
 * byte) to get the LoadedCheckpoint it measures with, and takes the hash and notices from the worker. An .onnx file is
 * parsed in the worker only (a protobuf of up to 2 GiB of inline initializers: seconds): it hands back the spec, the
 * notices and where each W_out's bytes are (onnx.ts OnnxFacts), and this thread loads just the tokenizer.
 *
 * Cancel (`signal`): the worker is told to stop (interrupt.ts: it stops within one chunk and closes its files) and the
 * promise settles only when the worker has exited, so nothing of an abandoned open lives on. A checkpoint whose files
 * total less than OFF_THREAD_BYTES is opened here directly: it reads in well under a tenth of a second, less than a
 * worker takes to start; unless its tokenizer.json is large (OFF_THREAD_TOKENIZER_BYTES). A checkpoint opened through
 * the worker has its tokenizer.json loaded on this thread only if text is encoded here (tokenizer.ts deferredTokenizer):
 * the engine's measurements encode in a worker (tokenizer-remote.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError, labErrorFrom, type ErrorPayload } from '../api/errors';
import { workerScriptFor } from '../base/worker-script';
import { runWorkerThread } from '../base/worker-thread';
import { loadCheckpoint } from './load';
import { hashMemoFile, useHashMemo } from './hash';
import { onnxCheckpoint, type OnnxFacts } from './onnx';
import type { TokenizerFacts } from './tokenizer';
import type { Family, LoadedCheckpoint } from './types';

export interface OpenOptions {
  family?: Family;
  /** abandons the open: it rejects with CANCELLED once nothing of it runs any more */
  signal?: AbortSignal;
  /** 'auto' (default): a worker when the files total OFF_THREAD_BYTES or more; 'always' / 'never' force it */
  offThread?: 'auto' | 'always' | 'never';
}

export const OFF_THREAD_BYTES = 64 * 2 ** 20;
/** a tokenizer.json this large takes a good part of a second to load (JSON, vocabulary, merges): the open goes to the worker */
export const OFF_THREAD_TOKENIZER_BYTES = 2 * 2 ** 20;

/** What the worker sends back from an open: the results of the steps that read the weights (an .onnx file: all it parsed). */
export type OpenReply = { ok: true; contentHash: string; notices: string[]; onnx?: OnnxFacts; tokenizer: TokenizerFacts | null };
export type WorkerReply = OpenReply | { ok: false; error: ErrorPayload };

export interface WorkerInput {
  path: string;
  family?: Family;
  memoFile?: string;
  /** Int32Array over a SharedArrayBuffer: [0] !== 0 asks the worker to stop; [1] !== 0: it holds no file (interrupt.ts) */
  interrupt: Int32Array;
  /** set: load the tokenizer of folder `path` and encode texts (tokenizer-remote.ts) */
  tokenizer?: boolean;
}

const cancelled = () => new LabError('CANCELLED', 'opening the checkpoint was cancelled');

/**
 * The files an open may read (an HF folder's files, or those beside an .onnx file: its external data, config.json):
 * their total bytes, and a signature of them (name, inode, size, mtime, ctime: any write changes ctime, as in hash.ts).
 */
export function checkpointFiles(p: string): { bytes: number; signature: string; tokenizerBytes: number } {
  try {
    const abs = path.resolve(p);
    const dir = fs.statSync(abs).isDirectory() ? abs : path.dirname(abs);
    let bytes = 0;
    let tokenizerBytes = 0;
    const sig: string[] = [abs];
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).slice(0, 10_000)) {
      if (!e.isFile() && !e.isSymbolicLink()) continue;
      try {
        const st = fs.statSync(path.join(dir, e.name));
        if (!st.isFile()) continue;
        bytes += st.size;
        if (e.name === 'tokenizer.json') tokenizerBytes = st.size;
        sig.push(`${e.name}:${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`);
      } catch {
        /* a dangling link: the open itself reports what it needs */
      }
    }
    return { bytes, signature: sig.join('|'), tokenizerBytes };
  } catch {
    return { bytes: 0, signature: '', tokenizerBytes: 0 }; // no such path: the open says so, with the path
  }
}

/**
 * What workers found (content hash, notices) per HF folder, by its files' signature: a run opens its checkpoint up to
 * three times (runs.start hashes its inputs, the session records it, the job measures it), and the scan and hash need
 * reading only once while the files stay as they were.
 */
const found = new Map<string, { contentHash: string; notices: string[]; tokenizer: TokenizerFacts | null }>();
const FOUND_MAX = 32;

export async function openCheckpoint(p: string, opts: OpenOptions = {}): Promise<LoadedCheckpoint> {
  const { signal, family } = opts;
  if (signal?.aborted) throw cancelled();
  const mode = opts.offThread ?? 'auto';
  const files = mode === 'never' ? undefined : checkpointFiles(p);
  if (!files || (mode === 'auto' && files.bytes < OFF_THREAD_BYTES && files.tokenizerBytes < OFF_THREAD_TOKENIZER_BYTES)) {
    const c = await loadCheckpoint(p, { family });
    if (signal?.aborted) throw cancelled();
    return c;
  }
  // an .onnx file's external data may sit in subfolders, which the signature does not see: its findings are not kept
  const key = p.toLowerCase().endsWith('.onnx') ? undefined : `${family ?? ''}|${files.signature}`;
  if (key === undefined) {
    // an .onnx file (up to 2 GiB of inline initializers) is parsed in the worker only: this thread builds the
    // checkpoint from what it found (the down projections' byte ranges) and loads the tokenizer
    const r = await openInWorker(p, family, signal);
    const c = await onnxCheckpoint(path.resolve(p), r.onnx!, r.contentHash, r.tokenizer);
    if (signal?.aborted) throw cancelled();
    return c;
  }
  let facts = found.get(key);
  if (!facts) {
    facts = await openInWorker(p, family, signal);
    useHashMemo(hashMemoFile()); // the worker may have added digests to the memo file: read it again when next needed
    found.set(key, facts);
    if (found.size > FOUND_MAX) found.delete(found.keys().next().value!);
  }
  // the worker has checked everything; this lazy open reads config and headers only (the tokenizer when first used)
  const c = await loadCheckpoint(p, { family, hash: false, scanFinite: false, tokenizer: facts.tokenizer });
  if (signal?.aborted) throw cancelled();
  return { ...c, contentHash: facts.contentHash, notices: [...facts.notices] };
}

/**
 * The worker's script: next to this file as TypeScript in the sources (run through tsx by open-worker-dev.mjs), next
 * to the bundle as checkpoint-worker.cjs in the bundles (scripts/build.mjs, scripts/build-bench.mjs build it from
 * open-worker.ts). In a packaged app the bundle sits in app.asar, the worker in app.asar.unpacked (electron-builder.yml).
 */
export function workerScript(here: string = import.meta.url): string {
  return workerScriptFor(here, 'open-worker-dev.mjs', 'checkpoint-worker.cjs');
}

function openInWorker(p: string, family: Family | undefined, signal: AbortSignal | undefined): Promise<OpenReply> {
  return runWorker<OpenReply>({ path: path.resolve(p), family, memoFile: hashMemoFile() }, signal, cancelled, `opening ${p}`);
}

function runWorker<R extends OpenReply>(job: Omit<WorkerInput, 'interrupt'>, signal: AbortSignal | undefined, cancelError: () => LabError, what: string): Promise<R> {
  // the worker stops within one chunk (its files closed), or at once while it holds no file (parsing an .onnx file)
  const interrupt = new Int32Array(new SharedArrayBuffer(8));
  return runWorkerThread<R, Extract<WorkerReply, { ok: false }>>(workerScript(), { ...job, interrupt } satisfies WorkerInput, {
    name: 'the checkpoint reader',
    what,
    interrupt,
    signal,
    cancelled: cancelError,
    failed: (r) => labErrorFrom(r.error),
    internal: (m) => new LabError('INTERNAL', m),
  });
}
