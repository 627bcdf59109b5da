/**
 * Browser mode: serves the built renderer and the contract over a WebSocket on 127.0.0.1.
 * Every connection must present the per-launch token (query `?token=`); every message is validated.
 * Bad messages get a typed error reply and a log line; they never reach the engine's handlers, and
 * nothing a client sends can crash the process.
 *
 * Hardening (README "Reliability"): the Host header must name this server (no DNS rebinding) and a
 * browser's Origin must be this server's own origin; the WebSocket upgrade is refused (HTTP 401/403,
 * no socket) without the token or from a foreign origin; half-open HTTP requests and WebSockets that
 * stop answering pings are closed; a malformed URL is a 400, and any error in a request handler is a
 * 500 with a log line, never an exception that ends the process.
 */
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import { Engine } from '../engine/engine';
import { toErrorPayload, type ErrorPayload } from '../api/errors';
import type { WireResponse } from '../api/contract';
import { clientRefusal } from '../api/client-limits';

export interface ServerOptions {
  port?: number; // 0 or undefined: a random free port
  staticDir?: string; // built renderer (dist/renderer)
  token?: string;
  engine?: Engine;
  log?: (msg: string) => void;
  /** A WebSocket that does not answer a ping within this many ms is closed (default 30 s). */
  heartbeatMs?: number;
  /** An HTTP request whose headers have not all arrived after this many ms is closed (default 10 s). */
  headersTimeoutMs?: number;
}

export interface RunningServer {
  url: string; // page URL including the token
  port: number;
  token: string;
  engine: Engine;
  close(): Promise<void>;
}

const wireRequest = z.object({ id: z.number().int().nonnegative(), cmd: z.string().max(200), payload: z.unknown() }).strict();

export { CSP } from '../api/csp';
import { CSP } from '../api/csp';

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.ico': 'image/x-icon',
};

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && crypto.timingSafeEqual(ab, bb);
}

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const token = opts.token ?? crypto.randomBytes(24).toString('base64url');
  const engine = opts.engine ?? new Engine({ host: 'node' });
  const log = opts.log ?? ((m: string) => console.error(`[server] ${m}`));
  const staticDir = opts.staticDir ? path.resolve(opts.staticDir) : undefined;

  let port = 0;
  /** Host names this server answers to (a rebinding attack's Host is a foreign name). */
  const hostOk = (host: string | undefined) => host === `127.0.0.1:${port}` || host === `localhost:${port}`;
  /** A browser always sends Origin on a WebSocket and on cross-site requests; only our own page's is accepted. */
  const originOk = (origin: string | undefined) => origin === undefined || origin === `http://127.0.0.1:${port}` || origin === `http://localhost:${port}`;

  // half-open connections (no request, or headers trickling in) are checked every second and closed at headersTimeout
  const server = http.createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    try {
      serveStatic(req, res);
    } catch (err) {
      log(`error serving ${String(req.url).slice(0, 200)}: ${(err as Error)?.message ?? String(err)}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error');
    }
  });
  server.headersTimeout = opts.headersTimeoutMs ?? 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  // a TCP connection that sends nothing is closed after the same delay (headersTimeout only counts once bytes arrive);
  // ws clears the timeout on the sockets it upgrades (those are kept alive by the ping heartbeat instead)
  server.on('connection', (socket) => socket.setTimeout(opts.headersTimeoutMs ?? 10_000, () => socket.destroy()));
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });

  function plain(res: http.ServerResponse, status: number, text: string): void {
    res.writeHead(status, { 'content-type': 'text/plain', 'x-content-type-options': 'nosniff' });
    res.end(text);
  }

  function serveStatic(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (!hostOk(req.headers.host)) return plain(res, 421, 'unknown host');
    if (!originOk(req.headers.origin)) return plain(res, 403, 'foreign origin');
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'method not allowed');
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (!staticDir || !fs.existsSync(path.join(staticDir, 'index.html'))) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('The renderer is not built. Run `npm run build` (npm start does it for you).');
      return;
    }
    let rel: string;
    try {
      rel = decodeURIComponent(url.pathname);
    } catch {
      return plain(res, 400, 'malformed URL');
    }
    if (rel.includes('\0')) return plain(res, 400, 'malformed URL');
    if (rel === '/' || !path.extname(rel)) rel = '/index.html'; // SPA routes
    const file = path.resolve(staticDir, '.' + rel);
    if (!file.startsWith(staticDir + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': MIME[path.extname(file)] ?? 'application/octet-stream',
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
    });
    if (req.method === 'HEAD') return void res.end();
    const stream = fs.createReadStream(file);
    stream.on('error', (err) => {
      log(`error reading ${path.basename(file)}: ${err.message}`);
      res.destroy();
    });
    stream.pipe(res);
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
  wss.on('error', (err) => log(`websocket server error: ${err.message}`));
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const refuse = (status: number, why: string) => {
      log(`upgrade refused (${status}): ${why}`);
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    };
    try {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname !== '/ws') return refuse(404, 'not the contract endpoint');
      if (!hostOk(req.headers.host)) return refuse(421, 'unknown host');
      if (!originOk(req.headers.origin)) return refuse(403, `foreign origin ${String(req.headers.origin).slice(0, 100)}`);
      if (!safeEqual(url.searchParams.get('token') ?? '', token)) return refuse(401, 'connection without a valid token');
      wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws));
    } catch (err) {
      refuse(400, (err as Error)?.message ?? String(err));
    }
  });

  const sockets = new Set<WebSocket>();
  const unsubscribe = engine.onEvent((event, payload) => {
    const msg = JSON.stringify({ event, payload });
    for (const ws of sockets) if (ws.readyState === ws.OPEN) ws.send(msg);
  });

  function reply(ws: WebSocket, r: WireResponse): void {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(r));
  }
  function fail(ws: WebSocket, id: number | null, error: ErrorPayload): void {
    log(`rejected message (${error.code}): ${error.message}`);
    reply(ws, { id, ok: false, error });
  }

  // Heartbeat: every socket is pinged; one that has not answered the previous ping is closed.
  const alive = new WeakMap<WebSocket, boolean>();
  const heartbeat = setInterval(() => {
    for (const ws of sockets) {
      if (alive.get(ws) === false) {
        log('closing a WebSocket that stopped answering pings');
        ws.terminate();
        sockets.delete(ws);
        continue;
      }
      alive.set(ws, false);
      try {
        ws.ping();
      } catch {
        ws.terminate();
      }
    }
  }, opts.heartbeatMs ?? 30_000);
  heartbeat.unref();

  function onConnection(ws: WebSocket): void {
    sockets.add(ws);
    alive.set(ws, true);
    ws.on('pong', () => alive.set(ws, true));
    ws.on('close', () => sockets.delete(ws));
    ws.on('error', (err) => log(`socket error: ${err.message}`));
    ws.on('message', async (data, isBinary) => {
      if (isBinary) return fail(ws, null, { code: 'BAD_REQUEST', message: 'Binary messages are not part of the contract.' });
      let parsed: unknown;
      try {
        parsed = JSON.parse(data.toString());
      } catch {
        return fail(ws, null, { code: 'BAD_REQUEST', message: 'Message is not valid JSON.' });
      }
      const msg = wireRequest.safeParse(parsed);
      if (!msg.success) {
        const id = typeof (parsed as { id?: unknown })?.id === 'number' ? (parsed as { id: number }).id : null;
        return fail(ws, id, { code: 'BAD_REQUEST', message: 'Message must be {id, cmd, payload}.' });
      }
      const { id, cmd, payload } = msg.data;
      const refused = clientRefusal(cmd, payload);
      if (refused) return fail(ws, id, { code: 'BAD_REQUEST', message: refused });
      try {
        const result = await engine.call(cmd, payload);
        reply(ws, { id, ok: true, result: result ?? null });
      } catch (err) {
        const e = toErrorPayload(err);
        if (e.code === 'INTERNAL') log(`internal error in ${cmd}: ${(err as Error)?.stack ?? String(err)}`);
        fail(ws, id, e);
      }
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    engine,
    async close() {
      unsubscribe();
      clearInterval(heartbeat);
      for (const ws of sockets) ws.terminate();
      wss.close();
      await new Promise<void>((r) => server.close(() => r()));
      await engine.dispose();
    },
  };
}
