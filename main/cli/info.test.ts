// `bin/sparsity-lab info` end to end (a real process): the GPU probes' native warnings (Dawn's "Couldn't load Vulkan
// … at operator()") stay out of normal output, each provider is one line, and --verbose shows the raw text.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';

const bin = path.resolve(__dirname, '../../bin/sparsity-lab');

it('info prints one line per provider and no native warnings unless --verbose', () => {
  const r = spawnSync(bin, ['info'], { encoding: 'utf8', timeout: 120_000 });
  expect(r.status).toBe(0);
  const all = r.stdout + r.stderr;
  expect(all).not.toMatch(/operator\(\)|dawn|BackendVk|onnxruntime_src|was false/i);
  expect(r.stderr.trim()).toBe('');
  const lines = r.stdout.trim().split('\n');
  for (const name of ['cuda', 'webgpu', 'cpu']) expect(lines.filter((l) => new RegExp(`^ {2}(ok|no) {3}${name}[ :]`).test(l))).toHaveLength(1);
  expect(lines).toHaveLength(4);
  expect(lines.some((l) => /^ {2}ok {3}cpu \(/.test(l))).toBe(true);

  const v = spawnSync(bin, ['info', '--verbose'], { encoding: 'utf8', timeout: 120_000 });
  expect(v.status).toBe(0);
  expect(v.stderr.trim()).toBe('');
  // A machine where WebGPU fails (this one, CI) shows its raw error under --verbose.
  if (/ no {3}webgpu:/.test(r.stdout)) expect(v.stdout).toMatch(/\| .*WebGPU/);
}, 180_000);
