// Browser-mode transport: the token is required on every connection, and malformed or unauthenticated
// messages get a typed error reply and a log line — they never crash the engine.
import { afterAll, beforeAll, expect, test } from 'vitest';
import os from 'node:os';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import WebSocket from 'ws';
import { startServer, type RunningServer } from '../../main/server/server';
import { Engine } from '../../main/engine/engine';

let srv: RunningServer;
const logs: string[] = [];
beforeAll(async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-srv-'));
  srv = await startServer({ engine: new Engine({ paths: { userData: home, cache: path.join(home, 'cache') }, log: { info() {}, warn() {}, error() {} } }), log: (m) => logs.push(m) });
});
afterAll(() => srv.close());

function connect(token?: string): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws${token === undefined ? '' : `?token=${token}`}`);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}
function next(ws: WebSocket): Promise<Record<string, unknown>> {
  return new Promise((resolve) => ws.once('message', (d) => resolve(JSON.parse(d.toString()))));
}
async function send(ws: WebSocket, raw: string): Promise<Record<string, unknown>> {
  const reply = next(ws);
  ws.send(raw);
  return reply;
}

function upgradeStatus(pathAndQuery: string, headers: Record<string, string> = {}): Promise<number> {
  // the raw upgrade answer: a refused upgrade never becomes a WebSocket
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}${pathAndQuery}`, { headers });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('error', (e) => (e.message.includes('Unexpected server response') ? undefined : reject(e)));
  });
}

test('the upgrade is refused without the token, from a foreign origin or host, before any socket exists', async () => {
  for (const token of [undefined, '', 'wrong', srv.token.slice(0, -1)]) expect(await upgradeStatus(`/ws${token === undefined ? '' : `?token=${token}`}`), String(token)).toBe(401);
  expect(logs.some((l) => l.includes('without a valid token'))).toBe(true);
  expect(await upgradeStatus(`/ws?token=${srv.token}`, { Origin: 'https://evil.example' })).toBe(403);
  expect(await upgradeStatus(`/ws?token=${srv.token}`, { Origin: `http://127.0.0.1:${srv.port + 1}` })).toBe(403);
  expect(await upgradeStatus(`/ws?token=${srv.token}`, { Origin: 'null' })).toBe(403);
  expect(await upgradeStatus(`/ws?token=${srv.token}`, { Host: `attacker.example:${srv.port}` })).toBe(421);
  expect(await upgradeStatus(`/other?token=${srv.token}`)).toBe(404);
  expect(await upgradeStatus(`/ws?token=${srv.token}`, { Origin: `http://127.0.0.1:${srv.port}` })).toBe(101);
  expect(await upgradeStatus(`/ws?token=${srv.token}`, { Origin: `http://localhost:${srv.port}` })).toBe(101);
});

test('a socket that stops answering pings is closed; one that answers stays', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-hb-'));
  const s3 = await startServer({ engine: new Engine({ paths: { userData: home, cache: path.join(home, 'cache') }, log: { info() {}, warn() {}, error() {} } }), log: () => {}, heartbeatMs: 100 });
  try {
    const open = (autoPong: boolean) =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${s3.port}/ws?token=${s3.token}`, { autoPong });
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      });
    // a raw TCP connection that never sends a request is closed too (headers timeout)
    const s4 = await startServer({ engine: s3.engine, log: () => {}, headersTimeoutMs: 300 });
    const raw = net.connect(s4.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      raw.once('close', () => resolve());
      raw.once('error', () => resolve());
      setTimeout(() => reject(new Error('idle TCP connection was not closed')), 5000);
    });
    await new Promise<void>((r) => s4.close().then(() => r(), () => r()));
    const silent = await open(false);
    const live = await open(true);
    const closed = new Promise<void>((r) => silent.once('close', () => r()));
    await closed; // within ~2 heartbeats
    expect(live.readyState).toBe(WebSocket.OPEN);
    live.close();
  } finally {
    await s3.close();
  }
});

test('malformed messages get typed errors and the connection keeps working', async () => {
  const ws = await connect(srv.token);
  expect(await send(ws, 'not json{')).toMatchObject({ id: null, ok: false, error: { code: 'BAD_REQUEST' } });
  expect(await send(ws, JSON.stringify([1, 2, 3]))).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
  expect(await send(ws, JSON.stringify({ id: 7, cmd: 42 }))).toMatchObject({ id: 7, ok: false, error: { code: 'BAD_REQUEST' } });
  expect(await send(ws, JSON.stringify({ id: 8, cmd: 'engine.info', payload: {}, extra: 1 }))).toMatchObject({ id: 8, ok: false, error: { code: 'BAD_REQUEST' } });
  expect(await send(ws, JSON.stringify({ id: 9, cmd: 'rm -rf /', payload: {} }))).toMatchObject({ id: 9, ok: false, error: { code: 'UNKNOWN_COMMAND' } });
  expect(await send(ws, JSON.stringify({ id: 10, cmd: '__proto__', payload: {} }))).toMatchObject({ id: 10, ok: false, error: { code: 'UNKNOWN_COMMAND' } });
  expect(await send(ws, JSON.stringify({ id: 11, cmd: 'engine.info', payload: { refresh: 'yes' } }))).toMatchObject({ id: 11, ok: false, error: { code: 'BAD_REQUEST' } });
  expect(await send(ws, JSON.stringify({ id: 12, cmd: 'engine.info', payload: { nope: true } }))).toMatchObject({ id: 12, ok: false, error: { code: 'BAD_REQUEST' } });
  const binary = next(ws);
  ws.send(Buffer.from([0, 1, 2]), { binary: true });
  expect(await binary).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
  // still alive, and answers a good request with the engine's real data
  const ok = await send(ws, JSON.stringify({ id: 13, cmd: 'engine.info', payload: {} }));
  expect(ok).toMatchObject({ id: 13, ok: true });
  const info = ok.result as { providers: { name: string; available: boolean }[]; onnxruntimeVersion: string };
  expect(info.providers.find((p) => p.name === 'cpu')?.available).toBe(true);
  expect(info.onnxruntimeVersion).toMatch(/^\d+\.\d+\.\d+/);
  expect(logs.filter((l) => l.startsWith('rejected message')).length).toBeGreaterThanOrEqual(9);
  ws.close();
});

test('static files cannot escape the renderer folder', async () => {
  // a real static folder (the server above has none and answers 503 to everything, which proves nothing), with a
  // secret beside it and in a sibling folder whose name starts like the static folder's
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-static-'));
  const dir = path.join(root, 'renderer');
  fs.mkdirSync(dir);
  fs.mkdirSync(path.join(root, 'renderer-private'));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>lab</title>');
  fs.writeFileSync(path.join(dir, 'app.js'), 'console.log(1)');
  fs.writeFileSync(path.join(root, 'secret.txt'), 'SECRET-OUTSIDE');
  fs.writeFileSync(path.join(root, 'renderer-private', 'secret.txt'), 'SECRET-SIBLING');
  const s2 = await startServer({ engine: new Engine({ paths: { userData: root, cache: path.join(root, 'cache') }, log: { info() {}, warn() {}, error() {} } }), staticDir: dir, log: () => {} });
  // raw request paths: fetch() would normalise the dots away before they reach the server
  const get = (p: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: s2.port, path: p, headers }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
  try {
    // the folder is served (so a 404 below is the guard, not a missing renderer)
    expect(await get('/app.js')).toEqual({ status: 200, body: 'console.log(1)' });
    expect((await get('/')).body).toContain('<title>lab</title>');
    // a malformed percent-escape was an uncaught URIError that ended browser mode; now a 400, and the server lives
    for (const p of ['/%E0%A4%A', '/%', '/%zz/x.js', '/a%00b.js']) expect((await get(p)).status, p).toBe(400);
    expect(await get('/app.js')).toEqual({ status: 200, body: 'console.log(1)' });
    for (const p of ['/../secret.txt', '/..%2fsecret.txt', '/%2e%2e/secret.txt', '/%2e%2e%2fsecret.txt', '/..%5csecret.txt', '/../renderer-private/secret.txt', '/..%2frenderer-private%2fsecret.txt', '/app.js/../../secret.txt']) {
      const r = await get(p);
      expect(r.body, p).not.toContain('SECRET');
      expect(r.status, p).toBe(404);
    }
    // DNS rebinding (a foreign Host) and cross-site requests (a foreign Origin) are refused
    expect((await get('/app.js', { Host: `evil.example:${s2.port}` })).status).toBe(421);
    expect((await get('/app.js', { Origin: 'https://evil.example' })).status).toBe(403);
    expect((await get('/app.js', { Origin: `http://127.0.0.1:${s2.port}` })).status).toBe(200);
  } finally {
    s2.close();
  }
});
