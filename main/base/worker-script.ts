/**
 * A worker thread's script: from the TypeScript sources, `devScript` (an .mjs beside the caller that runs the worker's
 * .ts through tsx); in a bundle, `bundled` beside the bundle (scripts/build.mjs workerEntryPoints builds it). In a
 * packaged app the bundle sits in app.asar, the worker in app.asar.unpacked (electron-builder.yml asarUnpack).
 */
import { fileURLToPath } from 'node:url';

export function workerScriptFor(here: string, devScript: string, bundled: string): string {
  if (/\.[cm]?ts$/.test(new URL(here).pathname)) return fileURLToPath(new URL(`./${devScript}`, here));
  const file = fileURLToPath(new URL(`./${bundled}`, here));
  return file.replace(/([\\/])app\.asar([\\/])/, '$1app.asar.unpacked$2');
}
