// The independent check of a threshold export (main/engine/export-thresholds.ts), shared by its unit test and the
// run page's end-to-end test: ‖W_out[:, i]‖₂ parsed straight from model.safetensors in float64 (own header parse,
// not the engine's reader), then the three files read back against the run's ε, frequencies and token count.
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';

/** ‖W_out[:, i]‖₂ of each of the first L layers of a llama-named F32 model.safetensors */
export function colNormsFromSafetensors(file: string, L: number): number[][] {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  return Array.from({ length: L }, (_, l) => {
    const t = header[`model.layers.${l}.mlp.down_proj.weight`];
    expect(t.dtype).toBe('F32');
    const [d, f] = t.shape;
    const at = 8 + n + t.data_offsets[0];
    return Array.from({ length: f }, (_, i) => {
      let s = 0;
      for (let r = 0; r < d; r++) s += buf.readFloatLE(at + 4 * (r * f + i)) ** 2;
      return Math.sqrt(s);
    });
  });
}

/** a file's data lines: `#` comment lines dropped (CSV: the header row, then data rows) */
export const dataLines = (file: string): string[] => fs.readFileSync(file, 'utf8').split('\n').filter((x) => x && !x.startsWith('#'));

/**
 * The export `<dir>/<base>.{thresholds.env,tau.csv,frequency.csv}` holds: ε exactly (round-trip precision), one τ row
 * per neuron with τ = ε_l / ‖W_out[:, i]‖ and its norm within 1e-6 (relative), one frequency row per neuron whose count
 * is `counts` exactly and whose frequency is within `freqTol` of `frequency`.
 */
export function expectThresholdFiles(dir: string, base: string, want: { model: string; eps: number[]; frequency: number[][]; counts: number[][]; freqTol?: number }): void {
  const L = want.eps.length;
  const env = dataLines(path.join(dir, `${base}.thresholds.env`));
  expect(env).toHaveLength(1);
  const [k, v] = env[0].split('=');
  expect(k).toBe('thresholds');
  expect(v.split(',').map(Number)).toEqual(want.eps);

  const norms = colNormsFromSafetensors(path.join(want.model, 'model.safetensors'), L);
  const tau = dataLines(path.join(dir, `${base}.tau.csv`));
  expect(tau[0]).toBe('layer,neuron,col_norm,tau');
  expect(tau).toHaveLength(1 + norms.flat().length);
  for (const row of tau.slice(1)) {
    const [l, i, norm, t] = row.split(',').map(Number);
    expect(Math.abs(norm - norms[l][i]) / norms[l][i], row).toBeLessThan(1e-6);
    expect(Math.abs(t - want.eps[l] / norms[l][i]) / t, row).toBeLessThan(1e-6);
  }

  const fr = dataLines(path.join(dir, `${base}.frequency.csv`));
  expect(fr[0]).toBe('layer,neuron,frequency,count');
  expect(fr).toHaveLength(1 + want.counts.flat().length);
  for (const row of fr.slice(1)) {
    const [l, i, f, c] = row.split(',').map(Number);
    expect(c, row).toBe(want.counts[l][i]);
    expect(Math.abs(f - want.frequency[l][i]), row).toBeLessThanOrEqual(want.freqTol ?? 0);
  }
}
