/// <reference types="vite/client" />
import type { LabBridge } from '../main/api/bridge';

declare global {
  interface Window {
    /** Present only in Electron (preload). Browser mode talks over the WebSocket instead. */
    lab?: LabBridge;
  }
}

declare module '*.vue' {
  import type { DefineComponent } from 'vue';
  const component: DefineComponent<object, object, unknown>;
  export default component;
}
