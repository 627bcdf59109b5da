// `runs` on a session a killed measurement left (kill -9, a crash): the run is shown as interrupted with its saved steps,
// and one line gives the command that continues it — every option of its recorded config written out, so the resume's
// config is the very one recorded (a resume compares them). It said "interrupted" and nothing else.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { measureConfigSchema } from '../api/domains/runs';
import { SessionStore } from '../store/session';
import { measureFlagsConfig } from './measure';
import { resumeCommand, runsCommand } from './runs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab runs-')); // a space: the command quotes it
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** the run config a `measure` command line gives (the CLI's own flag mapping), parsed as runs.start parses it */
function configOf(cmd: string): unknown {
  const words = [...cmd.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)].map((m) => (m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]));
  expect(words.slice(0, 2)).toEqual(['sparsity-lab', 'measure']);
  const values: Record<string, string | boolean> = {};
  for (let i = 3; i < words.length; i++) {
    const flag = words[i].replace(/^--/, '');
    if (flag === 'bos') values.bos = true;
    else values[flag] = words[++i];
  }
  const { data, resume: _r, session: _s, 'sweep-p': sweepP, ...rest } = values;
  return measureConfigSchema.parse({ kind: 'measure', checkpoint: words[2], data, ...measureFlagsConfig(rest), ...(sweepP ? { sweepP: String(sweepP).split(',').map(Number) } : {}) });
}

test('an interrupted run is shown with its saved steps and the command that continues it with its recorded config', async () => {
  const file = path.join(dir, 'lab.sparsitylab');
  const config = measureConfigSchema.parse({ kind: 'measure', checkpoint: path.join(dir, "it's model"), data: path.join(dir, 'eval.txt'), p: 5, tokens: 4096, seqLen: 128, bosPerSequence: true, deviceMemory: 2 });
  const sweep = measureConfigSchema.parse({ kind: 'measure', checkpoint: path.join(dir, 'm'), data: path.join(dir, 'eval.txt'), sweepP: [1, 5, 10] });
  const s = SessionStore.create(file);
  s.createRun({ id: 'killed', kind: 'measure', method: 'cett-ppl', p: 5, config, status: 'running' });
  s.updateRun('killed', { steps: 3 });
  s.createRun({ id: 'done', kind: 'measure', method: 'cett-ppl', p: 1, config: sweep, status: 'completed' });
  s.close(); // as a killed writer left it: 'running', no live lock
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (m: string) => void out.push(m);
  console.error = (m: string) => void err.push(m);
  try {
    expect(await runsCommand.run([file], undefined as never)).toBe(0);
  } finally {
    console.log = log;
    console.error = error;
  }
  expect(out.find((l) => l.startsWith('killed'))).toMatch(/^killed {2}interrupted .*\[3 steps saved\]$/);
  expect(err).toHaveLength(1);
  const [head, cmd] = err[0].split('\n  ');
  expect(head).toBe('interrupted: killed stopped before it finished (3 steps saved); continue it with');
  expect(cmd).toContain(`'${path.join(dir, "it's model").replace(/'/g, `'\\''`)}'`);
  expect(cmd.endsWith(` --resume killed --session '${file}'`)).toBe(true);
  expect(JSON.stringify(configOf(cmd))).toBe(JSON.stringify(config));
  expect(JSON.stringify(configOf(resumeCommand(sweep, 'x', file)!))).toBe(JSON.stringify(sweep));
  expect(resumeCommand({ kind: 'measure-series', checkpoints: [] }, 'x', file)).toBeUndefined();
});
