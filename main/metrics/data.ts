/**
 * Evaluation data (issue 4 "Evaluation data"): a UTF-8 .txt file or JSONL with a `text` field, tokenized
 * as ONE stream without special tokens (optionally a BOS at the start of every sequence, recorded),
 * the first N tokens kept (N a multiple of S), cut into N/S sequences of S tokens, grouped into batches
 * of B sequences (the last batch may be smaller). Deterministic: no shuffling, no sampling.
 */
import fs from 'node:fs';
import { LabError } from '../api/errors';
import type { TextTokenizer } from '../checkpoint/types';

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

/** The first `maxBytes` bytes of a file cut after its last line break (a UTF-8 character boundary; .txt without one: its last space), and whether that is all of it. */
function readPrefix(file: string, maxBytes: number, linesOnly: boolean): { raw: Buffer; whole: boolean } {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new LabError('NOT_FOUND', `evaluation data ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
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
    // cut after the last line break (or, in a text without one, the last space): never inside a character or a line
    let cut = raw.lastIndexOf(0x0a, got - 1);
    if (cut < 0 && !linesOnly) cut = raw.lastIndexOf(0x20, got - 1);
    if (cut < 0) return readPrefix(file, Infinity, linesOnly);
    return { raw: raw.subarray(0, cut + 1), whole: false };
  } catch (e) {
    if (e instanceof LabError) throw e;
    throw new LabError('NOT_FOUND', `evaluation data ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
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
    throw new LabError('BAD_DATA', `evaluation data ${file} is not valid UTF-8 text`);
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
        throw new LabError('BAD_DATA', `${file}:${i + 1}: not valid JSON (${(e as Error).message})`);
      }
      const t = obj && typeof obj === 'object' ? (obj as { text?: unknown }).text : undefined;
      if (typeof t !== 'string') throw new LabError('BAD_DATA', `${file}:${i + 1}: no string field "text"`);
      docs.push(t);
    });
    text = docs.join('\n\n');
  }
  if (text.trim() === '') throw new LabError('BAD_DATA', `evaluation data ${file} is empty`);
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
function knownTokenCount(ids: number[], tok: TextTokenizer, unkIds: Set<number>): number {
  let k = 0;
  for (const id of ids) if (id >= 0 && id < tok.vocabSize && !unkIds.has(id)) k++;
  return k;
}

/**
 * Bounded work (issue 19: a 200 MB text with a 1,024-token budget was read and tokenized whole, 3.3 GB RSS, the
 * engine frozen, cancel included). With a budget, a prefix of the file is read (whole lines) and tokenized; the
 * budget's tokens are taken once a prefix twice as long gives the same first tokens (so the cut cannot change
 * them), else the prefix doubles. A file read whole gives exactly the whole file's tokens, as before. Each step is
 * a yield, so the async loader lets the event loop run and cancel in between.
 */
function* tokenizeSteps(file: string, tok: TextTokenizer, o: DataOptions): Generator<void, { ids: number[]; whole: boolean }> {
  if (o.tokens === undefined) return { ids: tok.encode(readEvalText(file)), whole: true };
  const need = Math.floor(o.tokens / o.seqLen) * (o.bosPerSequence ? o.seqLen - 1 : o.seqLen);
  let bytes = Math.max(64 * 1024, need * 16); // ~4 bytes a token, ×4
  let cur = readEvalPrefix(file, bytes);
  let ids = tok.encode(cur.text);
  for (;;) {
    if (cur.whole) return { ids, whole: true };
    yield;
    bytes *= 2;
    const next = readEvalPrefix(file, bytes);
    const nextIds = tok.encode(next.text);
    if (ids.length >= need && nextIds.length >= need && ids.slice(0, need).every((v, i) => v === nextIds[i])) return { ids: nextIds, whole: next.whole };
    cur = next;
    ids = nextIds;
  }
}

export function loadEvalData(file: string, tok: TextTokenizer, o: DataOptions): EvalData {
  validateDataOptions(o);
  const steps = tokenizeSteps(file, tok, o);
  let r = steps.next();
  while (!r.done) r = steps.next();
  return finishEvalData(file, tok, o, r.value.ids);
}

/** loadEvalData off the event loop's critical path: yields between tokenizer calls; `signal` cancels (CANCELLED). */
export async function loadEvalDataAsync(file: string, tok: TextTokenizer, o: DataOptions, signal?: AbortSignal): Promise<EvalData> {
  validateDataOptions(o);
  const cancelled = () => new LabError('CANCELLED', 'the measurement was cancelled');
  if (signal?.aborted) throw cancelled();
  const steps = tokenizeSteps(file, tok, o);
  let r = steps.next();
  while (!r.done) {
    await new Promise<void>((res) => setTimeout(res, 0)); // a full turn of the event loop: timers, I/O (the socket), cancel
    if (signal?.aborted) throw cancelled();
    r = steps.next();
  }
  if (signal?.aborted) throw cancelled();
  return finishEvalData(file, tok, o, r.value.ids);
}

function finishEvalData(file: string, tok: TextTokenizer, o: DataOptions, ids: number[]): EvalData {
  const unk = new Set<number>();
  // the unknown token is whatever a string of private-use characters encodes to, if it is one id repeated
  try {
    const probe = tok.encode('\uE000\uE001\uE002');
    if (probe.length > 0 && probe.every((x) => x === probe[0])) unk.add(probe[0]);
  } catch {
    // tokenizers that reject the probe have no unk id to learn here
  }
  if (ids.length === 0 || knownTokenCount(ids, tok, unk) === 0)
    throw new LabError('BAD_DATA', `evaluation data ${file} has no tokens the model's tokenizer (${tok.source}) knows`);
  return batchStream(ids, o, file, tok.bosTokenId);
}
