import { parseArgs } from 'node:util';
import { LabError } from '../api/errors';
import type { CliCommand } from './commands';
import { forTerminal } from './terminal';

export const inspectCommand: CliCommand = {
  summary: 'architecture card of a checkpoint (HF folder or .onnx): family, activation, shape, parameters',
  async run(argv, engine) {
    const { values, positionals } = parseArgs({ args: argv, options: { json: { type: 'boolean' }, family: { type: 'string' }, help: { type: 'boolean' } }, allowPositionals: true });
    if (values.help) {
      console.log('usage: sparsity-lab inspect <checkpoint> [--family llama|mistral|qwen2|qwen3|minicpm|opt|gpt2|gpt_neox] [--json]');
      return 0;
    }
    if (positionals.length !== 1) throw new LabError('BAD_REQUEST', 'give exactly one checkpoint path');
    const s = await engine.invoke('checkpoints.inspect', { path: positionals[0], family: values.family as never });
    if (values.json) console.log(JSON.stringify(s, null, 2));
    else {
      const log = (line: string) => console.log(forTerminal(line));
      log(`${s.path}\n  ${s.family} (${s.modelType}), ${s.activation}${s.gated ? ', gated FFN' : ''}, ${s.dtype}`);
      log(`  layers ${s.layers}, d_h ${s.hiddenSize}, d_f ${s.intermediateSize}, heads ${s.heads}/${s.kvHeads} kv, vocab ${s.vocabSize}`);
      log(`  parameters ${s.parameters.toLocaleString()} (non-embedding ${s.nonEmbeddingParameters.toLocaleString()}), width-depth ratio ${s.widthDepthRatio.toFixed(1)}`);
      if (s.disk) {
        const gb = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(1)} MB`);
        log(`  on disk: ${gb(s.disk.weightBytes)} of weights`);
        for (const g of s.disk.graphs) {
          const why = g.conversions.map((c) => `${gb(c.bytes)} ${c.reason}`).join('; ');
          log(`  ${g.target} graph (${g.dtype}): reads ${gb(g.inPlaceBytes)} in place, writes ${gb(g.convertedBytes)} once to the graph cache${why ? ` (${why})` : ''}`);
        }
      }
      for (const n of s.notices) log(`  note: ${n}`);
    }
    return 0;
  },
};
