/**
 * The JSON files of a checkpoint folder (config.json, the shard index, tokenizer.json, tokenizer_config.json), read
 * once through one door: a name that is a folder, a device (/dev/zero: read for ever), a FIFO (blocks until a writer
 * comes) or a file far larger than such a file ever is (read whole into one string) is refused with the file and the
 * problem before a byte is read; text that is not JSON is refused with the parser's words after `invalid`.
 */
import fs from 'node:fs';
import { LabError } from '../api/errors';

/** the largest each kind of file may be: far above real ones (a 256k-vocabulary tokenizer.json is ≈ 35 MB) */
export const JSON_LIMITS = { config: 16 * 2 ** 20, index: 64 * 2 ** 20, tokenizer: 512 * 2 ** 20 } as const;

const kind = (st: fs.Stats) => (st.isDirectory() ? 'a folder' : st.isFIFO() ? 'a named pipe (FIFO)' : st.isSocket() ? 'a socket' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'not a regular file');

/** `file` parsed (throws BAD_CHECKPOINT `${file}: …`); `invalid`: the words before the parser's message ("not valid JSON"). */
export function readJsonFile(file: string, limit: number, invalid: string): unknown {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new LabError('BAD_CHECKPOINT', `${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!st.isFile()) throw new LabError('BAD_CHECKPOINT', `${file}: is ${kind(st)}, not a JSON file`);
  if (st.size > limit) throw new LabError('BAD_CHECKPOINT', `${file}: ${st.size} bytes, far larger than such a file is (limit ${limit}): not a checkpoint's JSON file`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new LabError('BAD_CHECKPOINT', `${file}: ${invalid} (${(e as Error).message})`);
  }
}
