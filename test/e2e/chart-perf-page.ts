// Page script of chart-perf.e2e.test.ts: chart.js with the same plugins and the same interaction layer
// as renderer/src/charts/ChartPanel.vue, bundled by esbuild for a blank Chromium page.
import { Chart, registerables } from 'chart.js';
import { MatrixController, MatrixElement } from 'chartjs-chart-matrix';
import annotationPlugin from 'chartjs-plugin-annotation';
import zoomPlugin from 'chartjs-plugin-zoom';
import { interactive } from '../../renderer/src/charts/interaction';

Chart.register(...registerables, MatrixController, MatrixElement, annotationPlugin, zoomPlugin);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const w = window as any;
w.mountChart = (config: Record<string, unknown>, plot: never, widthPt: number, heightPt: number) => {
  w.chart?.destroy();
  const el = document.getElementById('c') as HTMLCanvasElement;
  el.style.width = `${widthPt}px`;
  el.style.height = `${heightPt}px`;
  el.width = widthPt;
  el.height = heightPt;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  w.chart = new Chart(el, interactive(config, { plot }) as any);
};
