/**
 * Browser mode: serves the built renderer and the contract over a WebSocket on 127.0.0.1.
 * Every connection must present the per-launch token (query `?token=`); every message is validated.
 * Bad messages get a typed error reply and a log line; they never reach the engine's handlers, and
 * nothing a client sends can crash the process.
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

export interface ServerOptions {
  port?: number; // 0 or undefined: a random free port
  staticDir?: string; // built renderer (dist/renderer)
  token?: string;
  engine?: Engine;
  log?: (msg: string) => void;
}

export interface RunningServer {
  url: string; // page URL including the token
  port: number;
  token: string;
  engine: Engine;
  close(): Promise<void>;
}

const wireRequest = z.object({ id: z.number().int().nonnegative(), cmd: z.string().max(200), payload: z.unknown() }).strict();

export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' ws://127.0.0.1:*; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

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

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (!staticDir || !fs.existsSync(path.join(staticDir, 'index.html'))) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('The renderer is not built. Run `npm run build` (npm start does it for you).');
      return;
    }
    let rel = decodeURIComponent(url.pathname);
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
    fs.createReadStream(file).pipe(res);
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/ws') {
      socket.destroy();
      return;
    }
    const authed = safeEqual(url.searchParams.get('token') ?? '', token);
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, authed));
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

  function onConnection(ws: WebSocket, authed: boolean): void {
    if (!authed) {
      log('connection without a valid token');
      ws.on('message', () => {
        fail(ws, null, { code: 'UNAUTHORIZED', message: 'This connection did not present the per-launch token.' });
        ws.close(4401, 'unauthorized');
      });
      return;
    }
    sockets.add(ws);
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
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    engine,
    async close() {
      unsubscribe();
      for (const ws of sockets) ws.terminate();
      wss.close();
      await new Promise<void>((r) => server.close(() => r()));
      await engine.dispose();
    },
  };
}
