// The inference worker when the engine runs from its TypeScript sources (CLI, tests, browser mode): TypeScript is
// compiled on the fly by tsx, as bin/run-ts does. Bundles start inference-worker.cjs instead (runner-off-thread.ts).
import { register } from 'tsx/esm/api';

register();
await import('./inference-worker.ts');
