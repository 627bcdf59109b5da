/**
 * A checkpoint folder's files through the ground floor's one door (main/base/regular-file.ts): the weight files and
 * tokenizer.model are regular files, its JSON files (config.json, the shard indexes, tokenizer.json,
 * tokenizer_config.json) are size-capped and parsed there; refused as BAD_CHECKPOINT naming the file.
 */
import { LabError } from '../api/errors';
import { readJsonFile, type Refuse } from '../base/regular-file';

/** the largest each kind of file may be: far above real ones (a 256k-vocabulary tokenizer.json is ≈ 35 MB) */
export const JSON_LIMITS = { config: 16 * 2 ** 20, index: 64 * 2 ** 20, tokenizer: 512 * 2 ** 20 } as const;

/** a checkpoint's file refused: BAD_CHECKPOINT with the message */
export const badCheckpoint: Refuse = (message) => new LabError('BAD_CHECKPOINT', message);

/** a checkpoint's JSON file parsed (throws BAD_CHECKPOINT `${file}: …`); `invalid`: the words before the parser's message */
export function readCheckpointJson(file: string, limit: number, invalid: string): unknown {
  return readJsonFile(file, { limit, what: "a checkpoint's JSON file", invalid }, badCheckpoint);
}
