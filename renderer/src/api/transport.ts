/**
 * The two transports for the one contract (README.md, Layout: processes): Electron's preload bridge when
 * `window.lab` exists, else the browser-mode WebSocket on the page's own host with the per-launch token.
 * Both resolve to the same WireResponse envelope.
 */
import type { WireEvent, WireRequest, WireResponse } from '../../../main/api/contract';

export type EventHandler = (event: string, payload: unknown) => void;
export type ConnectionState = 'connecting' | 'open' | 'closed' | 'unauthorized';

export interface Transport {
  readonly kind: 'electron' | 'websocket';
  send(cmd: string, payload: unknown): Promise<WireResponse>;
  onEvent(cb: EventHandler): () => void;
  onState(cb: (s: ConnectionState) => void): () => void;
}

export function bridgeTransport(): Transport {
  const lab = window.lab!;
  return {
    kind: 'electron',
    send: (cmd, payload) => lab.invoke(cmd, payload),
    onEvent: (cb) => lab.onEvent(cb),
    onState(cb) {
      cb('open');
      return () => {};
    },
  };
}

/** The token comes from the page URL (`?token=`), put there by the server that printed it. */
export function pageToken(): string {
  return new URLSearchParams(location.search).get('token') ?? '';
}

const REQUEST_TIMEOUT_MS = 10 * 60_000;

/** Whether the page's own server answers HTTP now (its static files need no token). */
async function serverAnswers(): Promise<boolean> {
  try {
    await fetch(`${location.origin}/`, { method: 'HEAD', cache: 'no-store' });
    return true;
  } catch {
    return false;
  }
}

export function websocketTransport(url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws?token=${encodeURIComponent(pageToken())}`): Transport {
  let ws: WebSocket | undefined;
  let state: ConnectionState = 'connecting';
  let nextId = 1;
  let retryMs = 500;
  /** connections in a row that never opened while the server answered HTTP (refused: see onclose) */
  let failedWhileUp = 0;
  const pending = new Map<number, { resolve: (r: WireResponse) => void; timer: ReturnType<typeof setTimeout> }>();
  const queue: string[] = [];
  const eventSubs = new Set<EventHandler>();
  const stateSubs = new Set<(s: ConnectionState) => void>();

  const setState = (s: ConnectionState) => {
    state = s;
    for (const cb of stateSubs) cb(s);
  };
  const failAll = (message: string) => {
    for (const [id, p] of pending) {
      clearTimeout(p.timer);
      p.resolve({ id, ok: false, error: { code: 'INTERNAL', message } });
    }
    pending.clear();
  };

  function refused(): void {
    setState('unauthorized');
    failAll('The server refused this page: its link lacks the per-launch token of the browser mode running now.');
  }

  function connect(): void {
    setState('connecting');
    const sock = new WebSocket(url);
    ws = sock;
    let opened = false;
    sock.onopen = () => {
      opened = true;
      retryMs = 500;
      failedWhileUp = 0;
      setState('open');
      while (queue.length) sock.send(queue.shift()!);
    };
    sock.onmessage = (ev) => {
      let msg: unknown;
      try {
        msg = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      if (msg && typeof msg === 'object' && 'event' in msg) {
        const e = msg as WireEvent;
        for (const cb of eventSubs) cb(e.event, e.payload);
        return;
      }
      const r = msg as WireResponse;
      if (r.id === null && !r.ok && r.error.code === 'UNAUTHORIZED') {
        setState('unauthorized');
        failAll(r.error.message);
        return;
      }
      const p = r.id === null ? undefined : pending.get(r.id);
      if (p) {
        clearTimeout(p.timer);
        pending.delete(r.id as number);
        p.resolve(r);
      }
    };
    sock.onclose = (ev) => {
      if (ev.code === 4401 || state === 'unauthorized') {
        refused();
        return;
      }
      setState('closed');
      failAll('Lost the connection to the engine (browser-mode server stopped?).');
      const retry = () => {
        // Reconnect politely: back off up to 10 s, never hammer a server that is gone.
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 10_000);
      };
      if (opened) return retry();
      // The server refuses an upgrade without this launch's token with HTTP 401 before any socket exists, which a page
      // only sees as a failed connection. If the server answers plain HTTP, it is up and refused this page: a link from
      // an earlier launch (every launch has its own token) or one without its token. Say so instead of retrying for ever.
      // Three such failures in a row, not one: a first upgrade that fails for another reason (a busy or restarting
      // server) must not leave a page with a good token refused for good (its calls would all fail).
      serverAnswers().then((up) => {
        failedWhileUp = up ? failedWhileUp + 1 : 0;
        if (failedWhileUp >= 3) refused();
        else retry();
      });
    };
  }
  connect();

  return {
    kind: 'websocket',
    send(cmd, payload) {
      const id = nextId++;
      const msg: WireRequest = { id, cmd, payload };
      return new Promise<WireResponse>((resolve) => {
        if (state === 'unauthorized') {
          resolve({ id, ok: false, error: { code: 'UNAUTHORIZED', message: 'This page has no valid per-launch token; open the URL the server printed.' } });
          return;
        }
        const timer = setTimeout(() => {
          pending.delete(id);
          resolve({ id, ok: false, error: { code: 'INTERNAL', message: `No answer to '${cmd}' within ${REQUEST_TIMEOUT_MS / 60000} minutes.` } });
        }, REQUEST_TIMEOUT_MS);
        pending.set(id, { resolve, timer });
        const text = JSON.stringify(msg);
        if (ws && ws.readyState === WebSocket.OPEN) ws.send(text);
        else queue.push(text);
      });
    },
    onEvent(cb) {
      eventSubs.add(cb);
      return () => eventSubs.delete(cb);
    },
    onState(cb) {
      stateSubs.add(cb);
      cb(state);
      return () => stateSubs.delete(cb);
    },
  };
}
