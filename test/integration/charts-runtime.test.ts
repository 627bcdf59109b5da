// The chart runtime exists twice (main/ for Node export, renderer/ for the UI; the lint boundary forbids
// sharing values). Both must be the same code, or the UI and the exported figure would drift apart.
import { expect, test } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { hydrate } from '../../main/charts/runtime';
import { hydrate as hydrateUi } from '../../renderer/src/charts/runtime';

const MARKER = '// ---- shared runtime below';
const body = (f: string) => {
  const s = fs.readFileSync(path.resolve(__dirname, '../..', f), 'utf8');
  expect(s.indexOf(MARKER), f).toBeGreaterThan(0);
  return s.slice(s.indexOf(MARKER));
};

test('main and renderer runtimes are identical below the marker', () => {
  expect(body('renderer/src/charts/runtime.ts')).toBe(body('main/charts/runtime.ts'));
});

test('hydrate turns the hints into functions and leaves the input config alone', () => {
  const cfg = { type: 'matrix', data: { datasets: [{ data: [], lab: { legend: false, cells: { cols: 4, rows: 2 } } }, { data: [], lab: {} }] }, options: {} };
  const before = JSON.stringify(cfg);
  for (const h of [hydrate, hydrateUi]) {
    const c = h(cfg);
    const ds = c.data.datasets;
    expect(ds[0].width({ chart: { chartArea: { left: 10, right: 110, top: 0, bottom: 50 } } })).toBeCloseTo(25.3, 10);
    expect(ds[0].height({ chart: { chartArea: { left: 10, right: 110, top: 0, bottom: 50 } } })).toBeCloseTo(25.3, 10);
    const filter = c.options.plugins.legend.labels.filter;
    expect(filter({ datasetIndex: 0 }, c.data)).toBe(false);
    expect(filter({ datasetIndex: 1 }, c.data)).toBe(true);
    expect(c.plugins.map((p: { id: string }) => p.id)).toContain('labColorbar');
  }
  expect(JSON.stringify(cfg)).toBe(before);
});
