// The run monitor's advice under a failed run's message (renderer/src/result.ts adviceFor) follows what went wrong,
// read from the error's reason (main/api/errors.ts ERROR_REASONS), never from its words: a binary or non-UTF-8
// evaluation text was told to "use a longer evaluation text", a folder given as the text to "check the path: the
// engine could not find that file", NaN weights to shorten the text. Here the engine's own errors for real files
// cross the contract (toErrorPayload, what every transport sends) and the advice is picked from what arrives.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { adviceFor } from '../../renderer/src/result';
import { ApiError, existsAlreadyText } from '../../renderer/src/api/errors';
import { writableOut } from '../../main/engine/handlers/output';
import { toErrorPayload, type ErrorPayload } from '../../main/api/errors';
import { loadEvalData } from '../../main/metrics/data';
import type { TextTokenizer } from '../../main/checkpoint/types';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-advice-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const write = (name: string, body: string | Buffer) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, body);
  return f;
};
/** a–z known (ids 1–26), everything else the unknown id 0 */
const tok: TextTokenizer = { encode: (t) => Array.from(t, (ch) => (ch >= 'a' && ch <= 'z' ? ch.charCodeAt(0) - 96 : 0)), decode: () => '', vocabSize: 27, source: 'test' };

/** what the window receives when the engine fails to read `file` as the evaluation text */
function failure(file: string, o = { seqLen: 8, batch: 1 }): ErrorPayload {
  try {
    loadEvalData(file, tok, o);
  } catch (e) {
    return JSON.parse(JSON.stringify(toErrorPayload(e))) as ErrorPayload;
  }
  throw new Error(`${file} was read`);
}
const advice = (p: ErrorPayload) => adviceFor(p.code, p.reason);

test('advice for the evaluation text follows the reason the engine gives', () => {
  expect(advice(failure(write('bin.txt', Buffer.from([0xff, 0xfe, 0x00, 0x81]))))).toMatch(/plain UTF-8 text file/);
  expect(advice(failure(write('e.txt', '  \n')))).toMatch(/plain UTF-8 text file/);
  expect(advice(failure(write('bad.jsonl', '{"txt": 1}\n')))).toMatch(/plain UTF-8 text file/);
  expect(advice(failure(write('s.txt', 'abc')))).toMatch(/longer evaluation text/);
  expect(advice(failure(write('digits.txt', '0123456789 '.repeat(20))))).toMatch(/tokenizer covers/);
  fs.mkdirSync(path.join(dir, 'models'));
  expect(advice(failure(path.join(dir, 'models')))).toMatch(/text file itself, not the folder/);
  expect(advice(failure(path.join(dir, 'nope.txt')))).toMatch(/Check the path/);
});

test('words that look like a reason are not one: the advice reads the reason, not the message', () => {
  // a BAD_DATA that is not about the text (NaN weights) is not answered with text advice, whatever it says
  const a = adviceFor('BAD_DATA');
  expect(a).not.toMatch(/evaluation text|token budget/);
  expect(a).toMatch(/names the file/);
  const p = toErrorPayload({ code: 'BAD_DATA', message: 'model.safetensors is too short', reason: 'NOT_A_REASON' });
  expect(p.reason).toBeUndefined();
  expect(advice(p)).toMatch(/names the file/);
});

test("an export onto an existing file: the window's Replace offer comes from the reason and the path, not the CLI's words", () => {
  const file = write('fig.svg', '<svg></svg>');
  let payload: ErrorPayload | undefined;
  try {
    writableOut(file, 'svg');
  } catch (e) {
    payload = JSON.parse(JSON.stringify(toErrorPayload(e))) as ErrorPayload;
  }
  expect(payload).toMatchObject({ code: 'BAD_REQUEST', reason: 'FILE_EXISTS', details: { path: file } });
  expect(payload!.message).toContain('--overwrite'); // the CLI's words stay the engine's message
  const text = existsAlreadyText(new ApiError(payload!));
  expect(text).toBe(`${file} exists already: choose another name, or replace it`);
  // replacing a file of another type is refused without a Replace offer
  let other: ErrorPayload | undefined;
  try {
    writableOut(file, 'pdf', true);
  } catch (e) {
    other = toErrorPayload(e);
  }
  expect(other!.reason).toBeUndefined();
  expect(existsAlreadyText(new ApiError(other!))).toBeUndefined();
});
