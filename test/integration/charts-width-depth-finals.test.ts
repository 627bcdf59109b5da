// Width-depth chart from single final checkpoints (no fitted series): the measured activation ratios are
// plotted against d_h/L as they are, labelled as such, and the piecewise fit recovers a known bottleneck.
import { expect, test } from 'vitest';
import { plotData } from '../../main/charts/data';
import { fromSnapshot, parseSnapshot } from '../../main/charts/source';
import { fitPiecewise } from '../../main/laws/index';

test('single checkpoints of different shapes give points at d_h/L and a bottleneck near the true one', () => {
  // activation = 0.10 + 0.001·r below r = 100, flat above (a made-up law with a known bottleneck)
  const shapes = [
    [64, 16],
    [128, 8],
    [192, 4],
    [256, 4],
    [320, 4],
    [400, 2],
    [512, 2],
  ];
  const law = (r: number) => 0.1 + 0.001 * Math.min(r, 100);
  const snap = parseSnapshot(
    {
      checkpoints: shapes.map(([h, L], i) => ({ id: `c${i}`, name: `wd-${h}x${L}`, activation: 'relu', hiddenSize: h, numLayers: L })),
      runs: shapes.map(([h, L], i) => ({ id: `r${i}`, checkpointId: `c${i}`, method: 'cett-ppl', status: 'done', activationRatio: law(h / L) })),
      fits: [],
    },
    'test',
  );
  const deps = {
    widthDepthFitter: (pts: { x: number; y: number }[]) => {
      const f = fitPiecewise(pts);
      return { slope: f.slope, intercept: f.intercept, bottleneck: f.bottleneck, bottleneckLow: f.bottleneckLow, bottleneckHigh: f.bottleneckHigh };
    },
  };
  const d = plotData('limit-vs-width-depth', fromSnapshot(snap), {}, deps);
  const measured = d.series.find((s) => s.role === 'measured')!;
  expect(measured.points.map((p) => p.x)).toEqual([4, 16, 48, 64, 80, 200, 256]);
  expect(measured.points.map((p) => p.y)).toEqual([4, 16, 48, 64, 80, 200, 256].map((r) => law(r) * 100));
  expect(d.yLabel).toBe('Activation ratio (%)'); // not a limit A₀; short enough for the figure's height
  expect(measured.label).toMatch(/final checkpoint/);
  expect(d.notes.join(' ')).toMatch(/not a limit/);
  expect(Math.abs(d.vlines![0].x - 100)).toBeLessThan(25);
});
