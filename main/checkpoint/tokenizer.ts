/**
 * Tokenizers, fully offline: tokenizer.json through @huggingface/tokenizers (pure JS, no network code), and
 * tokenizer.model through @agnai/sentencepiece-js (Google's SentencePiece compiled to WebAssembly, the wasm
 * inlined in the package: nothing is fetched; checked against Python sentencepiece ids in the tests).
 * BOS/EOS come from tokenizer_config.json. encode() never adds special tokens (METHOD: one stream).
 */
import sentencepiece from '@agnai/sentencepiece-js';
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { LabError } from '../api/errors';
import type { TextTokenizer } from './types';
import { badCheckpoint, JSON_LIMITS, readCheckpointJson } from './json-file';
import { checkRegularFile } from '../base/regular-file';

/**
 * tokenizer.json or tokenizer_config.json: a JSON object (a list or a number was passed on, and the tokenizers library's
 * error was then reported against tokenizer.json whichever file was wrong); a special token of tokenizer_config.json
 * (bos_token, eos_token) is a string, {content: string} or null (another type was taken as "no such token").
 */
function readJson(file: string): Record<string, unknown> {
  const v = readCheckpointJson(file, JSON_LIMITS.tokenizer, 'cannot read as JSON');
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw badCheckpoint(`${file}: not a JSON object (got ${Array.isArray(v) ? 'a list' : v === null ? 'null' : typeof v})`);
  const obj = v as Record<string, unknown>;
  if (path.basename(file) === 'tokenizer_config.json')
    for (const key of ['bos_token', 'eos_token']) {
      const t = obj[key];
      if (t != null && typeof t !== 'string' && !(typeof t === 'object' && typeof (t as { content?: unknown }).content === 'string'))
        throw badCheckpoint(`${file}: field '${key}' must be a token (a string, or an object with a string 'content'), got ${JSON.stringify(t).slice(0, 80)}`);
    }
  return obj;
}

/** What the engine shows and checks of a tokenizer without loading it (found where it was loaded: the checkpoint reader's worker). */
export type TokenizerFacts = Pick<TextTokenizer, 'vocabSize' | 'bosTokenId' | 'eosTokenId' | 'source'>;

export function tokenizerFacts(t: TextTokenizer): TokenizerFacts {
  return { vocabSize: t.vocabSize, bosTokenId: t.bosTokenId, eosTokenId: t.eosTokenId, source: t.source };
}

/**
 * The tokenizer of folder `dir` as its facts say (the worker that opened the checkpoint loaded it), loaded here only if
 * text is encoded on this thread: the engine's measurements encode in a worker (tokenizer-remote.ts), so a
 * tokenizer.json of tens of MB is never parsed on the engine's thread. A SentencePiece model (loaded asynchronously,
 * and small) is loaded now.
 */
export async function deferredTokenizer(dir: string, facts: TokenizerFacts): Promise<TextTokenizer | undefined> {
  if (facts.source !== 'tokenizer.json') return loadTokenizer(dir);
  let real: TextTokenizer | undefined;
  const get = () => {
    real ??= loadTokenizerJson(dir);
    if (!real) throw new LabError('BAD_CHECKPOINT', `${path.join(dir, 'tokenizer.json')} is gone`);
    return real;
  };
  return { ...facts, dir, encode: (text) => get().encode(text), decode: (ids) => get().decode(ids) };
}

export async function loadTokenizer(dir: string): Promise<TextTokenizer | undefined> {
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  const fromJson = loadTokenizerJson(dir);
  if (fromJson) return fromJson;
  const spm = path.join(dir, 'tokenizer.model');
  if (fs.existsSync(spm)) return { ...(await loadSentencePiece(spm, fs.existsSync(cfgFile) ? readJson(cfgFile) : {})), dir };
  return undefined;
}

/** tokenizer.json of folder `dir` (synchronous), or undefined when there is none */
function loadTokenizerJson(dir: string): TextTokenizer | undefined {
  const tj = path.join(dir, 'tokenizer.json');
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  if (fs.existsSync(tj)) {
    const json = readJson(tj);
    const cfg = fs.existsSync(cfgFile) ? readJson(cfgFile) : {};
    let tok: Tokenizer;
    try {
      tok = new Tokenizer(json as never, cfg as never);
    } catch (e) {
      throw new LabError('BAD_CHECKPOINT', `${tj}: not a tokenizer the tokenizers library can load (${(e as Error).message})`);
    }
    const vocab = (json.model as { vocab?: Record<string, number> } | undefined)?.vocab;
    const added = (json.added_tokens as { id: number; content: string }[] | undefined) ?? [];
    const ids = [...Object.values(vocab ?? {}), ...added.map((a) => a.id)];
    const idOf = (t: unknown): number | undefined => {
      const s = typeof t === 'string' ? t : (t as { content?: string } | undefined)?.content;
      if (!s) return undefined;
      return added.find((a) => a.content === s)?.id ?? vocab?.[s];
    };
    return {
      encode: (text) => tok.encode(text, { add_special_tokens: false }).ids,
      decode: (ids) => tok.decode(ids, { skip_special_tokens: false }),
      vocabSize: ids.reduce((m, id) => Math.max(m, id + 1), 0), // not Math.max(...ids): 256k arguments overflow the stack
      bosTokenId: idOf(cfg.bos_token),
      eosTokenId: idOf(cfg.eos_token),
      source: 'tokenizer.json',
      dir,
    };
  }
  return undefined;
}

/** Piece strings of a SentencePiece ModelProto (field 1: repeated SentencePiece{ piece = 1 }). */
export function sentencePiecePieces(bytes: Uint8Array, file: string): string[] {
  const pieces: string[] = [];
  let p = 0;
  const fail = (): never => {
    throw new LabError('BAD_CHECKPOINT', `${file}: not a SentencePiece model (damaged protobuf at byte ${p})`);
  };
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (p >= bytes.length) fail();
      const b = bytes[p++];
      v += (b & 0x7f) * mul;
      if (!(b & 0x80)) return v;
      mul *= 128;
      if (mul > 2 ** 56) fail();
    }
  };
  const skip = (wire: number, end: number) => {
    if (wire === 0) varint();
    else if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else if (wire === 2) {
      const n = varint(); // not `p += varint()`: that reads p before the call moves it
      p += n;
    }
    else fail();
    if (p > end) fail();
  };
  while (p < bytes.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (field === 1 && wire === 2) {
      const len = varint();
      const end = p + len;
      if (end > bytes.length) fail();
      let piece = '';
      while (p < end) {
        const k = varint();
        if (k === 10) {
          const n = varint();
          if (p + n > end) fail();
          piece = Buffer.from(bytes.buffer, bytes.byteOffset + p, n).toString('utf8');
          p += n;
        } else skip(k & 7, end);
      }
      pieces.push(piece);
    } else skip(wire, bytes.length);
  }
  return pieces;
}

async function loadSentencePiece(file: string, cfg: Record<string, unknown>): Promise<TextTokenizer> {
  checkRegularFile(file, 'a SentencePiece model', badCheckpoint);
  const pieces = sentencePiecePieces(fs.readFileSync(file), file);
  if (!pieces.length) throw new LabError('BAD_CHECKPOINT', `${file}: SentencePiece model has no pieces`);
  const proc = new sentencepiece.SentencePieceProcessor();
  try {
    await proc.load(file);
  } catch (e) {
    throw new LabError('BAD_CHECKPOINT', `${file}: SentencePiece cannot load it (${(e as Error).message})`);
  }
  const idOf = (t: unknown): number | undefined => {
    const s = typeof t === 'string' ? t : (t as { content?: string } | undefined)?.content;
    const i = s ? pieces.indexOf(s) : -1;
    return i >= 0 ? i : undefined;
  };
  return {
    encode: (text) => proc.encodeIds(text),
    decode: (ids) => proc.decodeIds(ids),
    vocabSize: pieces.length,
    bosTokenId: idOf(cfg.bos_token ?? '<s>'),
    eosTokenId: idOf(cfg.eos_token ?? '</s>'),
    source: 'tokenizer.model',
  };
}
