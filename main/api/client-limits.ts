/**
 * What a client of the contract (the browser page over the WebSocket, the window over IPC) may not ask for even
 * though the engine's own callers (the CLI) may: choosing where job state files go (`runs.start` config.stateDir,
 * the CLI's --state-dir) would let a page write files anywhere. Pure: used by main/server and electron/main.ts.
 */
export function clientRefusal(cmd: string, payload: unknown): string | undefined {
  if (cmd === 'runs.start' && payload && typeof payload === 'object') {
    const cfg = (payload as { config?: unknown }).config;
    if (cfg && typeof cfg === 'object' && 'stateDir' in cfg) return 'config.stateDir is not a client option (job state goes into the open session, or the app’s own folder; the CLI has --state-dir)';
  }
  return undefined;
}
