// Test page for ChartPanel.vue alone (chart-perf.e2e.test.ts): ?token=…&kind=…&session=… from the URL.
import { createApp, h } from 'vue';
import ChartPanel from '../../../renderer/src/charts/ChartPanel.vue';
import type { ChartKind } from '../../../main/api/contract';

const q = new URLSearchParams(location.search);
createApp({ render: () => h(ChartPanel, { kind: (q.get('kind') ?? 'pareto') as ChartKind, sessionPath: q.get('session') ?? undefined }) }).mount('#app');
