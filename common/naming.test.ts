// The one parser of step / tokens trained / model size (issue 17): a table of real-world checkpoint names.
import { describe, expect, it } from 'vitest';
import { describeConfig } from './run-label';
import { distinctNames, formatTokens, guessSeries, loneSeries, parseCheckpointName, parseTokens, readTrainerState, trainingPosition } from './naming';

describe('checkpoint names', () => {
  it.each([
    // Hugging Face Trainer
    ['checkpoint-500', { stem: '', step: 500 }],
    // bare step folders; Pythia revisions
    ['step500', { stem: '', step: 500 }],
    ['step143000', { stem: '', step: 143000 }],
    ['step-12000', { stem: '', step: 12000 }],
    // DeepSpeed, Megatron
    ['global_step12000', { stem: '', step: 12000 }],
    ['iter_0001000', { stem: '', step: 1000 }],
    // OLMo revisions: step and tokens
    ['step1000-tokens4B', { stem: '', step: 1000, tokens: 4e9 }],
    ['step20-tokens84M', { stem: '', step: 20, tokens: 84e6 }],
    ['step477000-tokens2000B', { stem: '', step: 477000, tokens: 2e12 }],
    // MiniCPM-style: a size and the tokens
    ['minicpm-2.4B-tokens-20B', { stem: 'minicpm-2.4B', tokens: 2e10, modelSize: 2.4e9 }],
    // a size and a step: tokens unknown
    ['relu-7b-step-500', { stem: 'relu-7b', step: 500, modelSize: 7e9 }],
    ['llama-0.1b-tokens_1.5T', { stem: 'llama-0.1b', tokens: 1.5e12, modelSize: 1e8 }],
    ['tokens-20B', { stem: '', tokens: 20e9 }],
    ['20B-tokens', { stem: '', tokens: 20e9 }],
    ['20B', { stem: '', tokens: 20e9 }],
    ['1.5T', { stem: '', tokens: 1.5e12 }],
    ['step-3000-12.5B', { stem: '', step: 3000, tokens: 12.5e9 }],
    ['pythia-70m', { stem: 'pythia-70m', modelSize: 7e7 }],
    ['qwen2-0.5b', { stem: 'qwen2-0.5b', modelSize: 5e8 }],
    ['final', { stem: 'final' }],
    ['model.onnx', { stem: 'model' }],
  ])('%s', (name, want) => expect(parseCheckpointName(name)).toEqual(want));

  it('unknown stays unknown and is shown as such', () => {
    expect(parseCheckpointName('relu-7b-step-500').tokens).toBeUndefined();
    expect(formatTokens(undefined)).toBe('unknown');
    expect(formatTokens(2e10)).toBe('20B');
    expect(formatTokens(1.5e12)).toBe('1.5T');
  });

  it('trainer_state.json and a tokens-per-step fill in tokens a name does not give', () => {
    expect(trainingPosition('relu-7b-step-500')).toEqual({ stem: 'relu-7b', step: 500, modelSize: 7e9 });
    expect(trainingPosition('relu-7b-step-500', { tokensPerStep: 4e6 })).toMatchObject({ tokens: 2e9, tokensFrom: 'step × tokens per step' });
    const ts = { global_step: 500, log_history: [{ step: 10, num_input_tokens_seen: 40960 }, { step: 500, num_input_tokens_seen: 2048000 }] };
    expect(trainingPosition('checkpoint-500', { trainerState: ts, tokensPerStep: 1 })).toMatchObject({ step: 500, tokens: 2048000, tokensFrom: 'trainer_state.json' });
    expect(trainingPosition('final', { trainerState: { global_step: 70 }, tokensPerStep: 100 })).toMatchObject({ step: 70, tokens: 7000 });
    // the name wins over trainer_state; malformed trainer_state is unknown
    expect(trainingPosition('tokens-20B', { trainerState: { num_input_tokens_seen: 5 } })).toMatchObject({ tokens: 20e9, tokensFrom: 'name' });
    for (const bad of [null, 'x', 3, { global_step: -1, num_input_tokens_seen: 'many' }, { log_history: 'no' }]) expect(readTrainerState(bad)).toEqual({});
    expect(trainingPosition('final', { tokensPerStep: NaN }).tokens).toBeUndefined();
  });

  it('series names and typed tokens', () => {
    expect(guessSeries('/data/relu-0.1b/step-12000')).toBe('relu-0.1b');
    expect(guessSeries('/data/runs/relu-7b-step-500')).toBe('relu-7b');
    expect(parseTokens('20B')).toBe(20e9);
    expect(parseTokens('lots')).toBeUndefined();
  });

  it('a checkpoint added on its own is in a series only when its name says where in training it is', () => {
    expect(loneSeries('/data/relu-0.1b/step-12000')).toBe('relu-0.1b');
    expect(loneSeries('/data/runs/relu-7b-step-500')).toBe('relu-7b');
    expect(loneSeries('/ckpts/minicpm-2.4B-tokens-20B')).toBe('minicpm-2.4B');
    expect(loneSeries('/data/olmo/step1000-tokens4B')).toBe('olmo');
    // a single model: its folder name is no series
    expect(loneSeries('/work/tiny-relu')).toBe('');
    expect(loneSeries('/models/pythia-70m')).toBe('');
    expect(loneSeries('/demo-lab/models/relu')).toBe('');
    expect(loneSeries('/exports/model.onnx')).toBe('');
  });
});

describe('distinctNames (the runs table\'s Checkpoint column)', () => {
  it('runs of two models at the same step are told apart by the model folder', () => {
    const n = distinctNames(['/data/model-A/003000', '/data/model-B/003000', '/data/model-A/006000']);
    expect([...n.values()]).toEqual(['model-A/003000', 'model-B/003000', 'model-A/006000']);
  });
  it('a name that says which model is enough alone; a bare step, tokens or model.onnx gets its folder', () => {
    const n = distinctNames(['/x/relu-0.1b', '/x/runs/checkpoint-500', 'C:\\ck\\llama\\20B', '/m/qwen/model.onnx']);
    expect([...n.values()]).toEqual(['relu-0.1b', 'runs/checkpoint-500', 'llama/20B', 'qwen/model.onnx']);
  });
  it('the shortest distinguishing tail, however deep the paths differ', () => {
    const paths = ['/a/exp1/relu/003000', '/a/exp2/relu/003000', '/a/exp2/silu/003000', '/b/exp2/silu/003000'];
    const n = distinctNames(paths);
    expect(paths.map((p) => n.get(p))).toEqual(['exp1/relu/003000', 'exp2/relu/003000', 'a/exp2/silu/003000', 'b/exp2/silu/003000']);
    // every name is a tail of its path and no two differing paths share one
    expect(new Set(n.values()).size).toBe(paths.length);
    for (const p of paths) expect(p.endsWith(n.get(p)!)).toBe(true);
  });
  it('equal paths share a name; a path that is the tail of another keeps all its names', () => {
    const n = distinctNames(['/m/x', '/m/x', 'm/x', '/d/m/x']);
    expect(n.get('/m/x')).toBe('m/x');
    expect(n.get('m/x')).toBe('m/x');
    expect(n.get('/d/m/x')).toBe('d/m/x');
    expect(distinctNames([]).size).toBe(0);
    expect(distinctNames(['/']).get('/')).toBe('/');
  });
  it('names the checkpoint in a run\'s label the same way', () => {
    expect(describeConfig({ kind: 'measure', method: 'cett-ppl', p: 1, checkpoint: '/runs/model-A/003000' })).toBe('CETT-PPL-1% · model-A/003000');
    expect(describeConfig({ kind: 'measure', method: 'fat', param: 0.1, checkpoint: 'C:\\m\\relu-0.1b' })).toBe('FAT-ε 0.1 · relu-0.1b');
  });
});
