/**
 * What the UI adds to the engine's chart config: interaction only (zoom/pan, tooltips naming the run,
 * decimation of big series while exploring). Styling stays the engine's (main/charts/spec.ts).
 * Plain TS (no Vue) so the 10k-point e2e benchmark page runs exactly this code.
 */
import type { ChartConfigResult } from '../../../main/api/contract';
import { hydrate } from '../../../common/chart-runtime';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

export function interactive(cfg: Json, r: Pick<ChartConfigResult, 'plot'>): Json {
  const c = hydrate(cfg);
  const o = c.options;
  o.responsive = false;
  o.animation = false;
  o.events = ['mousemove', 'mouseout', 'click', 'touchstart', 'touchmove', 'wheel'];
  const points = r.plot.series.reduce((n, s) => n + s.points.length, 0);
  if (!r.plot.heatmap) {
    // chart.js reads our {x, y} objects as they are (no parsing pass); big line series are decimated
    // (LTTB) to what the pixels can show, recomputed for the visible range on every zoom/pan.
    o.parsing = false;
    if (points > 2000 && r.plot.xScale === 'linear') o.plugins.decimation = { enabled: true, algorithm: 'lttb', samples: 1000, threshold: 1000 };
  }
  o.plugins.zoom = {
    pan: { enabled: true, mode: 'xy' },
    // Ctrl + wheel zooms (a trackpad's pinch arrives as one): the plain wheel scrolls the page, which it could not do
    // with the pointer over the figure while the wheel zoomed
    zoom: { wheel: { enabled: true, modifierKey: 'ctrl' }, pinch: { enabled: true }, mode: 'xy' },
  };
  // x in the axis's unit (a count axis in M shows 12.5, not 0.0125 B)
  const xFactor = typeof o.scales?.x?.lab?.unitFactor === 'number' ? (o.scales.x.lab.unitFactor as number) : 1;
  o.plugins.tooltip = {
    enabled: true,
    callbacks: {
      label: (it: Json) => {
        const raw = it.raw as Json;
        if (raw && typeof raw.v === 'number') return `${r.plot.heatmap?.vLabel ?? 'value'}: ${raw.v.toPrecision(4)} (layer ${raw.y}, token ${raw.x})`;
        return `${it.dataset.label}: (${(Number(raw?.x) * xFactor).toPrecision(4)}, ${raw?.y === null ? '–' : Number(raw?.y).toPrecision(4)})`;
      },
      afterLabel: (it: Json) => (it.raw && it.raw.run ? String(it.raw.run) : ''),
    },
  };
  return c;
}
