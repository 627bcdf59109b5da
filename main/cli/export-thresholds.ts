import { parseArgs } from 'node:util';
import path from 'node:path';
import { LabError } from '../api/errors';
import { SessionStore } from '../store/index';
import { exportThresholds, THRESHOLD_FORMATS, type ThresholdFormat } from '../engine/export-thresholds';
import { parseNumberArg } from './args';
import type { CliCommand } from './commands';

const USAGE = `usage: sparsity-lab export-thresholds <session.sparsitylab> --run <id> --out <folder|file>
                          [--format authors|tau|powerinfer|all] [--batch <i>] [--overwrite] [--json]
Writes a run's thresholds for inference engines (formats: README "Threshold exports"):
  authors     <run>.thresholds.env   thresholds=eps_0,...,eps_{L-1} (the authors' harness reads the env variable)
  tau         <run>.tau.csv          layer,neuron,col_norm,tau with tau = eps_l / ||W_out[:, i]||_2 (reads the checkpoint)
  powerinfer  <run>.frequency.csv    layer,neuron,frequency,count: share of tokens each neuron was active on
  all         the three, into the folder --out (default)
eps is the batch mean of the per-batch thresholds (the reported values; it does not reproduce the measured
activation ratio exactly); --batch <i> writes batch i's own thresholds instead.
--out: an existing folder (files named after the run) or, for one format, a new file; --overwrite replaces an
existing file of the same type. The session is only read.`;

/** `sparsity-lab export-thresholds`: the same engine code as the run page's "Export thresholds…" (sessions.exportThresholds). */
export const exportThresholdsCommand: CliCommand = {
  summary: "write a run's thresholds for inference engines (authors' ε list, τ per neuron, activation frequencies)",
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { run: { type: 'string' }, out: { type: 'string' }, format: { type: 'string' }, batch: { type: 'string' }, overwrite: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean' } },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (positionals.length !== 1 || !values.run || !values.out) {
      console.error(USAGE);
      throw new LabError('BAD_REQUEST', 'give one session file, --run <id> and --out <folder|file>');
    }
    const format = (values.format ?? 'all') as ThresholdFormat | 'all';
    if (format !== 'all' && !(THRESHOLD_FORMATS as readonly string[]).includes(format))
      throw new LabError('BAD_REQUEST', `unknown --format '${format}'; one of: ${THRESHOLD_FORMATS.join(', ')}, all`);
    const batch = parseNumberArg(values.batch, 'batch');
    const s = SessionStore.open(path.resolve(positionals[0]), { readOnly: true });
    try {
      const r = await exportThresholds(s, { id: values.run, format, out: values.out, batch, overwrite: values.overwrite === true });
      if (values.json) console.log(JSON.stringify(r));
      else for (const f of r.files) console.log(`wrote ${f.path} (${f.format}, ${r.layers} layers, ${r.thresholds} thresholds, ${f.bytes} bytes)`);
      return 0;
    } finally {
      s.close();
    }
  },
};
