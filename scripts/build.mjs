// Builds what is stale: the renderer (Vite → dist/renderer) and the Electron shell bundles
// (esbuild → dist-electron/{main,preload,engine-host,checkpoint-worker,laws-worker,graph-worker,inference-worker,block-host-worker}.cjs). `--renderer` builds only the renderer.
import { build as esbuild } from 'esbuild';
import { build as viteBuild } from 'vite';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gitCommit } from './git-commit.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const only = process.argv.includes('--renderer') ? 'renderer' : process.argv.includes('--electron') ? 'electron' : 'all';
const force = process.argv.includes('--force');

function newest(dirs, exts) {
  let t = 0;
  const walk = (d) => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules') walk(p);
      } else if (exts.some((x) => e.name.endsWith(x))) t = Math.max(t, fs.statSync(p).mtimeMs);
    }
  };
  dirs.forEach((d) => walk(path.join(root, d)));
  return t;
}
const mtime = (f) => (fs.existsSync(path.join(root, f)) ? fs.statSync(path.join(root, f)).mtimeMs : 0);

/** every folder the renderer's sources import from: a change in any of them makes dist/renderer stale */
export const RENDERER_INPUTS = ['renderer', 'main/api', 'common'];

export async function buildRenderer() {
  const src = Math.max(newest(RENDERER_INPUTS, ['.ts', '.vue', '.html', '.css', '.svg', '.json']), mtime('package-lock.json'));
  if (!force && mtime('dist/renderer/index.html') >= src) return false;
  if (!fs.existsSync(path.join(root, 'renderer/vite.config.ts'))) throw new Error('renderer/vite.config.ts is missing');
  await viteBuild({ configFile: path.join(root, 'renderer/vite.config.ts'), logLevel: 'warn' });
  return true;
}

/** esbuild options of the shell bundles (test/unit/electron-shell.test.ts builds main.cjs with them and checks what it holds) */
export function electronBuildOptions() {
  return {
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: true,
    logLevel: 'warning',
    // Native modules stay outside the bundle (unpacked from asar by electron-builder).
    external: ['electron', 'onnxruntime-node', 'better-sqlite3', '@napi-rs/canvas', 'fsevents'],
    define: { 'import.meta.url': '__importMetaUrl', 'process.env.SPARSITY_LAB_COMMIT': JSON.stringify(gitCommit()) },
    banner: { js: "const __importMetaUrl = require('url').pathToFileURL(__filename).href;" },
  };
}

/** worker threads the engine starts from a file next to its bundle (main/base/worker-script.ts finds them); build-bench.mjs too */
export const workerEntryPoints = { 'checkpoint-worker': 'main/checkpoint/open-worker.ts', 'laws-worker': 'main/laws/worker.ts', 'graph-worker': 'main/inference/graph-worker.ts', 'inference-worker': 'main/inference/inference-worker.ts', 'block-host-worker': 'main/inference/block-host-worker.ts' };

export async function buildElectron() {
  const src = newest(['electron', 'main'], ['.ts']);
  if (!force && mtime('dist-electron/main.cjs') >= src) return false;
  const common = electronBuildOptions();
  // checkpoint-worker: the engine's checkpoint reader thread, found next to engine-host.cjs (main/checkpoint/open.ts)
  await esbuild({ ...common, entryPoints: { main: 'electron/main.ts', 'engine-host': 'electron/engine-host.ts', ...workerEntryPoints }, outdir: 'dist-electron', outExtension: { '.js': '.cjs' }, absWorkingDir: root });
  await esbuild({ ...common, entryPoints: { preload: 'electron/preload.ts' }, outdir: 'dist-electron', outExtension: { '.js': '.cjs' }, absWorkingDir: root });
  return true;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = Date.now();
  const built = [];
  if (only !== 'electron' && (await buildRenderer())) built.push('renderer');
  if (only !== 'renderer' && (await buildElectron())) built.push('electron shell');
  console.error(built.length ? `built ${built.join(' + ')} in ${((Date.now() - t0) / 1000).toFixed(1)} s` : 'build is up to date');
}
