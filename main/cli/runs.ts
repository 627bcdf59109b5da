import { parseArgs } from 'node:util';
import path from 'node:path';
import { LabError } from '../api/errors';
import { SessionStore } from '../store/index';
import type { CliCommand } from './commands';
import { forTerminal } from './terminal';
import { MEASURE_FLAGS } from './measure';

/** a word for a shell line: as it is when plain, else in single quotes */
function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command that resumes an interrupted `measure` run of `session`: every option of its recorded config given
 * explicitly, so the resume's config is the very one recorded (a resume compares them); undefined for other kinds.
 */
export function resumeCommand(config: unknown, id: string, session: string): string | undefined {
  const c = (config ?? {}) as Record<string, unknown>;
  if (c.kind !== 'measure' || typeof c.checkpoint !== 'string' || typeof c.data !== 'string') return undefined;
  const argv = ['sparsity-lab', 'measure', c.checkpoint, '--data', c.data];
  for (const [flag, field, type] of MEASURE_FLAGS) {
    const v = c[field];
    if (v === undefined || v === null || v === false) continue;
    if (type === 'flag') argv.push(`--${flag}`);
    else argv.push(`--${flag}`, String(v));
  }
  if (Array.isArray(c.sweep)) argv.push('--sweep', c.sweep.join(','));
  if (Array.isArray(c.sweepP)) argv.push('--sweep-p', c.sweepP.join(','));
  argv.push('--resume', id, '--session', session);
  return argv.map(shellWord).join(' ');
}

/** `sparsity-lab runs <session> [--json]`: the runs of a session file (read-only; the file is not changed). */
export const runsCommand: CliCommand = {
  summary: 'list the runs recorded in a session file',
  async run(argv) {
    const { values, positionals } = parseArgs({ args: argv, options: { json: { type: 'boolean' }, top: { type: 'boolean' }, tag: { type: 'string' }, help: { type: 'boolean' } }, allowPositionals: true });
    if (values.help || positionals.length !== 1) {
      console.log('usage: sparsity-lab runs <session.sparsitylab> [--json] [--top (leave out the per-checkpoint points of series runs)] [--tag <tag> (only runs with that tag)]');
      if (!values.help) throw new LabError('BAD_REQUEST', 'give exactly one session file');
      return 0;
    }
    const s = SessionStore.open(path.resolve(positionals[0]), { readOnly: true });
    try {
      const runs = s.listRuns(values.top ? { parentId: null } : {}).filter((r) => values.tag === undefined || r.tags.includes(values.tag)).map((r) => ({
        id: r.id,
        parentId: r.parentId,
        checkpoint: r.checkpoint,
        series: r.series,
        activation: r.activation,
        tokensTrained: r.tokensTrained,
        method: r.method,
        p: r.p,
        param: r.param,
        status: r.status,
        /** outer search steps saved (an interrupted run resumes after the last) */
        steps: r.steps,
        cett: r.cett,
        activationRatio: r.activationRatio,
        pplRatio: r.pplRatio,
        provider: r.provider,
        createdAt: r.createdAt,
        tags: r.tags,
        /** a p% target no CETT met (the numbers are the edge of the search): why */
        targetNotMet: r.targetNotMet,
      }));
      if (values.json) console.log(JSON.stringify(runs, null, 2));
      else if (!runs.length) console.error(`no runs${values.tag !== undefined ? ` tagged ${values.tag}` : ''} in ${s.file}`);
      else
        for (const r of runs)
          console.log(
            forTerminal(`${r.id}  ${r.status.padEnd(11)} ${String(r.checkpoint ?? '-').padEnd(24)} ${String(r.activation ?? '').padEnd(5)} ${r.method.padEnd(10)} ${r.cett != null ? `CETT ${r.cett.toFixed(4)}` : ''} ${r.activationRatio != null ? `act ${(r.activationRatio * 100).toFixed(2)}%` : ''} ${r.pplRatio != null ? `PPL×${r.pplRatio.toFixed(4)}` : ''}${r.targetNotMet ? '  [target not met]' : ''}${r.status === 'interrupted' ? `  [${r.steps} step${r.steps === 1 ? '' : 's'} saved]` : ''}${r.tags.map((t) => `  #${t}`).join('')}`),
          );
      // an interrupted run (kill -9, a crash, a power cut) in words, with the line that continues it
      if (!values.json)
        for (const r of runs.filter((x) => x.status === 'interrupted' && x.parentId === null)) {
          const cmd = resumeCommand(s.runConfig(r.id), r.id, s.file);
          console.error(
            forTerminal(`interrupted: ${r.id} stopped before it finished (${r.steps} step${r.steps === 1 ? '' : 's'} saved); ${cmd ? `continue it with\n  ${cmd}` : 'continue it with Resume in the session view'}`),
          );
        }
      return 0;
    } finally {
      s.close();
    }
  },
};
