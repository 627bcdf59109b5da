/**
 * `npm run web`: browser mode. Prints the URL (with its per-launch token) and keeps serving.
 * Flags: --port N (default: a random free port), --static DIR, --json (print {url,port,token} as JSON), --session FILE
 * (the page opens it), --demo (the page opens the demo lab), --start (the lab's start, as `npm start` and the app do:
 * the page asks the engine — the demo lab in its session view on the first start, later the session open last).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startServer } from './server';
import { prepareDemoSession } from '../engine/demo';
import { defaultPaths } from '../engine/engine';
import { settleInferenceWorkers } from '../inference/runner-off-thread';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({
  options: { port: { type: 'string' }, static: { type: 'string' }, json: { type: 'boolean' }, session: { type: 'string' }, demo: { type: 'boolean' }, start: { type: 'boolean' } },
});
const port = values.port ? Number(values.port) : 0;
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be an integer 0..65535, got '${values.port}'`);
  process.exit(2);
}
const srv = await startServer({ port, staticDir: values.static ?? path.join(root, 'dist/renderer') });
let sessionFile = values.session ? path.resolve(values.session) : undefined;
if (!sessionFile && values.demo) {
  const demo = prepareDemoSession(defaultPaths().userData);
  if (demo.path) sessionFile = demo.path;
  else console.log(demo.message);
}
const url = sessionFile ? `${srv.url}&session=${encodeURIComponent(sessionFile)}` : values.start ? `${srv.url}&start=1` : srv.url;
if (values.json) console.log(JSON.stringify({ url, port: srv.port, token: srv.token }));
else console.log(`Sparsity Lab (browser mode) is at ${url}`);
const stop = async () => {
  await srv.close();
  // process.exit() while an inference worker is inside onnxruntime aborts the process: its call ends first
  await settleInferenceWorkers();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
