/**
 * Tokenizers, fully offline: tokenizer.json through @huggingface/tokenizers (pure JS, no network code),
 * with BOS/EOS from tokenizer_config.json. encode() never adds special tokens (METHOD: one stream).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { LabError } from '../api/errors';
import type { TextTokenizer } from './types';

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new LabError('BAD_CHECKPOINT', `${file}: cannot read as JSON (${(e as Error).message})`);
  }
}

export function loadTokenizer(dir: string): TextTokenizer | undefined {
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
      vocabSize: ids.length ? Math.max(...ids) + 1 : 0,
      bosTokenId: idOf(cfg.bos_token),
      eosTokenId: idOf(cfg.eos_token),
      source: 'tokenizer.json',
    };
  }
  return undefined;
}
