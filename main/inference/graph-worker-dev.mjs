// The graph worker when the engine runs from its TypeScript sources (CLI, tests, browser mode): TypeScript is compiled
// on the fly by tsx, as bin/run-ts does. Bundles start graph-worker.cjs instead (graph-off-thread.ts).
import { register } from 'tsx/esm/api';

register();
await import('./graph-worker.ts');
