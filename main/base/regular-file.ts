/**
 * Files from outside (a checkpoint's files, an evaluation text, a list or sweep spec file, a session file) are regular
 * files: a name that is a folder, a device (/dev/zero: read for ever) or a FIFO (its open blocks until a writer comes) is
 * refused with the file and what it is, before it is opened (checkRegularFile). A JSON file is read through one door
 * (readJsonFile): that check, then a file far larger than such a file ever is (read whole into one string) refused
 * before a byte is read, then text that is not JSON refused with the parser's words.
 *
 * The ground floor throws no error type of its own: `refuse` makes the caller's error from the message (main/api's
 * LabError with the caller's code: BAD_CHECKPOINT for a checkpoint's files, BAD_DATA for the user's other files).
 */
import fs from 'node:fs';

/** makes the error to throw from a message that names the file and the problem */
export type Refuse = (message: string) => Error;

/** What a path that is not a regular file is, in words. */
export function fileKind(st: fs.Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** Throws refuse(`${file}: is a named pipe (FIFO), not <what>`) unless `file` is a regular file; returns its facts. */
export function checkRegularFile(file: string, what: string, refuse: Refuse): fs.Stats {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw refuse(`${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!st.isFile()) throw refuse(`${file}: is ${fileKind(st)}, not ${what}`);
  return st;
}

export interface JsonFileKind {
  /** the largest such a file may be, in bytes (far above real ones) */
  limit: number;
  /** what the file should be, for the size refusal (`not <what>`): "a checkpoint's JSON file" */
  what: string;
  /** the words before the parser's message: "not valid JSON" */
  invalid: string;
  /** what a name that is a FIFO, device or folder is not (default "a JSON file") */
  file?: string;
}

/**
 * One of the app's own JSON files (a hash memo, a lock, a list of recent files) parsed, or undefined when it is missing,
 * not a regular file, larger than `limit` or not JSON: such a file is rebuilt, never waited on (a FIFO in its place
 * blocked the read for ever) nor read whole when huge.
 */
export function readOwnJson(file: string, limit: number): unknown {
  try {
    return readJsonFile(file, { limit, what: 'such a file', invalid: 'not JSON' }, (m) => new Error(m));
  } catch {
    return undefined;
  }
}

/** `file` parsed; a FIFO, device, folder, oversized file or text that is not JSON throws refuse(`${file}: …`). */
export function readJsonFile(file: string, kind: JsonFileKind, refuse: Refuse): unknown {
  const st = checkRegularFile(file, kind.file ?? 'a JSON file', refuse);
  if (st.size > kind.limit) throw refuse(`${file}: ${st.size} bytes, far larger than such a file is (limit ${kind.limit}): not ${kind.what}`);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw refuse(`${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw refuse(`${file}: ${kind.invalid} (${(e as Error).message})`);
  }
}
