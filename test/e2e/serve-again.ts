/**
 * Browser mode started again on the port and per-launch token of one that died (kill -9), so the page it served
 * reconnects as it would to the app's restarted engine: `node bin/run-ts test/e2e/serve-again.ts --port N --token T`.
 * Prints {url,port,token} as JSON like `main/server/cli.ts --json`. Only for the e2e tests (the CLI has no --token:
 * a token is per launch).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../main/server/server';

const { values } = parseArgs({ options: { port: { type: 'string' }, token: { type: 'string' } } });
const srv = await startServer({ port: Number(values.port), token: values.token, staticDir: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/renderer') });
console.log(JSON.stringify({ url: srv.url, port: srv.port, token: srv.token }));
const stop = async () => {
  await srv.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
