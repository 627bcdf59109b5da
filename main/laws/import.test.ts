import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LabError } from '../api/errors';
import { parseCsv, pointsFromCsv, pointsFromJson, readPointsFile } from './import';

function errorOf(fn: () => unknown): LabError {
  try {
    fn();
  } catch (e) {
    if (e instanceof LabError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('CSV parsing', () => {
  it('handles quotes, escaped quotes, embedded newlines, CRLF, BOM and blank lines, keeping line numbers', () => {
    const rows = parseCsv('\ufeffa,b\r\n"x, y","say ""hi"""\r\n\r\n"multi\nline",2\n3,4');
    expect(rows).toEqual([
      { line: 1, fields: ['a', 'b'] },
      { line: 2, fields: ['x, y', 'say "hi"'] },
      { line: 4, fields: ['multi\nline', '2'] },
      { line: 6, fields: ['3', '4'] },
    ]);
    expect(parseCsv('a\tb\n1\t2')[1].fields).toEqual(['1', '2']);
    expect(() => parseCsv('a,b\n"open,1')).toThrow(/line 2: a quoted field is never closed/);
  });
  it('reads points with optional columns and aliases', () => {
    const p = pointsFromCsv('token_passed,activation_ratio,series,params,width,depth,activation,extra\n1e9,0.1,"0.1B relu",1.08e8,768,16,relu,x\n2000000000,0.095,0.1B relu,1.08e8,768,16,relu,y\n', 'p.csv');
    expect(p).toHaveLength(2);
    expect(p[0]).toEqual({ tokens: 1e9, activationRatio: 0.1, series: '0.1B relu', params: 1.08e8, width: 768, depth: 16, activation: 'relu', source: 'p.csv:2' });
  });
  it('reports every bad row with file:line, column and value, never skipping one', () => {
    const e = errorOf(() => pointsFromCsv('tokens,activation_ratio\n1e9,0.1\n2e9,abc\n-5,0.09\n3e9,7.5\n4e9\n5e9,1.5\n6e9,NaN\n7e9,\n', 'bad.csv'));
    expect(e.code).toBe('BAD_DATA');
    expect(e.message).toContain('bad.csv:3: column activation_ratio, value \'abc\': not a finite number');
    expect(e.message).toContain('bad.csv:4: column tokens, value \'-5\': negative tokens');
    expect(e.message).toContain("bad.csv:5: column activation_ratio, value '7.5': outside [0, 1] (a percentage? divide by 100)");
    expect(e.message).toContain('bad.csv:6: column *');
    expect(e.message).toContain("bad.csv:7: column activation_ratio, value '1.5': outside [0, 1]");
    expect(e.message).toContain("bad.csv:8: column activation_ratio, value 'NaN': not a finite number");
    expect(e.message).toContain('bad.csv:9: column activation_ratio');
    expect((e.details as { errors: unknown[] }).errors).toHaveLength(7);
  });
  it('names a missing column and an empty file', () => {
    expect(() => pointsFromCsv('tokens,ratio\n1,0.1\n', 'm.csv')).toThrow(/m.csv:1: missing column 'activation_ratio'/);
    expect(() => pointsFromCsv('', 'e.csv')).toThrow(/e.csv is empty/);
    expect(() => pointsFromCsv('tokens,activation_ratio\n', 'h.csv')).toThrow(/no rows/);
  });
});

describe('JSON points', () => {
  it("reads rows, { points }, and the authors' column form", () => {
    expect(pointsFromJson('[{"tokens":1e9,"activation_ratio":0.1,"series":"s"}]')[0]).toMatchObject({ tokens: 1e9, activationRatio: 0.1, series: 's' });
    expect(pointsFromJson('{"points":[{"tokens":1,"activationRatio":0.5}]}')[0]).toMatchObject({ tokens: 1, activationRatio: 0.5 });
    const c = pointsFromJson('{"token_passed":[800978889,1601756782],"activation_ratio":[0.1047,0.0954],"series":"0.1b_relu","activation":"relu"}', '0.1b_relu.txt');
    expect(c).toEqual([
      { tokens: 800978889, activationRatio: 0.1047, series: '0.1b_relu', activation: 'relu', source: '0.1b_relu.txt[0]' },
      { tokens: 1601756782, activationRatio: 0.0954, series: '0.1b_relu', activation: 'relu', source: '0.1b_relu.txt[1]' },
    ]);
  });
  it('reports bad rows by index and refuses malformed JSON', () => {
    const e = errorOf(() => pointsFromJson('[{"tokens":"x","activation_ratio":0.1},{"tokens":1},3,{"tokens":-1,"activation_ratio":-0.2}]', 'b.json'));
    expect(e.message).toContain("b.json[0]: column tokens, value 'x': not a finite number");
    expect(e.message).toContain('b.json[1]: column activation_ratio');
    expect(e.message).toContain('b.json[2]: column *');
    expect(e.message).toContain("b.json[3]: column tokens, value '-1': negative tokens");
    expect(e.message).toContain("b.json[3]: column activation_ratio, value '-0.2'");
    expect(() => pointsFromJson('{"tokens":[1,2],"activation_ratio":[0.1]}', 'l.json')).toThrow(/2 values but activation_ratio has 1/);
    expect(() => pointsFromJson('{oops', 'j.json')).toThrow(/j.json is not valid JSON/);
    expect(() => pointsFromJson('{"a":1}', 'o.json')).toThrow(/missing column/);
  });
  it('reads files by extension or content, and names a missing file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'laws-import-'));
    fs.writeFileSync(path.join(dir, 'a.txt'), '{"token_passed":[1e9],"activation_ratio":[0.2]}');
    fs.writeFileSync(path.join(dir, 'b.csv'), 'tokens,activation_ratio\n1e9,0.2\n');
    expect(readPointsFile(path.join(dir, 'a.txt'))[0].activationRatio).toBe(0.2);
    expect(readPointsFile(path.join(dir, 'b.csv'))[0].source).toBe('b.csv:2');
    expect(() => readPointsFile(path.join(dir, 'none.csv'))).toThrow(/does not exist/);
    expect(() => readPointsFile(dir)).toThrow(/is not a file/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
