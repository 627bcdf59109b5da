/**
 * The files of a checkpoint folder are regular files: a name that is a folder, a device (/dev/zero: read for ever) or a
 * FIFO (its open blocks until a writer comes) is refused with the file and what it is, before it is opened
 * (checkRegularFile: the weight files, tokenizer.model). Its JSON files (config.json, the shard indexes, tokenizer.json,
 * tokenizer_config.json) are read through one door: that, and a file far larger than such a file ever is (read whole
 * into one string) refused before a byte is read; text that is not JSON is refused with the parser's words after
 * `invalid`.
 */
import fs from 'node:fs';
import { LabError } from '../api/errors';

/** the largest each kind of file may be: far above real ones (a 256k-vocabulary tokenizer.json is ≈ 35 MB) */
export const JSON_LIMITS = { config: 16 * 2 ** 20, index: 64 * 2 ** 20, tokenizer: 512 * 2 ** 20 } as const;

/** What a path that is not a regular file is, in words (also the session file's check: main/store/db.ts). */
export function fileKind(st: fs.Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * Throws `code` (BAD_CHECKPOINT) `${file}: is a named pipe (FIFO), not <what>` unless `file` is a regular file; returns
 * its facts. (Also the evaluation text's check before a job reads it: main/jobs/inputs.ts.)
 */
export function checkRegularFile(file: string, what: string, code: 'BAD_CHECKPOINT' | 'BAD_DATA' = 'BAD_CHECKPOINT'): fs.Stats {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new LabError(code, `${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!st.isFile()) throw new LabError(code, `${file}: is ${fileKind(st)}, not ${what}`);
  return st;
}

/** `file` parsed (throws BAD_CHECKPOINT `${file}: …`); `invalid`: the words before the parser's message ("not valid JSON"). */
export function readJsonFile(file: string, limit: number, invalid: string): unknown {
  const st = checkRegularFile(file, 'a JSON file');
  if (st.size > limit) throw new LabError('BAD_CHECKPOINT', `${file}: ${st.size} bytes, far larger than such a file is (limit ${limit}): not a checkpoint's JSON file`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new LabError('BAD_CHECKPOINT', `${file}: ${invalid} (${(e as Error).message})`);
  }
}
