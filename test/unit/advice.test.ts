// The run monitor's advice under a failed run's message (renderer/src/result.ts adviceFor) follows what went wrong:
// a binary or non-UTF-8 evaluation text was told to "use a longer evaluation text", a folder given as the text to
// "check the path: the engine could not find that file", NaN weights to shorten the text.
import { expect, test } from 'vitest';
import { adviceFor } from '../../renderer/src/result';

test('advice for the evaluation text follows the problem the engine named', () => {
  expect(adviceFor('BAD_DATA', 'evaluation data /d/bin.txt is not valid UTF-8 text')).toMatch(/plain UTF-8 text file/);
  expect(adviceFor('BAD_DATA', 'evaluation data /d/e.txt is empty')).toMatch(/plain UTF-8 text file/);
  expect(adviceFor('BAD_DATA', 'evaluation data /d/s.txt is too short: it gives 3 tokens, the budget needs 4 sequences of 256')).toMatch(/longer evaluation text/);
  expect(adviceFor('NOT_FOUND', 'evaluation data /d/models cannot be read: it is a folder, not a text file')).toMatch(/text file itself, not the folder/);
  expect(adviceFor('NOT_FOUND', 'checkpoint /d/nope: no such file or folder')).toMatch(/Check the path/);
});

test('a BAD_DATA that is not about the text is not answered with text advice', () => {
  const a = adviceFor('BAD_DATA', 'model.safetensors: tensor model.layers.0.mlp.down_proj.weight holds NaN');
  expect(a).not.toMatch(/evaluation text|token budget/);
  expect(a).toMatch(/names the file/);
});
