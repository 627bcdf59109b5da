// An error rebuilt from a worker's payload keeps everything the payload carries, the reason included (the app picks
// its advice by the reason: a rebuild that dropped it turned 'not UTF-8 text' into a generic failure).
import { expect, test } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { LabError, labErrorFrom, toErrorPayload } from '../../main/api/errors';

test('labErrorFrom is the reverse of toPayload: code, message, details and reason come through', () => {
  const e = new LabError('BAD_DATA', 'evaluation data x.txt is not valid UTF-8 text', { line: 3 }, 'TEXT_FORMAT');
  const back = labErrorFrom(structuredClone(toErrorPayload(e)));
  expect(back).toBeInstanceOf(LabError);
  expect({ code: back.code, message: back.message, details: back.details, reason: back.reason }).toEqual({ code: 'BAD_DATA', message: e.message, details: { line: 3 }, reason: 'TEXT_FORMAT' });
  expect(labErrorFrom({ code: 'NOT_FOUND', message: 'm' }).reason).toBeUndefined();
});

test('no rebuild of a worker payload in main/ picks the fields one by one (it is labErrorFrom, which keeps the reason)', () => {
  const root = path.resolve(__dirname, '../../main');
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (/\.ts$/.test(ent.name) && !ent.name.endsWith('.test.ts') && /new LabError\(\s*\w+\.error\.code\b/.test(fs.readFileSync(p, 'utf8'))) offenders.push(path.relative(root, p));
    }
  };
  walk(root);
  expect(offenders).toEqual([]);
});
