import path from 'node:path';
import { parseArgs } from 'node:util';
import { LabError } from '../api/errors';
import { parseWholeArg } from './args';
import type { LawForm } from '../api/domains/laws';
import type { CliCommand } from './commands';
import { cancelOnCtrlC, reportCancelled } from './ctrl-c';

const USAGE = 'usage: sparsity-lab fit <points.csv|json> [--form relu|silu|log|sigmoid] [--drop-first K] [--auto-warmup] [--series NAME] [--bootstrap N] [--seed S] [--json]';
const pct = (v: number | undefined) => (v === undefined ? '?' : `${(100 * v).toFixed(3)}%`);

/** `sparsity-lab fit`: fit the sparsity–data law (the paper's Sec. 5.1) to points measured elsewhere. */
export const fitCommand: CliCommand = {
  summary: 'fit the sparsity–data law (relu/silu/log/sigmoid) to points from a CSV or JSON file',
  async run(argv, engine) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        form: { type: 'string' },
        'drop-first': { type: 'string' },
        'auto-warmup': { type: 'boolean' },
        series: { type: 'string', multiple: true },
        bootstrap: { type: 'string' },
        seed: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean' },
      },
      allowPositionals: true,
    });
    if (values.help) {
      console.log(`${USAGE}
points file, one of:
  CSV with a header: tokens,activation_ratio[,series,params,width,depth,activation]
    tokens: tokens trained (raw count; aliases token_passed, tokens_trained); activation_ratio: a fraction in [0, 1]
  the lab's own 'activation-vs-tokens' chart CSV (Charts → Export CSV, or 'export --chart activation-vs-tokens --format csv'):
    its measured and warm-up points are read (x in billions of tokens, y in %), the fitted curves are not
  JSON: an array of rows with those names, or the authors' { "token_passed": [...], "activation_ratio": [...] }
--form relu|silu|log|sigmoid   the law's form (default: chosen per series; the output says how)
--drop-first K | --auto-warmup  warm-up points left out of the fit
Ctrl-C cancels a long import or fit (exit status 130)`);
      return 0;
    }
    if (positionals.length !== 1) throw new LabError('BAD_REQUEST', `give exactly one points file\n${USAGE}`);
    const int = (name: string, v: string | undefined) => parseWholeArg(v, name);
    if (values.form && !['relu', 'silu', 'log', 'sigmoid'].includes(values.form)) throw new LabError('BAD_REQUEST', `--form must be relu, silu, log or sigmoid (got '${values.form}')`);
    const options = {
      form: values.form as LawForm | undefined,
      dropFirst: int('drop-first', values['drop-first']),
      autoWarmup: values['auto-warmup'],
      series: values.series,
      bootstrap: int('bootstrap', values.bootstrap),
      seed: int('seed', values.seed),
    };
    // a large file or fit runs in the laws worker: Ctrl-C ends it there (exit status 130)
    let fits;
    let notFitted;
    try {
      ({ fits, notFitted } = await cancelOnCtrlC(engine, 'laws.cancel', 'the fit', async (cancelId, check) => {
        if (!values.json) process.stderr.write(`fitting the law to ${path.resolve(positionals[0])} (Ctrl-C cancels)…\n`);
        const { points } = await engine.invoke('laws.importPoints', { path: path.resolve(positionals[0]), cancelId });
        check();
        return engine.invoke('laws.fit', { points, ...options, cancelId });
      }));
    } catch (err) {
      const exit = reportCancelled(err, 'fit', !!values.json);
      if (exit === undefined) throw err;
      return exit;
    }
    if (values.json) {
      console.log(JSON.stringify({ fits, ...(notFitted ? { notFitted } : {}) }, null, 2));
      return 0;
    }
    for (const f of fits) {
      console.log(`${f.series}${f.activation ? ` (${f.activation})` : ''}: ${f.form} form (${f.formPicked === 'user' ? 'as asked' : `picked by ${f.formPicked}`}), ${f.stats.n} points fitted`);
      console.log(`  ${f.formula}`);
      console.log(`  ${f.A0IsLimit ? 'limit activation ratio' : 'A(0)'} A₀ = ${pct(f.A0)}` + (f.A0Low !== undefined ? `  (${Math.round(100 * f.level)}% CI ${pct(f.A0Low)} – ${pct(f.A0High)}, ${f.bootstrap.method} bootstrap ×${f.bootstrap.samples}, seed ${f.bootstrap.seed})` : ''));
      for (const [k, v] of Object.entries(f.params)) {
        const ci = f.ci[k];
        console.log(`  ${k} = ${v.toPrecision(4)}${ci ? `  [${ci.low.toPrecision(3)}, ${ci.high.toPrecision(3)}]` : ''}`);
      }
      console.log(`  MAE ${f.stats.mae.toExponential(3)}, RMSE ${f.stats.rmse.toExponential(3)}, R² ${f.stats.r2 === null ? 'n/a (flat data)' : f.stats.r2.toFixed(4)}`);
      console.log(`  warm-up: ${f.warmup.reason}${f.droppedTokens.length ? ` (dropped tokens: ${f.droppedTokens.join(', ')})` : ''}`);
      for (const w of f.warnings) console.log(`  note: ${w}`);
    }
    // a series with too few points is named, the others fitted
    for (const n of notFitted ?? []) console.log(`${n.series}: not fitted (${n.points} points): ${n.reason}`);
    return 0;
  },
};
