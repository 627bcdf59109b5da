import { parseArgs } from 'node:util';
import { LabError } from '../api/errors';
import type { CliCommand } from './commands';

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
      console.log(`${s.path}\n  ${s.family} (${s.modelType}), ${s.activation}${s.gated ? ', gated FFN' : ''}, ${s.dtype}`);
      console.log(`  layers ${s.layers}, d_h ${s.hiddenSize}, d_f ${s.intermediateSize}, heads ${s.heads}/${s.kvHeads} kv, vocab ${s.vocabSize}`);
      console.log(`  parameters ${s.parameters.toLocaleString()} (non-embedding ${s.nonEmbeddingParameters.toLocaleString()}), width-depth ratio ${s.widthDepthRatio.toFixed(1)}`);
      for (const n of s.notices) console.log(`  note: ${n}`);
    }
    return 0;
  },
};
