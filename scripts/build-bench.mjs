// Bundles the benchmark for the GPU machine, which has Node and onnxruntime-node (with CUDA/WebGPU) but no
// npm registry: everything else is inlined. Output: dist-bench/bench.cjs (~2 MB).
import { build } from 'esbuild';
import { gitCommit } from './git-commit.mjs';
import { workerEntryPoints } from './build.mjs';
await build({
  // the engine's worker threads sit next to the bundle (main/base/worker-script.ts)
  entryPoints: { bench: 'bench/gpu-entry.ts', ...workerEntryPoints },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outdir: 'dist-bench',
  outExtension: { '.js': '.cjs' },
  external: ['onnxruntime-node', 'better-sqlite3', '@napi-rs/canvas'],
  define: { 'import.meta.url': '__importMetaUrl', 'process.env.SPARSITY_LAB_COMMIT': JSON.stringify(gitCommit()) },
  banner: { js: "const __importMetaUrl = require('url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});
console.error(`built dist-bench/bench.cjs and ${Object.keys(workerEntryPoints).map((w) => `${w}.cjs`).join(', ')}`);
