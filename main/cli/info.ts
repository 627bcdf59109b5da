import { parseArgs } from 'node:util';
import type { CliCommand } from './commands';

export const infoCommand: CliCommand = {
  summary: 'engine version, onnxruntime version and the execution providers that work here',
  async run(argv, engine) {
    const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean' }, verbose: { type: 'boolean', short: 'v' }, help: { type: 'boolean' } } });
    if (values.help) {
      console.log('usage: sparsity-lab info [--json] [--verbose]\n  --verbose  also print each failed provider\'s raw error and the native libraries\' warnings');
      return 0;
    }
    const info = await engine.invoke('engine.info', {});
    if (values.json) {
      console.log(JSON.stringify(info, null, 2));
      return 0;
    }
    console.log(`Sparsity Lab ${info.appVersion} (onnxruntime-node ${info.onnxruntimeVersion}, Node ${info.nodeVersion}, ${info.platform}/${info.arch}, ${info.cpus} CPUs)`);
    for (const p of info.providers) {
      console.log(`  ${p.available ? 'ok  ' : 'no  '} ${p.name}${p.available ? ` (${p.initMs} ms)` : `: ${p.reason}`}`);
      if (values.verbose && !p.available && p.details) console.log(p.details.replace(/^/gm, '         | '));
    }
    return 0;
  },
};
