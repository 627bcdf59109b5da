/**
 * Preload (sandboxed): exposes the LabBridge of main/api/bridge.ts on window.lab. Domain verbs only;
 * ipcRenderer itself never reaches the page.
 */
import { contextBridge, ipcRenderer } from 'electron';
import type { DomainVerbs, LabBridge, MenuAction } from '../main/api/bridge';
import { COMMAND_NAMES, type WireResponse } from '../main/api/contract';

const invoke = (cmd: string, payload: unknown) => ipcRenderer.invoke('lab:invoke', cmd, payload) as Promise<WireResponse>;
const api: DomainVerbs = {};
for (const name of COMMAND_NAMES) {
  const [domain, ...verb] = name.split('.');
  (api[domain] ??= {})[verb.join('.')] = (payload?: unknown) => invoke(name, payload ?? {});
}

const bridge: LabBridge = {
  api,
  invoke,
  onProgress(cb) {
    const h = (_e: unknown, event: string, payload: unknown) => event === 'job.progress' && cb(payload);
    ipcRenderer.on('lab:event', h);
    return () => ipcRenderer.removeListener('lab:event', h);
  },
  onEvent(cb) {
    const h = (_e: unknown, event: string, payload: unknown) => cb(event, payload);
    ipcRenderer.on('lab:event', h);
    return () => ipcRenderer.removeListener('lab:event', h);
  },
  onMenu(cb) {
    const h = (_e: unknown, action: MenuAction) => cb(action);
    ipcRenderer.on('lab:menu', h);
    return () => ipcRenderer.removeListener('lab:menu', h);
  },
  dialog: {
    openPaths: (opts) => ipcRenderer.invoke('lab:dialog:open', opts),
    savePath: (opts) => ipcRenderer.invoke('lab:dialog:save', opts),
  },
  setTitle: (title) => ipcRenderer.send('lab:title', title),
  clipboard: {
    writeImage: (b64) => ipcRenderer.invoke('lab:clipboard:image', b64),
    writeText: (text) => ipcRenderer.invoke('lab:clipboard:text', text),
  },
  platform: process.platform,
};

contextBridge.exposeInMainWorld('lab', bridge);
