/**
 * `sparsity-lab cluster submit|status|collect|cancel|list|log|task`: measurement series and sweeps as a Slurm job
 * array (issue 20, main/cluster). Each array task runs `sparsity-lab cluster task`, which is the ordinary `measure`
 * command into the task's own session; `collect` imports those sessions into yours.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LabError } from '../api/errors';
import type { ClusterStatus, CommandName, RequestOf, ResponseOf } from '../api/contract';
import type { Engine } from '../engine/engine';
import { readSweepSpec, runTask, sweepFromSpec, type MeasureFlags, type SeriesPoint } from '../cluster/index';
import type { CliCommand } from './commands';
import { MEASURE_OPTIONS, measureCommand, measureFlagsConfig, resolveSeries } from './measure';
import { parseWholeArg } from './args';

const USAGE = `usage: sparsity-lab cluster <verb> …
  submit <series folder | list.txt | ckpt … | sweep.json> --session <file> --data <file> [options]
      one array task per checkpoint (or per checkpoint and sweep point of a sweep spec), submitted with sbatch
      --partition <P>  --account <A>  --time <HH:MM:SS>  --gpus-per-task <n> (default 1; 0 for CPU nodes)
      --cpus-per-task <n> (default 4)  --mem <M>  --max-parallel <n>  --job-name <name>
      --engine-command '<shell line>'   how a node runs the engine, e.g. 'module load lab && sparsity-lab'
                                         (default: this installation's CLI, on a shared file system)
      --results <dir>                    results folder on the shared file system (default beside the session)
      --dry-run                          print the script, write and submit nothing
      --bundle <dir>                     write a job bundle for a cluster this machine cannot reach (no sbatch)
      --path-map <from>=<to>             in a bundle: where the cluster sees a folder of this machine (repeatable)
      measure options for every task: --method --p --param --tokens --seq-len --batch --tol --threshold-mode
      --provider --bos (as in 'sparsity-lab measure --help')
  status  <job id | array id | results folder> --session <file> [--json]
  collect <job id | array id | results folder> --session <file> [--json] [--offline]
      merge finished tasks into the session (again and again: nothing is added twice); --offline does not ask
      Slurm (a bundle's results folder brought back from an unreachable cluster)
  cancel  <job id | array id> --session <file> [--task 3,4]
  list    --session <file>
  log     <job id | array id> <task> --session <file>
  task    <results folder> <task index>   (what each array task runs on its node)`;

const OPTIONS = {
  session: { type: 'string' },
  ...MEASURE_OPTIONS,
  partition: { type: 'string' },
  account: { type: 'string' },
  time: { type: 'string' },
  'gpus-per-task': { type: 'string' },
  'cpus-per-task': { type: 'string' },
  mem: { type: 'string' },
  'max-parallel': { type: 'string' },
  'job-name': { type: 'string' },
  'engine-command': { type: 'string' },
  results: { type: 'string' },
  'dry-run': { type: 'boolean' },
  bundle: { type: 'string' },
  'path-map': { type: 'string', multiple: true },
  task: { type: 'string' },
  offline: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

async function openSession(engine: Engine, file: string | undefined, create: boolean): Promise<void> {
  if (!file) throw new LabError('BAD_REQUEST', '--session <file> is required: the array is recorded in the session');
  const abs = path.resolve(file);
  if (!fs.existsSync(abs) && !create) throw new LabError('NOT_FOUND', `session ${abs} does not exist`);
  await engine.call(fs.existsSync(abs) ? 'sessions.open' : 'sessions.new', { path: abs });
}

/** engine.call with the contract's types (the engine validates the request either way) */
const call = <N extends CommandName>(engine: Engine, cmd: N, req: RequestOf<N>) => engine.call(cmd, req) as Promise<ResponseOf<N>>;

type Values = ReturnType<typeof parse>['values'];
function parse(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
}

/** exported for tests (measure-flags.test.ts) */
export function submitRequest(values: Values, positionals: string[]): RequestOf<'cluster.submit'> {
  if (positionals.length === 0) throw new LabError('BAD_REQUEST', 'give a series folder, a list file, checkpoints, or a sweep spec (.json)');
  let points: SeriesPoint[];
  let fromSpec: MeasureFlags = {};
  let sweep: { key: 'p' | 'param'; values: number[] } | undefined;
  if (positionals.length === 1 && positionals[0].endsWith('.json')) {
    const file = path.resolve(positionals[0]);
    const s = sweepFromSpec(file, readSweepSpec(file), (arg) => resolveSeries([arg]));
    points = s.points;
    fromSpec = s.flags;
    sweep = s.sweep;
  } else points = resolveSeries(positionals);
  const data = (values.data as string | undefined) ?? (fromSpec.data as string | undefined);
  if (!data) throw new LabError('BAD_REQUEST', '--data <file> is required (or "data" in the sweep spec)');
  // the measure flags map as for `measure` (measure.ts); the contract's cluster shape calls bosPerSequence `bos`
  const { bosPerSequence, ...flags } = measureFlagsConfig({ ...values, method: values.method ?? fromSpec.method });
  const measure = { data: path.resolve(data), ...flags, ...(bosPerSequence ? { bos: true } : {}) } as RequestOf<'cluster.submit'>['measure'];
  const pathMap = (values['path-map'] ?? []).map((m) => {
    const i = m.indexOf('=');
    if (i <= 0) throw new LabError('BAD_REQUEST', `--path-map "${m}": give <folder here>=<folder on the cluster>`);
    return { from: path.resolve(m.slice(0, i)), to: m.slice(i + 1) };
  });
  if (pathMap.length && !values.bundle) throw new LabError('BAD_REQUEST', '--path-map is for --bundle (a submission from here runs on files the nodes see at the same paths)');
  return {
    checkpoints: points,
    measure,
    sweep,
    profile: {
      partition: values.partition,
      account: values.account,
      time: values.time,
      gpusPerTask: parseWholeArg(values['gpus-per-task'], 'gpus-per-task', 0) ?? 1,
      cpusPerTask: parseWholeArg(values['cpus-per-task'], 'cpus-per-task', 1) ?? 4,
      mem: values.mem,
      maxParallel: parseWholeArg(values['max-parallel'], 'max-parallel', 1),
      engineCommand: values['engine-command'],
    },
    results: values.bundle ?? values.results,
    dryRun: values['dry-run'] || undefined,
    bundle: values.bundle ? { pathMap } : undefined,
  };
}

function printStatus(st: ClusterStatus): void {
  const a = st.array;
  console.log(`array ${a.id}${a.slurmJobId ? ` (Slurm job ${a.slurmJobId})` : ''}  ${a.resultsDir}`);
  console.log(`  ${Object.entries(st.counts).map(([k, v]) => `${k} ${v}`).join(', ')}${st.accounting ? '' : '  (no sacct: states from squeue and the task files)'}`);
  if (st.slurmNote) console.log(`  note: ${st.slurmNote}`);
  for (const t of st.tasks)
    console.log(`  ${String(t.task).padStart(4)}  ${t.state.padEnd(9)}${t.collected ? ' collected' : '          '}  ${t.label}${t.node ? `  on ${t.node}` : ''}${t.reason ? `  — ${t.reason}` : ''}`);
}

export const clusterCommand: CliCommand = {
  summary: 'measure a series or sweep as a Slurm job array; status, collect into the session, cancel',
  async run(argv, engine) {
    const [verb, ...rest] = argv;
    if (!verb || verb === '--help' || verb === 'help') {
      console.log(USAGE);
      return verb ? 0 : 2;
    }
    if (verb === 'task') {
      // on the node: the ordinary measure command into the task's session, which is then closed so its bytes are final
      if (rest.length !== 2) throw new LabError('BAD_REQUEST', 'usage: sparsity-lab cluster task <results folder> <task index>');
      return runTask(rest[0], rest[1], async (measureArgv) => {
        try {
          const code = await measureCommand.run(measureArgv.slice(1), engine);
          return { code };
        } finally {
          await engine.call('sessions.close', {});
        }
      });
    }
    const { values, positionals } = parse(rest);
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const json = !!values.json;
    const out = (x: unknown, text: () => void) => (json ? console.log(JSON.stringify(x, null, 1)) : text());
    switch (verb) {
      case 'submit': {
        const req = submitRequest(values, positionals);
        if (req.dryRun) {
          // nothing is written and no session is opened; the folder shown is where a real submission would write
          const sess = values.session ? path.resolve(values.session) : undefined;
          req.results ??= sess ? path.join(path.dirname(sess), `${path.basename(sess).replace(/\.sparsitylab$/, '')}-cluster`, 'dry-run') : path.resolve('cluster-results');
          const r = await call(engine, 'cluster.submit', req);
          out(r, () => process.stdout.write(r.script));
          return 0;
        }
        await openSession(engine, values.session, true);
        const r = await call(engine, 'cluster.submit', req);
        out(r, () =>
          console.log(
            r.slurmJobId
              ? `submitted Slurm job ${r.slurmJobId}: ${r.tasks} task(s), results in ${r.resultsDir}\n  sparsity-lab cluster status ${r.slurmJobId} --session ${values.session}`
              : `job bundle written to ${r.resultsDir} (${r.tasks} task(s)): copy it to the cluster, run 'sbatch job.sh' inside it, bring the folder back and\n  sparsity-lab cluster collect ${r.resultsDir} --offline --session ${values.session}`,
          ),
        );
        return 0;
      }
      case 'status': {
        if (positionals.length !== 1) throw new LabError('BAD_REQUEST', 'usage: sparsity-lab cluster status <job id | array id | results folder> --session <file>');
        await openSession(engine, values.session, false);
        const st = await call(engine, 'cluster.status', { id: positionals[0] });
        out(st, () => printStatus(st));
        return 0;
      }
      case 'collect': {
        if (positionals.length !== 1) throw new LabError('BAD_REQUEST', 'usage: sparsity-lab cluster collect <job id | array id | results folder> --session <file>');
        await openSession(engine, values.session, true);
        const r = await call(engine, 'cluster.collect', { id: positionals[0], offline: values.offline || undefined });
        out(r, () => {
          console.log(`collected ${r.collected} task(s) (${r.runsImported} run(s)) into ${values.session}; ${r.already} collected before; ${r.waiting} still pending or running; ${r.failed.length} failed`);
          for (const f of r.failed) console.log(`  task ${f.task} ${f.label}: ${f.reason}\n    log: ${f.log}`);
        });
        return r.failed.length ? 1 : 0;
      }
      case 'cancel': {
        if (positionals.length !== 1) throw new LabError('BAD_REQUEST', 'usage: sparsity-lab cluster cancel <job id | array id> --session <file> [--task 3,4]');
        await openSession(engine, values.session, false);
        const tasks = values.task ? values.task.split(',').map((t) => parseWholeArg(t.trim(), 'task', 0)!) : undefined;
        const r = await call(engine, 'cluster.cancel', { id: positionals[0], tasks });
        out(r, () => console.log(`scancel ${r.cancelled}: collect what finished with 'sparsity-lab cluster collect ${positionals[0]} --session ${values.session}'`));
        return 0;
      }
      case 'list': {
        await openSession(engine, values.session, false);
        const r = await call(engine, 'cluster.list', {});
        out(r, () => r.forEach((a) => console.log(`${a.id}  ${a.slurmJobId ?? 'bundle'}  ${a.tasks} task(s)  ${a.submittedAt}${a.cancelledAt ? '  cancelled' : ''}  ${a.resultsDir}`)));
        return 0;
      }
      case 'log': {
        if (positionals.length !== 2) throw new LabError('BAD_REQUEST', 'usage: sparsity-lab cluster log <job id | array id> <task> --session <file>');
        await openSession(engine, values.session, false);
        const r = await call(engine, 'cluster.log', { id: positionals[0], task: parseWholeArg(positionals[1], 'task', 0)! });
        out(r, () => process.stdout.write(r.text));
        return 0;
      }
      default:
        throw new LabError('BAD_REQUEST', `unknown cluster verb '${verb}'\n${USAGE}`);
    }
  },
};
