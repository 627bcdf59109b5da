/**
 * Preload (sandboxed): exposes the LabBridge of main/api/bridge.ts on window.lab. Domain verbs only;
 * ipcRenderer itself never reaches the page.
 */
import { contextBridge, ipcRenderer } from 'electron';
import type { LabBridge, MenuAction } from '../main/api/bridge';
import type { WireResponse } from '../main/api/contract';

const bridge: LabBridge = {
  invoke: (cmd, payload) => ipcRenderer.invoke('lab:invoke', cmd, payload) as Promise<WireResponse>,
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
