import { parseArgs } from 'node:util';
import path from 'node:path';
import { LabError } from '../api/errors';
import { SessionStore, relink, relinkFolder } from '../store/index';
import type { CliCommand } from './commands';

const USAGE = `usage: sparsity-lab relink <session.sparsitylab>                       list its checkpoints and texts, missing ones marked
       sparsity-lab relink <session.sparsitylab> <id|name> <new path>     re-point a checkpoint (--dataset: an evaluation text)
       sparsity-lab relink <session.sparsitylab> --search <folder>       re-point every missing file found under <folder> by content

A session records each checkpoint and text by content hash, by path relative to the session file and by last
absolute path. When both paths fail (files moved, session mailed to another machine) re-point the reference here;
a file whose content hash differs from the recorded one is refused.`;

/** `sparsity-lab relink`: the relocatable-session repair tool (issue 17). */
export const relinkCommand: CliCommand = {
  summary: 're-point a moved checkpoint or evaluation text of a session (the content hash must match)',
  async run(argv) {
    const { values, positionals } = parseArgs({ args: argv, options: { dataset: { type: 'boolean' }, search: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } }, allowPositionals: true });
    if (values.help || (positionals.length !== 1 && positionals.length !== 3)) {
      console.log(USAGE);
      if (!values.help) throw new LabError('BAD_REQUEST', 'give a session file, or a session file, a checkpoint id or name and the new path');
      return 0;
    }
    const file = path.resolve(positionals[0]);
    if (values.search !== undefined) {
      if (positionals.length !== 1) throw new LabError('BAD_REQUEST', '--search takes the session file only');
      const s = SessionStore.open(file);
      try {
        const found = await relinkFolder(s, values.search);
        if (values.json) console.log(JSON.stringify(found, null, 2));
        else for (const f of found) console.log(`${f.kind} ${f.id} now at ${f.path} (content hash matches)`);
        const left = s.listCheckpoints().filter((c) => c.missing).length + s.listDatasets().filter((d) => d.missing).length;
        console.error(`relink: ${found.length} re-pointed, ${left} still missing`);
        return 0;
      } finally {
        s.close();
      }
    }
    if (positionals.length === 1) {
      const s = SessionStore.open(file, { readOnly: true });
      try {
        const cks = s.listCheckpoints();
        const ds = s.listDatasets();
        if (values.json) console.log(JSON.stringify({ checkpoints: cks, datasets: ds }, null, 2));
        else {
          for (const c of cks) console.log(`checkpoint ${String(c.id).padStart(4)}  ${c.missing ? 'MISSING' : 'ok     '}  ${c.name.padEnd(28)} ${c.path}`);
          for (const d of ds) console.log(`dataset    ${String(d.id).padStart(4)}  ${d.missing ? 'MISSING' : 'ok     '}  ${path.basename(d.lastPath).padEnd(28)} ${d.path}`);
        }
        return cks.some((c) => c.missing) || ds.some((d) => d.missing) ? 3 : 0;
      } finally {
        s.close();
      }
    }
    const [, which, target] = positionals;
    const s = SessionStore.open(file);
    try {
      let id = Number(which);
      if (!Number.isInteger(id) || id <= 0) {
        if (values.dataset) throw new LabError('BAD_REQUEST', `give the dataset's id (sparsity-lab relink ${positionals[0]} lists them)`);
        const named = s.listCheckpoints().filter((c) => c.name === which);
        if (named.length !== 1) throw new LabError(named.length ? 'BAD_REQUEST' : 'NOT_FOUND', `${named.length || 'no'} checkpoint${named.length === 1 ? '' : 's'} named '${which}' in ${file}${named.length ? ': give its id' : ''}`);
        id = named[0].id;
      }
      const r = await relink(s, values.dataset ? 'dataset' : 'checkpoint', id, target);
      if (values.json) console.log(JSON.stringify(r, null, 2));
      else console.log(`${values.dataset ? 'dataset' : 'checkpoint'} ${id} now at ${r.path} (content hash matches)`);
      return 0;
    } finally {
      s.close();
    }
  },
};
