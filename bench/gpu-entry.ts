// Bundled entry for the GPU machine (no npm there): `node dist-bench/bench.cjs <suite> [options]`.
import { main as forward } from './forward';
import { main as measure } from './measure';
import { main as profile } from './profile';
import { main as open } from './open';
import { main as kernels } from './kernels';
import { main as estimate } from './estimate';
import { main as cpusearch } from './cpusearch';
import { main as curvesweep } from './curvesweep';
import { dumpNll } from '../tools/gpu-check/nll';

const [suite, ...rest] = process.argv.slice(2);
const suites: Record<string, (a: string[]) => Promise<void>> = { forward, measure, profile, open, kernels, estimate, cpusearch, curvesweep, 'dump-nll': dumpNll };
if (!suites[suite]) {
  console.error(`usage: bench.cjs <${Object.keys(suites).join('|')}> [options]`);
  process.exit(2);
}
suites[suite](rest).catch((e) => {
  console.error(`bench ${suite}: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
