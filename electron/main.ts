/**
 * The Electron shell: window, menus, native dialogs, IPC registration. Thin: nothing here computes.
 * The engine (main/) runs in a utilityProcess so a long measurement never blocks a window; every IPC
 * payload is checked here (sender + schema) before it is forwarded to the engine.
 */
import { app, BrowserWindow, Menu, dialog, ipcMain, clipboard, nativeImage, session, utilityProcess, shell, type IpcMainInvokeEvent, type MenuItemConstructorOptions, type UtilityProcess } from 'electron';
import path from 'node:path';
import { requestSchemas } from '../main/api/contract';
import type { WireResponse } from '../main/api/contract';
import type { MenuAction } from '../main/api/bridge';
import type { RecentSession } from '../main/api/domains/engine';
import { CSP } from '../main/api/csp';
import { clientRefusal } from '../main/api/client-limits';
import { devServerUrl, isAllowedExternalLink } from './links';
import { openDialogOptions, openDialogSchema, saveDialogSchema, SaveGrants } from './dialogs';

// The main process imports only the contract (main/api) and pure helpers (lint rule + a test on the built bundle):
// the engine, onnxruntime-node and better-sqlite3 load only in the utilityProcess (engine-host.ts).
const devUrl = devServerUrl(app.isPackaged, process.env); // never in a packaged build
const rendererIndex = path.join(__dirname, '../dist/renderer/index.html');
let win: BrowserWindow | undefined;
let engine: UtilityProcess | undefined;
let nextId = 1;
const pending = new Map<number, (r: WireResponse) => void>();

function startEngine(): UtilityProcess {
  const child = utilityProcess.fork(path.join(__dirname, 'engine-host.cjs'), [], {
    serviceName: 'Sparsity Lab engine',
    env: {
      ...process.env,
      SPARSITY_LAB_HOME: app.getPath('userData'),
      SPARSITY_LAB_VERSION: app.getVersion(),
      SPARSITY_LAB_RESOURCES: app.isPackaged ? path.join(process.resourcesPath, 'resources') : path.join(__dirname, '../resources'),
    },
  });
  child.on('message', (msg: { id?: number; event?: string; payload?: unknown } & WireResponse) => {
    if (typeof msg.event === 'string') {
      win?.webContents.send('lab:event', msg.event, msg.payload);
      return;
    }
    const resolve = typeof msg.id === 'number' ? pending.get(msg.id) : undefined;
    if (resolve) {
      pending.delete(msg.id as number);
      resolve(msg);
    }
  });
  child.on('exit', (code) => {
    for (const [, resolve] of pending) resolve({ id: null, ok: false, error: { code: 'INTERNAL', message: `The engine process exited (code ${code}); it has been restarted.` } });
    pending.clear();
    if (!quitting) engine = startEngine();
  });
  return child;
}

/** Only our own window's main frame, showing our own page, may call the engine. */
function trustedSender(e: IpcMainInvokeEvent): boolean {
  const frame = e.senderFrame;
  if (!win || e.sender.id !== win.webContents.id || !frame || frame !== e.sender.mainFrame) return false;
  const url = frame.url;
  return devUrl !== undefined ? url.startsWith(devUrl) : url.startsWith('file://') && decodeURIComponent(new URL(url).pathname).endsWith('/dist/renderer/index.html');
}

const denied = (message: string): WireResponse => ({ id: null, ok: false, error: { code: 'UNAUTHORIZED', message } });
/** paths the native save dialog returned: the only ones the page may ask the engine to overwrite (electron/dialogs.ts) */
const saveGrants = new SaveGrants();

function registerIpc(): void {
  ipcMain.handle('lab:invoke', async (e, cmd: unknown, payload: unknown): Promise<WireResponse> => {
    if (!trustedSender(e)) return denied('IPC from an untrusted frame');
    if (typeof cmd !== 'string' || !Object.prototype.hasOwnProperty.call(requestSchemas, cmd))
      return { id: null, ok: false, error: { code: 'UNKNOWN_COMMAND', message: `Unknown command '${String(cmd).slice(0, 80)}'` } };
    const refused = clientRefusal(cmd, payload);
    if (refused) return { id: null, ok: false, error: { code: 'BAD_REQUEST', message: refused } };
    const parsed = requestSchemas[cmd as keyof typeof requestSchemas].safeParse(payload ?? {});
    if (!parsed.success)
      return { id: null, ok: false, error: { code: 'BAD_REQUEST', message: parsed.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; ') } };
    const id = nextId++;
    return new Promise<WireResponse>((resolve) => {
      pending.set(id, resolve);
      engine?.postMessage({ id, cmd, payload: saveGrants.guard(cmd, parsed.data) });
    });
  });
  ipcMain.handle('lab:dialog:open', async (e, opts: unknown) => {
    if (!trustedSender(e) || !win) return undefined;
    const o = openDialogSchema.safeParse(opts);
    if (!o.success) return undefined;
    const r = await dialog.showOpenDialog(win, openDialogOptions(o.data));
    return r.canceled ? undefined : r.filePaths;
  });
  ipcMain.handle('lab:dialog:save', async (e, opts: unknown) => {
    if (!trustedSender(e) || !win) return undefined;
    const o = saveDialogSchema.safeParse(opts);
    if (!o.success) return undefined;
    const r = await dialog.showSaveDialog(win, { title: o.data.title, defaultPath: o.data.defaultPath, filters: o.data.filters, properties: ['showOverwriteConfirmation'] });
    if (r.canceled || !r.filePath) return undefined;
    saveGrants.grant(r.filePath);
    return r.filePath;
  });
  ipcMain.on('lab:title', (e, title: unknown) => {
    if (win && e.sender.id === win.webContents.id && typeof title === 'string') win.setTitle(title.slice(0, 300));
  });
  ipcMain.handle('lab:clipboard:image', (e, b64: unknown) => {
    if (trustedSender(e) && typeof b64 === 'string') clipboard.writeImage(nativeImage.createFromBuffer(Buffer.from(b64, 'base64')));
  });
  ipcMain.handle('lab:clipboard:text', (e, text: unknown) => {
    if (trustedSender(e) && typeof text === 'string') clipboard.writeText(text);
  });
}

function send(action: MenuAction): void {
  win?.webContents.send('lab:menu', action);
}

/** Asks the engine (the one owner of the recent list) through the contract; no engine code in this process. */
function engineCall(cmd: string, payload: unknown): Promise<WireResponse> {
  const id = nextId++;
  return new Promise<WireResponse>((resolve) => {
    pending.set(id, resolve);
    engine?.postMessage({ id, cmd, payload });
  });
}

async function buildMenu(): Promise<void> {
  const r = await engineCall('sessions.recent', {});
  const recent = (r.ok ? (r.result as RecentSession[]) : []).filter((x) => x.exists).slice(0, 10);
  const template: MenuItemConstructorOptions[] = [
    {
      label: 'File',
      submenu: [
        { label: 'New Session…', accelerator: 'CmdOrCtrl+N', click: () => send('session.new') },
        { label: 'Open Session…', accelerator: 'CmdOrCtrl+O', click: () => send('session.open') },
        {
          label: 'Open Recent',
          submenu: recent.length ? recent.map((r) => ({ label: r.path, click: () => send({ kind: 'session.openRecent', path: r.path }) })) : [{ label: 'No recent sessions', enabled: false }],
        },
        { label: 'Save Session As…', accelerator: 'CmdOrCtrl+Shift+S', click: () => send('session.saveAs') },
        { type: 'separator' },
        { label: 'Export Chart…', accelerator: 'CmdOrCtrl+E', click: () => send('export.chart') },
        { type: 'separator' },
        { label: 'Close Session', click: () => send('session.close') },
        { role: 'quit' },
      ],
    },
    {
      label: 'Run',
      submenu: [
        { label: 'New Measurement…', accelerator: 'CmdOrCtrl+R', click: () => send('run.new') },
        { label: 'Cancel Running Measurement', accelerator: 'CmdOrCtrl+.', click: () => send('run.cancel') },
      ],
    },
    { label: 'View', submenu: [{ label: 'Toggle Dark/Light Theme', click: () => send('view.toggleTheme') }, { type: 'separator' }, { role: 'reload' }, { role: 'toggleDevTools' }, { role: 'togglefullscreen' }] },
    { label: 'Help', submenu: [{ label: 'Keyboard Shortcuts', accelerator: 'F1', click: () => send('help.shortcuts') }] },
  ];
  Menu.setApplicationMenu(Menu.buildFromTemplate(template));
}

let quitting = false;
/** the engine closes in order on SIGTERM (engine-host.ts: at most 20 s); past this it is left to Electron's own end */
const ENGINE_EXIT_WAIT_MS = 25_000;
let engineClosed = false;
app.on('before-quit', (e) => {
  quitting = true;
  const child = engine;
  if (engineClosed || !child?.pid) return;
  // the quit waits until the engine has closed its session and let its workers' native calls end
  e.preventDefault();
  engineClosed = true;
  const timer = setTimeout(() => app.quit(), ENGINE_EXIT_WAIT_MS);
  child.once('exit', () => {
    clearTimeout(timer);
    app.quit();
  });
  child.kill();
});

app.whenReady().then(() => {
  session.defaultSession.webRequest.onHeadersReceived((details, cb) => cb({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } }));
  session.defaultSession.setPermissionRequestHandler((_wc, _perm, cb) => cb(false));
  engine = startEngine();
  registerIpc();
  void buildMenu();
  win = new BrowserWindow({
    width: 1400,
    height: 900,
    title: 'Sparsity Lab',
    webPreferences: { preload: path.join(__dirname, 'preload.cjs'), sandbox: true, contextIsolation: true, nodeIntegration: false, webSecurity: true },
  });
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (isAllowedExternalLink(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  win.webContents.on('will-navigate', (ev) => ev.preventDefault());
  if (devUrl !== undefined) void win.loadURL(devUrl);
  else void win.loadFile(rendererIndex);
});

app.on('window-all-closed', () => {
  app.quit(); // before-quit stops the engine
});
