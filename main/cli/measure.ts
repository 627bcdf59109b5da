/**
 * `sparsity-lab measure <checkpoint> --data <file> …` and `measure-series <dir-or-list> …`: a runs.start
 * job through the engine, progress on stderr, the result as JSON on stdout (issue 4 "CLI").
 * Ctrl-C cancels the job (its completed steps stay saved; `--resume <id>` continues it).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { EXIT_TARGET_NOT_MET, LabError } from '../api/errors';
import { parseNumberArg, parseNumberList } from './args';
import { checkSweepP } from '../jobs/p-sweep';
import type { JobFinishedEvent, JobProgressEvent } from '../api/domains/runs';
import { progressLine } from './progress-line';
import { forTerminal } from './terminal';
import type { Engine } from '../engine/engine';
import type { CliCommand } from './commands';
import { checkpointPosition } from '../checkpoint/series';
import { inspectCheckpoint } from '../checkpoint/index';
import { checkRegularFile } from '../base/regular-file';
import { ESTIMATE_USAGE, printEstimate } from './estimate';

/** The flags of one measurement that `measure` and `cluster submit` (cluster.ts) both take (parseArgs options). */
export const MEASURE_OPTIONS = {
  data: { type: 'string' },
  method: { type: 'string' },
  p: { type: 'string' },
  param: { type: 'string' },
  tokens: { type: 'string' },
  'seq-len': { type: 'string' },
  batch: { type: 'string' },
  tol: { type: 'string' },
  'threshold-mode': { type: 'string' },
  provider: { type: 'string' },
  bos: { type: 'boolean' },
} as const;

const OPTIONS = {
  ...MEASURE_OPTIONS,
  sweep: { type: 'string' },
  'sweep-p': { type: 'string' },
  'device-memory': { type: 'string' },
  execution: { type: 'string' },
  'last-k': { type: 'string' },
  'tokens-per-step': { type: 'string' },
  resume: { type: 'string' },
  session: { type: 'string' },
  'state-dir': { type: 'string' },
  json: { type: 'boolean' },
  estimate: { type: 'boolean' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

const COMMON_USAGE = `  --data <file>            evaluation text: UTF-8 .txt, or .jsonl with a "text" field (required)
  --method <m>             cett-ppl (default) | relu | topk-token | topk-batch | fat
  --p <p>                  CETT-PPL-p%: allowed PPL rise in percent (default 1; presets 1, 5, 10)
  --param <x>              baseline parameter: FAT ε, or Top-k fraction of neurons kept
  --sweep a,b,c            sweep the method's parameter (CETT for cett-ppl) instead of one measurement
  --sweep-p 1,5,10         p% sweep: one full CETT-PPL-p% search per p (the PPL–sparsity trade-off), each
                           recorded as a run of its own; exit status 3 when any p's target cannot be met
  --tokens <N>             token budget (default 65536), cut into N/S sequences
  --seq-len <S>            sequence length (default: the model's context, max_position_embeddings, capped at 1024)
  --batch <B>              sequences per batch (default 4)
  --tol <t>                outer bisection tolerance (default 1e-3; 1e-6 available)
  --threshold-mode <m>     authors (65,536-candidate grid, default) | exact
  --provider <p>           auto | cuda | webgpu | cpu
  --device-memory <GiB>    device memory the engine may use (host memory on the CPU); default: what is free.
                           A model that does not fit runs streamed, block by block (same numbers)
  --execution <m>          auto (default: chosen from the memory) | whole | streamed
  --bos                    put a BOS token at the start of every sequence
  --resume <id>            continue a killed/cancelled job from its saved state
  --state-dir <dir>        where job state is saved (default ~/.sparsity-lab/jobs)
  --session <file>         record the run (every completed step) in a .sparsitylab session; created if missing
  --json                   print the result as JSON only
${ESTIMATE_USAGE}`;

const num = parseNumberArg;

/**
 * The measure flags and the run-config fields they set, in the order a config is written (a resume compares configs
 * as JSON, so the order stays): `measure`, `measure-series` and `cluster submit` (cluster.ts) all map them here.
 */
export const MEASURE_FLAGS = [
  ['method', 'method', 'string'],
  ['p', 'p', 'number'],
  ['param', 'param', 'number'],
  ['tokens', 'tokens', 'number'],
  ['seq-len', 'seqLen', 'number'],
  ['batch', 'batch', 'number'],
  ['tol', 'tol', 'number'],
  ['threshold-mode', 'thresholdMode', 'string'],
  ['provider', 'provider', 'string'],
  ['device-memory', 'deviceMemory', 'number'],
  ['execution', 'execution', 'string'],
  ['bos', 'bosPerSequence', 'flag'],
] as const;

export type MeasureFlagFields = Partial<Record<(typeof MEASURE_FLAGS)[number][1], string | number | boolean>>;

/** The run-config fields of the measure flags that were given (numbers parsed, with the flag named in errors). */
export function measureFlagsConfig(values: Record<string, unknown>): MeasureFlagFields {
  const cfg: MeasureFlagFields = {};
  for (const [flag, field, type] of MEASURE_FLAGS) {
    const v = values[flag];
    const x = type === 'number' ? num(v as string | undefined, flag) : type === 'flag' ? (v ? true : undefined) : (v as string | undefined);
    if (x !== undefined) cfg[field] = x;
  }
  return cfg;
}

function commonConfig(values: Record<string, string | boolean | undefined>) {
  if (!values.data) throw new LabError('BAD_REQUEST', '--data <file> is required');
  const cfg: Record<string, unknown> = { data: path.resolve(String(values.data)), ...measureFlagsConfig(values) };
  if (values['state-dir']) cfg.stateDir = path.resolve(String(values['state-dir']));
  if (values.sweep !== undefined) cfg.sweep = parseNumberList(String(values.sweep), 'sweep');
  if (values['sweep-p'] !== undefined) {
    if (values.sweep !== undefined) throw new LabError('BAD_REQUEST', '--sweep-p and --sweep both say what to sweep: give one of them');
    if (values.p !== undefined) throw new LabError('BAD_REQUEST', '--sweep-p gives the values of p: leave out --p');
    if (values.method !== undefined && values.method !== 'cett-ppl') throw new LabError('BAD_REQUEST', `--sweep-p sweeps CETT-PPL-p% (got --method ${String(values.method)}); sweep a baseline's parameter with --sweep`);
    cfg.sweepP = checkSweepP(parseNumberList(String(values['sweep-p']), 'sweep-p'), '--sweep-p list');
  }
  return cfg;
}

/** The longest default sequence: the model's context when shorter (the demo models have 256), else this. */
export const SEQ_LEN_CAP = 1024;

/**
 * --seq-len not given: the model's context (max_position_embeddings of the first checkpoint) capped at SEQ_LEN_CAP,
 * said on stderr; a model that does not say its context keeps the cap. A checkpoint that cannot be read at all (its
 * config.json, a weight file's header, its tokenizer.json) is refused here with its reader's error, before a job is
 * recorded for it (it said "the model does not say its context", then the job failed on the same file).
 */
export async function defaultSeqLen(config: Record<string, unknown>, checkpoint: string, quiet: boolean): Promise<void> {
  // read also when --seq-len is given: a truncated or damaged checkpoint is refused here, before a job is started (a
  // path that is not there is named by runs.start, or means something to another model source: tests)
  if (config.seqLen !== undefined && !fs.existsSync(checkpoint)) return;
  const ctx = (await inspectCheckpoint(checkpoint)).maxPositions ?? 0;
  if (config.seqLen !== undefined) return;
  config.seqLen = ctx > 0 ? Math.min(ctx, SEQ_LEN_CAP) : SEQ_LEN_CAP;
  if (!quiet)
    process.stderr.write(
      ctx > 0 ? `--seq-len ${config.seqLen}: the model's context (${ctx} positions)${ctx > SEQ_LEN_CAP ? `, capped at ${SEQ_LEN_CAP}` : ''}; give --seq-len to change it\n` : `--seq-len ${SEQ_LEN_CAP}: the model does not say its context; give --seq-len to change it\n`,
    );
}

/** --session: record into that session file (created when it does not exist yet). */
async function useSession(engine: Engine, file: string | undefined, stateDir?: unknown): Promise<void> {
  if (!file) return;
  if (stateDir) throw new LabError('BAD_REQUEST', '--session and --state-dir both say where the job state goes: give one of them');
  const abs = path.resolve(file);
  const opened = (await engine.call(fs.existsSync(abs) ? 'sessions.open' : 'sessions.new', { path: abs })) as { readOnly?: boolean; notice?: string };
  // a session this process cannot write (newer schema, read-only on disk) would silently not record: refuse first
  if (opened?.readOnly) throw new LabError('READ_ONLY', `${abs}: cannot record into this session${opened.notice ? `: ${opened.notice}` : ' (it is open read-only)'}`);
  // what the open did (upgraded the schema, cleared a killed writer's lock)
  if (opened?.notice) process.stderr.write(`note: ${forTerminal(`${abs}: ${opened.notice}`)}\n`);
}

async function runJob(engine: Engine, config: Record<string, unknown>, resume: string | undefined, quiet: boolean): Promise<JobFinishedEvent> {
  let jobId: string | undefined;
  let finish!: (e: JobFinishedEvent) => void;
  const finished = new Promise<JobFinishedEvent>((r) => (finish = r));
  const early: JobFinishedEvent[] = [];
  let explained = false;
  const off = engine.onEvent((event, payload) => {
    if (event === 'job.progress' && !quiet) {
      // the phase's steps and ETA, the run's share done with its basis and its ETA (progress-line.ts: as the monitor)
      const p = payload as JobProgressEvent;
      const estimating = typeof p.overall === 'number' && p.overallBasis === 'work';
      process.stderr.write(`${progressLine(p, estimating && !explained)}\n`);
      explained ||= estimating;
    }
    if (event === 'job.finished') {
      const e = payload as JobFinishedEvent;
      if (jobId === undefined) early.push(e);
      else if (e.id === jobId) finish(e);
    }
  });
  const onSigint = () => {
    if (jobId) void engine.call('runs.cancel', { id: jobId });
  };
  process.once('SIGINT', onSigint);
  try {
    const { id } = (await engine.call('runs.start', { config, resume })) as { id: string };
    jobId = id;
    if (!quiet) process.stderr.write(`job ${id} (resume with --resume ${id})\n`);
    const e = early.find((x) => x.id === id);
    if (e) finish(e);
    return await finished;
  } finally {
    off();
    process.removeListener('SIGINT', onSigint);
  }
}

function report(ev: JobFinishedEvent, json: boolean): number {
  if (ev.status !== 'completed') {
    const err = ev.error ?? { code: 'INTERNAL', message: 'unknown failure' };
    if (json) console.log(JSON.stringify({ error: err, status: ev.status }));
    console.error(`${ev.status}: ${err.code}: ${forTerminal(err.message)}`);
    return ev.status === 'cancelled' ? 130 : 1;
  }
  const r = ev.result as Record<string, unknown>;
  if (json) {
    console.log(JSON.stringify(r, null, 2));
    return typeof r.targetNotMet === 'string' || (typeof r.targetsNotMet === 'number' && r.targetsNotMet > 0) ? EXIT_TARGET_NOT_MET : 0;
  }
  const pct = (x: unknown) => (typeof x === 'number' ? `${(x * 100).toFixed(2)}%` : '-');
  const show = (x: Record<string, unknown>) =>
    console.log(
      `${forTerminal(String(x.checkpoint))}: method ${x.method}${x.p !== undefined ? ` p=${x.p}` : ''}${x.cett !== undefined ? ` CETT=${(x.cett as number).toFixed(6)}` : ''} activation ${pct(x.activationRatio)} sparsity ${pct(x.sparsity)} PPL ${(x.pplDense as number)?.toFixed(4)} → ${(x.pplSparse as number)?.toFixed(4)} (ratio ${(x.pplRatio as number)?.toFixed(6)})`,
    );
  if (Array.isArray(r.checkpoints)) (r.checkpoints as Record<string, unknown>[]).forEach(show);
  else if (r.sweepOver === 'p' && Array.isArray(r.points)) {
    for (const p of r.points as Record<string, unknown>[])
      console.log(`p=${p.p}%: CETT=${(p.cett as number).toFixed(6)} activation ${pct(p.activationRatio)} PPL ratio ${(p.pplRatio as number).toFixed(6)}${p.targetNotMet ? '  (target not met)' : ''}`);
    const missed = (r.points as Record<string, unknown>[]).filter((p) => typeof p.targetNotMet === 'string');
    for (const p of missed) console.error(`WARNING: p=${p.p}%: ${forTerminal(String(p.targetNotMet))}`);
    if (missed.length) return EXIT_TARGET_NOT_MET;
  } else if (Array.isArray(r.points)) for (const p of r.points as Record<string, number>[]) console.log(`param ${p.param}: activation ${pct(p.activationRatio)} PPL ratio ${p.pplRatio.toFixed(6)}`);
  else show(r);
  // issue 19: a p% target no CETT met is said, and the exit status is not 0
  if (typeof r.targetNotMet === 'string') {
    console.error(`WARNING: ${forTerminal(r.targetNotMet)}`);
    return EXIT_TARGET_NOT_MET;
  }
  return 0;
}

export const measureCommand: CliCommand = {
  summary: 'measure activation sparsity (CETT-PPL-p%, ReLU, Top-k, FAT-ε) of one checkpoint',
  async run(argv, engine) {
    const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    if (values.help) {
      console.log(`usage: sparsity-lab measure <checkpoint> --data <file> [options]\n${COMMON_USAGE}`);
      return 0;
    }
    if (positionals.length !== 1) throw new LabError('BAD_REQUEST', 'give exactly one checkpoint (an HF folder)');
    const config = { kind: 'measure', checkpoint: path.resolve(positionals[0]), ...commonConfig(values) };
    await defaultSeqLen(config, config.checkpoint, !!values.quiet || !!values.json);
    if (values.estimate) return printEstimate(engine, config, !!values.json);
    await useSession(engine, values.session, values['state-dir']);
    return report(await runJob(engine, config, values.resume, !!values.quiet || !!values.json), !!values.json);
  },
};

/** Tokens trained of one checkpoint: its name or trainer_state.json (common/naming.ts), else step × tokens per step. */
function tokensOf(p: string, tokensPerStep?: number): number | undefined {
  return checkpointPosition(p, tokensPerStep).tokens;
}

/** the largest list file of checkpoints read (a million paths fit in it) */
const LIST_FILE_LIMIT = 64 * 2 ** 20;

/** A list file ("path[,tokensSeen]" per line, # comments), a folder of checkpoint folders, or several paths. */
export function resolveSeries(args: string[], tokensPerStep?: number): { path: string; tokensSeen?: number }[] {
  if (args.length > 1) return args.map((a) => ({ path: path.resolve(a), tokensSeen: tokensOf(path.resolve(a), tokensPerStep) }));
  const src = path.resolve(args[0]);
  if (!fs.existsSync(src)) throw new LabError('NOT_FOUND', `series ${src} does not exist`);
  if (fs.statSync(src).isDirectory()) {
    const subs = fs
      .readdirSync(src, { withFileTypes: true })
      .filter((d) => d.isDirectory() && fs.existsSync(path.join(src, d.name, 'config.json')))
      .map((d) => d.name)
      .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    if (subs.length === 0) return [{ path: src }]; // a single checkpoint: measureSeries reports "at least 2"
    return subs.map((n) => ({ path: path.join(src, n), tokensSeen: tokensOf(path.join(src, n), tokensPerStep) }));
  }
  // a list file: a FIFO blocked the read for ever, a device never ended it, a huge file was read whole
  const st = checkRegularFile(src, 'a folder of checkpoints or a list file', (m) => new LabError('BAD_DATA', m));
  if (st.size > LIST_FILE_LIMIT) throw new LabError('BAD_DATA', `${src}: ${st.size} bytes: not a list of checkpoints (one "path[,tokens seen]" per line; limit ${LIST_FILE_LIMIT} bytes)`);
  const base = path.dirname(src);
  return fs
    .readFileSync(src, 'utf8')
    .split(/\r?\n/)
    .map((l, i) => [l.replace(/#.*/, '').trim(), i + 1] as const)
    .filter(([l]) => l)
    .map(([l, lineNo]) => {
      const [p, t] = l.split(',').map((s) => s.trim());
      if (t === '') throw new LabError('BAD_DATA', `${src}:${lineNo}: tokens seen is empty after the comma: give a number or drop the comma`);
      const tokensSeen = t === undefined ? tokensOf(path.resolve(base, p), tokensPerStep) : Number(t);
      if (tokensSeen !== undefined && !(Number.isFinite(tokensSeen) && tokensSeen >= 0)) throw new LabError('BAD_DATA', `${src}:${lineNo}: tokens seen "${t}" is not a number`);
      return { path: path.resolve(base, p), tokensSeen };
    });
}

export const measureSeriesCommand: CliCommand = {
  summary: 'one CETT from the last k checkpoints of a training run, applied to every checkpoint',
  async run(argv, engine) {
    const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    if (values.help) {
      console.log(`usage: sparsity-lab measure-series <dir | list-file | ckpt1 ckpt2 …> --data <file> [options]\n  --last-k <k>             checkpoints the CETT is searched on (default 5)\n  --tokens-per-step <n>    tokens trained = step × n where neither the folder name nor trainer_state.json says\n${COMMON_USAGE}`);
      return 0;
    }
    if (positionals.length === 0) throw new LabError('BAD_REQUEST', 'give a folder of checkpoints, a list file, or several checkpoints');
    const config = { kind: 'measure-series', checkpoints: resolveSeries(positionals, num(values['tokens-per-step'], 'tokens-per-step')), lastK: num(values['last-k'], 'last-k'), ...commonConfig(values) };
    if (config.lastK === undefined) delete config.lastK;
    if (config.checkpoints.length) await defaultSeqLen(config, config.checkpoints[0].path, !!values.quiet || !!values.json);
    if (values.estimate) return printEstimate(engine, config, !!values.json, 'measure-series');
    await useSession(engine, values.session, values['state-dir']);
    return report(await runJob(engine, config, values.resume, !!values.quiet || !!values.json), !!values.json);
  },
};
