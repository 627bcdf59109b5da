// CLI of nll.ts (see there): node bin/run-ts tools/gpu-check/dump-nll.ts <outdir> [--provider cpu|cuda|webgpu|auto]
import { dumpNll } from './nll';

await dumpNll(process.argv.slice(2));
