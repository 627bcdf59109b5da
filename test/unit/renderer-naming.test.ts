// The renderer's folder-name parsing (pre-fills of the load-checkpoint wizard, issue 7).
import { expect, test } from 'vitest';
import { guessSeries, parseName, parseTokens } from '../../renderer/src/naming';

test('reads tokens and steps from the folder names the issue lists', () => {
  expect(parseName('tokens-20B')).toEqual({ stem: '', tokens: 20e9, step: undefined });
  expect(parseName('20B')).toEqual({ stem: '', tokens: 20e9, step: undefined });
  expect(parseName('step-12000')).toEqual({ stem: '', tokens: undefined, step: 12000 });
  expect(parseName('global_step12000')).toEqual({ stem: '', tokens: undefined, step: 12000 });
  expect(parseName('llama-0.1b-tokens_1.5T')).toMatchObject({ stem: 'llama-0.1b', tokens: 1.5e12 });
  expect(parseName('checkpoint-500')).toMatchObject({ stem: '', step: 500 });
});

test('a model size in the name is not mistaken for tokens', () => {
  expect(parseName('pythia-70m').tokens).toBeUndefined();
  expect(parseName('qwen2-0.5b').tokens).toBeUndefined();
});

test('series name comes from the folder, else from its parent', () => {
  expect(guessSeries('/data/relu-0.1b/step-12000')).toBe('relu-0.1b');
  expect(guessSeries('/data/relu-0.1b/global_step12000/')).toBe('relu-0.1b');
  expect(guessSeries('/data/runs/silu-0.4b-step-500')).toBe('silu-0.4b');
});

test('tokens typed by the user', () => {
  expect(parseTokens('20B')).toBe(20e9);
  expect(parseTokens(' 300m ')).toBe(300e6);
  expect(parseTokens('1.5e9')).toBe(1.5e9);
  expect(parseTokens('12000')).toBe(12000);
  expect(parseTokens('lots')).toBeUndefined();
  expect(parseTokens('-5')).toBeUndefined();
});
