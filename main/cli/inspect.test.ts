// `bin/sparsity-lab inspect <path> --json` end to end (a real process): the card of a tiny checkpoint, and a
// clear message with a non-zero exit for a path that is not a checkpoint.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { writeTinyCheckpoint } from '../checkpoint/testing/tiny';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-inspect-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const bin = path.resolve(__dirname, '../../bin/sparsity-lab');

it('inspect --json prints the architecture card; a bad path exits non-zero with the reason', () => {
  const dir = writeTinyCheckpoint(path.join(tmp, 'opt'), 'opt', { hidden: 16, layers: 3, intermediate: 48, heads: 2 });
  const r = spawnSync(bin, ['inspect', dir, '--json'], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  const card = JSON.parse(r.stdout);
  // OPT: tied embeddings; learned positions (128 + 2 rows); per layer 2 LayerNorms, 4 biased attention
  // projections, fc1 and fc2 with biases
  const h = 16, F = 48, V = 260, P = 130;
  const total = V * h + P * h + 2 * h + 3 * (4 * h + 4 * (h * h + h) + (F * h + F) + (h * F + h));
  expect(card).toMatchObject({ family: 'opt', activation: 'relu', layers: 3, hiddenSize: h, intermediateSize: F, heads: 2, kvHeads: 2, vocabSize: V, parameters: total, nonEmbeddingParameters: total - V * h - P * h, widthDepthRatio: h / 3, dtype: 'float32', gated: false });
  const bad = spawnSync(bin, ['inspect', path.join(tmp, 'missing')], { encoding: 'utf8', timeout: 60_000 });
  expect(bad.status).not.toBe(0);
  expect(bad.stderr).toMatch(/missing: no such file or folder/);
}, 60_000);
