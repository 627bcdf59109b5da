// The block-host worker when the engine runs from its TypeScript sources (CLI, tests, browser mode): TypeScript is
// compiled on the fly by tsx, as bin/run-ts does. Bundles start block-host-worker.cjs instead (block-host.ts).
import { register } from 'tsx/esm/api';

register();
await import('./block-host-worker.ts');
