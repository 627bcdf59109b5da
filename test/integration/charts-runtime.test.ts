// The chart runtime (common/chart-runtime.ts, one implementation imported by the Node export and the UI).
import { expect, test } from 'vitest';
import { hydrate } from '../../common/chart-runtime';

test('hydrate turns the hints into functions and leaves the input config alone', () => {
  const cfg = { type: 'matrix', data: { datasets: [{ data: [], lab: { legend: false, cells: { cols: 4, rows: 2 } } }, { data: [], lab: {} }] }, options: {} };
  const before = JSON.stringify(cfg);
  {
    const c = hydrate(cfg);
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
