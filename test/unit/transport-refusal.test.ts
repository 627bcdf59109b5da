// The browser-mode transport (renderer/src/api/transport.ts) decides that the server refused the page's token when a
// WebSocket never opens while the server answers plain HTTP. One such failure must not decide it: a first upgrade that
// fails for another reason (a busy or restarting server) would leave a page with a good token refused for good, every
// call failing. Fake WebSocket, fetch and location; fake timers for the back-off.
import { afterEach, beforeEach, expect, test, vi } from 'vitest';

class FakeSocket {
  static made: FakeSocket[] = [];
  onopen?: () => void;
  onclose?: (ev: { code: number }) => void;
  onmessage?: (ev: { data: string }) => void;
  onerror?: () => void;
  readyState = 0;
  sent: string[] = [];
  constructor(public url: string) {
    FakeSocket.made.push(this);
  }
  send(d: string) {
    this.sent.push(d);
  }
  close() {}
}

beforeEach(() => {
  FakeSocket.made = [];
  vi.useFakeTimers();
  vi.stubGlobal('location', { protocol: 'http:', host: '127.0.0.1:1', origin: 'http://127.0.0.1:1', search: '?token=t' });
  vi.stubGlobal('WebSocket', FakeSocket);
  vi.stubGlobal('fetch', async () => ({ ok: true, status: 200 })); // the server answers HTTP
});
// imported by a computed path: the root typecheck does not include the renderer's own declarations (window.lab)
const transportModule = '../../renderer/src/api/transport';
type TransportModule = { websocketTransport(): { onState(cb: (s: string) => void): () => void; send(cmd: string, payload: unknown): Promise<{ ok: boolean }> } };
const load = () => import(/* @vite-ignore */ transportModule) as Promise<TransportModule>;

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

/** lets the transport's fetch().then run, then the back-off timer */
async function failAndRetry(): Promise<void> {
  FakeSocket.made.at(-1)!.onclose!({ code: 1006 });
  await vi.advanceTimersByTimeAsync(20_000);
}

test('one connection that never opened while the server is up is retried, and the page connects', async () => {
  const { websocketTransport } = await load();
  const states: string[] = [];
  const t = websocketTransport();
  t.onState((s) => states.push(s));
  await failAndRetry();
  expect(states).not.toContain('unauthorized');
  expect(FakeSocket.made.length).toBe(2);
  FakeSocket.made[1].onopen!();
  expect(states.at(-1)).toBe('open');
});

test('three in a row are a refusal: the page says so and stops retrying', async () => {
  const { websocketTransport } = await load();
  const states: string[] = [];
  const t = websocketTransport();
  t.onState((s) => states.push(s));
  await failAndRetry();
  await failAndRetry();
  FakeSocket.made.at(-1)!.onclose!({ code: 1006 });
  await vi.advanceTimersByTimeAsync(20_000);
  expect(states.at(-1)).toBe('unauthorized');
  const n = FakeSocket.made.length;
  await vi.advanceTimersByTimeAsync(60_000);
  expect(FakeSocket.made.length).toBe(n); // no more attempts
  expect((await t.send('engine.info', {})).ok).toBe(false);
});
