import { parseArgs } from 'node:util';
import path from 'node:path';
import { LabError } from '../api/errors';
import { SessionStore } from '../store/index';
import type { CliCommand } from './commands';
import { forTerminal } from './terminal';

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
            forTerminal(`${r.id}  ${r.status.padEnd(11)} ${String(r.checkpoint ?? '-').padEnd(24)} ${String(r.activation ?? '').padEnd(5)} ${r.method.padEnd(10)} ${r.cett != null ? `CETT ${r.cett.toFixed(4)}` : ''} ${r.activationRatio != null ? `act ${(r.activationRatio * 100).toFixed(2)}%` : ''} ${r.pplRatio != null ? `PPL×${r.pplRatio.toFixed(4)}` : ''}${r.targetNotMet ? '  [target not met]' : ''}${r.tags.map((t) => `  #${t}`).join('')}`),
          );
      return 0;
    } finally {
      s.close();
    }
  },
};
