/**
 * Evaluation data (issue 4 "Evaluation data"): a UTF-8 .txt file or JSONL with a `text` field, tokenized
 * as ONE stream without special tokens (optionally a BOS at the start of every sequence, recorded),
 * the first N tokens kept (N a multiple of S), cut into N/S sequences of S tokens, grouped into batches
 * of B sequences (the last batch may be smaller). Deterministic: no shuffling, no sampling.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LabError } from '../api/errors';
import type { TextTokenizer } from '../checkpoint/types';
import { startRemoteTokenizer } from '../checkpoint/tokenizer-remote';

export interface DataOptions {
  /** token budget N; rounded DOWN to a multiple of seqLen; default: every full sequence in the text */
  tokens?: number;
  seqLen: number;
  batch: number;
  /** put the tokenizer's BOS id at position 0 of every sequence (it then takes one of the S slots) */
  bosPerSequence?: boolean;
}

export interface EvalBatch {
  /** [B, S] token ids */
  ids: Int32Array;
  batch: number;
  seqLen: number;
}

export interface EvalData {
  file: string;
  batches: EvalBatch[];
  /** tokens used = sequences × S */
  tokens: number;
  sequences: number;
  /** tokens the text read gave (the whole text, or with a token budget the prefix that was read: issue 19) */
  streamTokens: number;
  seqLen: number;
  batch: number;
  bosPerSequence: boolean;
}

const JSONL = /\.(jsonl|ndjson)$/i;

/** why a file could not be read, in words (a folder given for the text said only 'EISDIR') */
function unreadable(file: string, e: unknown): LabError {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'EISDIR' ? 'it is a folder, not a text file' : code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (code ?? (e as Error).message);
  return new LabError('NOT_FOUND', `evaluation data ${file} cannot be read: ${why}`, undefined, code === 'EISDIR' ? 'IS_FOLDER' : undefined);
}

/** The first `maxBytes` bytes of a file cut after its last line break (a UTF-8 character boundary; .txt without one: its last space), and whether that is all of it. */
function readPrefix(file: string, maxBytes: number, linesOnly: boolean): { raw: Buffer; whole: boolean } {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw unreadable(file, e);
  }
  try {
    const size = fs.fstatSync(fd).size;
    const n = Math.min(size, maxBytes);
    const raw = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const k = fs.readSync(fd, raw, got, n - got, got);
      if (k <= 0) break;
      got += k;
    }
    if (got >= size) return { raw: raw.subarray(0, got), whole: true };
    // cut after the last line break (or, in a text without one, the last space): never inside a character or a line;
    // a text with neither is cut before its last character that may be incomplete (a UTF-8 lead byte), and JSON lines
    // without a line break in the prefix give nothing yet (the caller reads a longer prefix): never the whole file
    let cut = raw.lastIndexOf(0x0a, got - 1);
    if (cut < 0 && !linesOnly) cut = raw.lastIndexOf(0x20, got - 1);
    if (cut < 0 && linesOnly) return { raw: raw.subarray(0, 0), whole: false };
    if (cut < 0) {
      let end = got;
      while (end > 0 && (raw[end - 1] & 0xc0) === 0x80) end--; // continuation bytes of the last character
      if (end > 0 && raw[end - 1] >= 0xc0) end--; // its lead byte
      return { raw: raw.subarray(0, end), whole: false };
    }
    return { raw: raw.subarray(0, cut + 1), whole: false };
  } catch (e) {
    if (e instanceof LabError) throw e;
    throw unreadable(file, e);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads .txt as is; .jsonl/.ndjson as one `text` per line, joined with a blank line between documents.
 * `maxBytes`: read only the file's first bytes, up to its last line break within them (whole lines, whole documents).
 */
export function readEvalText(file: string, maxBytes = Infinity): string {
  return readEvalPrefix(file, maxBytes).text;
}

function readEvalPrefix(file: string, maxBytes: number): { text: string; whole: boolean } {
  const { raw, whole } = readPrefix(file, maxBytes, JSONL.test(file));
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new LabError('BAD_DATA', `evaluation data ${file} is not valid UTF-8 text`, undefined, 'TEXT_FORMAT');
  }
  if (JSONL.test(file)) {
    const docs: string[] = [];
    const lines = text.split(/\r?\n/);
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch (e) {
        throw new LabError('BAD_DATA', `${file}:${i + 1}: not valid JSON (${(e as Error).message})`, undefined, 'TEXT_FORMAT');
      }
      const t = obj && typeof obj === 'object' ? (obj as { text?: unknown }).text : undefined;
      if (typeof t !== 'string') throw new LabError('BAD_DATA', `${file}:${i + 1}: no string field "text"`, undefined, 'TEXT_FORMAT');
      docs.push(t);
    });
    text = docs.join('\n\n');
  }
  if (text.trim() === '' && whole) throw new LabError('BAD_DATA', `evaluation data ${file} is empty`, undefined, 'TEXT_FORMAT');
  return { text, whole };
}

export function validateDataOptions(o: DataOptions): void {
  if (!Number.isInteger(o.seqLen) || o.seqLen < 2) throw new LabError('BAD_REQUEST', `sequence length must be an integer ≥ 2 (got ${o.seqLen})`);
  if (!Number.isInteger(o.batch) || o.batch < 1) throw new LabError('BAD_REQUEST', `batch size must be an integer ≥ 1 (got ${o.batch})`);
  if (o.tokens !== undefined && (!Number.isInteger(o.tokens) || o.tokens < o.seqLen))
    throw new LabError('BAD_REQUEST', `token budget must be an integer ≥ the sequence length ${o.seqLen} (got ${o.tokens})`);
}

/** Cuts an already tokenized stream into batches (exported for tests and for pre-tokenized input). */
export function batchStream(stream: ArrayLike<number>, o: DataOptions, file: string, bosId?: number): EvalData {
  validateDataOptions(o);
  const bos = o.bosPerSequence ?? false;
  if (bos && bosId === undefined) throw new LabError('BAD_REQUEST', `a BOS per sequence was asked for but the tokenizer has no BOS token`);
  const body = bos ? o.seqLen - 1 : o.seqLen;
  const available = Math.floor(stream.length / body);
  const wanted = o.tokens !== undefined ? Math.floor(o.tokens / o.seqLen) : available;
  if (available < 1 || (o.tokens !== undefined && available < wanted))
    throw new LabError(
      'BAD_DATA',
      `evaluation data ${file} is too short: it gives ${stream.length} tokens, ${o.tokens !== undefined ? `the budget needs ${wanted} sequences of ${o.seqLen}` : `less than one sequence of ${o.seqLen}`}`,
      undefined,
      'TEXT_TOO_SHORT',
    );
  const sequences = wanted;
  const batches: EvalBatch[] = [];
  for (let s0 = 0; s0 < sequences; s0 += o.batch) {
    const b = Math.min(o.batch, sequences - s0);
    const ids = new Int32Array(b * o.seqLen);
    for (let j = 0; j < b; j++) {
      const start = (s0 + j) * body;
      let w = j * o.seqLen;
      if (bos) ids[w++] = bosId!;
      for (let k = 0; k < body; k++) ids[w++] = stream[start + k];
    }
    batches.push({ ids, batch: b, seqLen: o.seqLen });
  }
  return { file, batches, tokens: sequences * o.seqLen, sequences, streamTokens: stream.length, seqLen: o.seqLen, batch: o.batch, bosPerSequence: bos };
}

/** Token ids the tokenizer gives for text it does not know (unk) are not "known tokens". */
function knownTokenCount(ids: ArrayLike<number>, vocabSize: number, unkIds: Set<number>): number {
  let k = 0;
  for (let i = 0; i < ids.length; i++) if (ids[i] >= 0 && ids[i] < vocabSize && !unkIds.has(ids[i])) k++;
  return k;
}

const UNK_PROBE = '\uE000\uE001\uE002';

/**
 * Bounded work (issue 19: a 200 MB text with a 1,024-token budget was read and tokenized whole, 3.3 GB RSS, the
 * engine frozen, cancel included). With a budget, a prefix of the file is read (whole lines) and tokenized; the
 * budget's tokens are taken once a prefix twice as long gives the same first tokens (so the cut cannot change
 * them), else the prefix doubles. A file read whole gives exactly the whole file's tokens, as before. The steps yield
 * each text to encode and get its ids back: the sync loader encodes here, the async one in a worker (or here, yielding).
 */
function* tokenizeSteps(file: string, o: DataOptions): Generator<string, { ids: ArrayLike<number>; whole: boolean }, ArrayLike<number>> {
  if (o.tokens === undefined) return { ids: yield readEvalText(file), whole: true };
  const need = Math.floor(o.tokens / o.seqLen) * (o.bosPerSequence ? o.seqLen - 1 : o.seqLen);
  let bytes = Math.max(64 * 1024, need * 16); // ~4 bytes a token, ×4
  let cur = readEvalPrefix(file, bytes);
  let ids = yield cur.text;
  for (;;) {
    if (cur.whole) return { ids, whole: true };
    bytes *= 2;
    const next = readEvalPrefix(file, bytes);
    const nextIds = yield next.text;
    if (ids.length >= need && nextIds.length >= need && samePrefix(ids, nextIds, need)) return { ids: nextIds, whole: next.whole };
    cur = next;
    ids = nextIds;
  }
}

function samePrefix(a: ArrayLike<number>, b: ArrayLike<number>, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function loadEvalData(file: string, tok: TextTokenizer, o: DataOptions): EvalData {
  validateDataOptions(o);
  const steps = tokenizeSteps(file, o);
  let r = steps.next();
  while (!r.done) r = steps.next(tok.encode(r.value));
  return finishEvalData(file, tok, o, r.value.ids, unkProbe(tok));
}

/**
 * loadEvalData off the event loop: a tokenizer loaded from a folder (loadTokenizer: `dir`) is loaded again and run in
 * a worker thread (main/checkpoint/tokenizer-remote.ts), so neither loading it nor encoding megabytes of text blocks
 * the engine, when the tokenizer file or the text to read is large (worthAWorker); otherwise, and for tokenizers not
 * loaded from a folder, it runs here, yielding to the event loop between calls. `signal` cancels (CANCELLED), ending
 * the worker at once. `offThread` forces the choice.
 */
export async function loadEvalDataAsync(file: string, tok: TextTokenizer, o: DataOptions, signal?: AbortSignal, opts: { offThread?: boolean } = {}): Promise<EvalData> {
  validateDataOptions(o);
  const cancelled = () => new LabError('CANCELLED', 'the measurement was cancelled');
  if (signal?.aborted) throw cancelled();
  if (tok.dir !== undefined && (opts.offThread ?? worthAWorker(file, tok.dir, o))) {
    const remote = await startRemoteTokenizer(tok.dir, signal);
    try {
      const steps = tokenizeSteps(file, o);
      let r = steps.next();
      while (!r.done) r = steps.next(await remote.encode(r.value));
      const probe = await remote.encode(UNK_PROBE).then(
        (ids) => Array.from(ids),
        () => [],
      );
      if (signal?.aborted) throw cancelled();
      return finishEvalData(file, remote, o, r.value.ids, probe);
    } finally {
      await remote.close();
    }
  }
  const steps = tokenizeSteps(file, o);
  let r = steps.next();
  let first = true;
  while (!r.done) {
    if (!first) await new Promise<void>((res) => setTimeout(res, 0)); // a full turn of the event loop: timers, I/O (the socket), cancel
    first = false;
    if (signal?.aborted) throw cancelled();
    r = steps.next(tok.encode(r.value));
  }
  if (signal?.aborted) throw cancelled();
  return finishEvalData(file, tok, o, r.value.ids, unkProbe(tok));
}

/** Below these a worker (its start, loading the tokenizer again) costs more than the work it would take off this thread. */
const OFF_THREAD_TEXT_BYTES = 4 * 2 ** 20;
const OFF_THREAD_TOKENIZER_BYTES = 2 * 2 ** 20;

/** whether the tokenizer file or the text the budget reads is large enough for the worker */
function worthAWorker(file: string, dir: string, o: DataOptions): boolean {
  const size = (f: string) => {
    try {
      return fs.statSync(f).size;
    } catch {
      return 0;
    }
  };
  const tokenizerBytes = Math.max(size(path.join(dir, 'tokenizer.json')), size(path.join(dir, 'tokenizer.model')));
  const need = o.tokens === undefined ? Infinity : Math.floor(o.tokens / o.seqLen) * o.seqLen;
  const textBytes = Math.min(size(file), 2 * Math.max(64 * 1024, need * 16)); // tokenizeSteps' first two prefixes
  return tokenizerBytes >= OFF_THREAD_TOKENIZER_BYTES || textBytes >= OFF_THREAD_TEXT_BYTES;
}

/** what the tokenizer makes of private-use characters (the unknown token, if it is one id repeated) */
function unkProbe(tok: TextTokenizer): number[] {
  try {
    return tok.encode(UNK_PROBE);
  } catch {
    return []; // tokenizers that reject the probe have no unk id to learn here
  }
}

function finishEvalData(file: string, tok: Pick<TextTokenizer, 'vocabSize' | 'bosTokenId' | 'source'>, o: DataOptions, ids: ArrayLike<number>, probe: number[]): EvalData {
  const unk = new Set<number>();
  if (probe.length > 0 && probe.every((x) => x === probe[0])) unk.add(probe[0]);
  if (ids.length === 0 || knownTokenCount(ids, tok.vocabSize, unk) === 0)
    throw new LabError('BAD_DATA', `evaluation data ${file} has no tokens the model's tokenizer (${tok.source}) knows`, undefined, 'TEXT_NO_KNOWN_TOKENS');
  return batchStream(ids, o, file, tok.bosTokenId);
}
