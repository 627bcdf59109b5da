// The checkpoint reader's worker when the engine runs from its TypeScript sources (CLI, tests, browser mode): TypeScript
// is compiled on the fly by tsx, as bin/run-ts does. Bundles start checkpoint-worker.cjs instead (open.ts workerScript).
import { register } from 'tsx/esm/api';

register();
await import('./open-worker.ts');
