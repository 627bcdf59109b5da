// The Laws page's fit table (renderer/src/lawtable.ts): CSV that reads back to the fitted numbers exactly, and a
// booktabs LaTeX table with the intervals and escaped names.
import { expect, test } from 'vitest';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../main/engine/engine';
import type { SeriesLawFit } from '../../main/api/contract';
import { fitTableCsv, fitTableLatex } from '../../renderer/src/lawtable';
import { parseCsv } from '../../main/laws/import';

test('fit table CSV round-trips every value; LaTeX carries A0 with its interval', async () => {
  const dir = path.join(os.tmpdir(), `lawtable-${process.pid}`);
  const e = new Engine({ paths: { userData: dir, cache: dir }, log: { info() {}, warn() {}, error() {} } });
  try {
    const D = Array.from({ length: 12 }, (_, i) => 5 + i * 20);
    const points = [
      ...D.map((d) => ({ tokens: d * 1e9, activationRatio: Math.exp(-1.56e-4 * d ** 1.53 - 3.46) + 0.0648, series: 'relu_2.4b', activation: 'relu' })),
      ...D.map((d) => ({ tokens: d * 1e9, activationRatio: -0.3 / d ** 0.5 + 0.4, series: 'silu-0.1b', activation: 'silu' })),
    ];
    const { fits } = (await e.call('laws.fit', { points, bootstrap: 20, seed: 3 })) as { fits: SeriesLawFit[] };
    const rows = parseCsv(fitTableCsv(fits));
    const head = rows[0].fields;
    expect(head.slice(0, 4)).toEqual(['series', 'activation', 'form', 'A0']);
    for (const [i, f] of fits.entries()) {
      const r = Object.fromEntries(head.map((h, j) => [h, rows[i + 1].fields[j]]));
      expect(r.series).toBe(f.series);
      expect(Number(r.A0)).toBe(f.A0);
      expect(Number(r.A0_low)).toBe(f.A0Low);
      for (const [k, v] of Object.entries(f.params)) if (k !== 'A0') expect([Number(r[k]), Number(r[`${k}_low`]), Number(r[`${k}_high`])]).toEqual([v, f.ci[k].low, f.ci[k].high]);
    }
    const relu = fits.find((f) => f.series === 'relu_2.4b')!;
    expect(relu.A0).toBeCloseTo(0.0648, 3); // the generating law's limit
    const tex = fitTableLatex(fits);
    expect(tex).toMatch(/\\begin\{tabular\}[\s\S]*\\toprule[\s\S]*\\bottomrule\s*\\end\{tabular\}/);
    expect(tex).toContain('relu\\_2.4b');
    // the exponent is the paper's α, typeset as such (it was '$alpha$': five italic letters)
    expect(tex).toContain('$\\alpha$');
    expect(tex).not.toMatch(/\$alpha\$/);
    expect(tex).toContain(`$${Number(relu.A0.toPrecision(4))}$ {\\scriptsize [$${Number(relu.A0Low!.toPrecision(3))}$`);
  } finally {
    await e.dispose();
  }
});
