/**
 * What the Electron preload exposes on `window.lab` (through contextBridge). The renderer's transport
 * uses it when present and falls back to the WebSocket of browser mode otherwise. Types only.
 */
import type { WireResponse } from './contract';

export type MenuAction =
  | 'session.new'
  | 'session.open'
  | 'session.saveAs'
  | 'session.close'
  | 'export.chart'
  | 'run.new'
  | 'run.cancel'
  | 'view.toggleTheme'
  | 'help.shortcuts'
  | { kind: 'session.openRecent'; path: string };

export interface DialogFilter {
  name: string;
  extensions: string[];
}

/** `lab.<domain>.<verb>(payload)` for every command of the contract, e.g. `lab.runs.start({config})`. */
export type DomainVerbs = Record<string, Record<string, (payload?: unknown) => Promise<WireResponse>>>;

export interface LabBridge {
  /** Domain verbs generated from the contract's command names (same envelope as invoke). */
  api: DomainVerbs;
  /** `lab.onProgress(cb)`: job progress events only. */
  onProgress(cb: (payload: unknown) => void): () => void;
  /** Generic call: resolves to the same envelope the WebSocket returns (never rejects for engine errors). */
  invoke(cmd: string, payload: unknown): Promise<WireResponse>;
  /** Engine events (job progress, session changes). Returns an unsubscribe function. */
  onEvent(cb: (event: string, payload: unknown) => void): () => void;
  /** App-menu actions chosen by the user. */
  onMenu(cb: (action: MenuAction) => void): () => void;
  /** Native dialogs (Electron only). Resolve to undefined when the user cancels. */
  dialog: {
    openPaths(opts: { title: string; directories: boolean; multiple: boolean; filters?: DialogFilter[]; defaultPath?: string }): Promise<string[] | undefined>;
    /** the path is granted for overwrite (electron/dialogs.ts): the OS asked before replacing */
    savePath(opts: { title: string; defaultPath?: string; filters?: DialogFilter[] }): Promise<string | undefined>;
  };
  /** Window title shows the open session file. */
  setTitle(title: string): void;
  /** Copy a PNG (base64) or text to the system clipboard. */
  clipboard: { writeImage(pngBase64: string): Promise<void>; writeText(text: string): Promise<void> };
  platform: string;
}
