/**
 * The open session (one .sparsitylab file). Until the sessions domain lands in the contract, the
 * commands are called loosely and an UNKNOWN_COMMAND answer is shown as "not built yet".
 */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import { api } from '../api/client';
import { errorText, isNotBuilt } from '../api/errors';

export const useSessionStore = defineStore('session', () => {
  const path = ref<string | null>(null);
  const error = ref('');
  const notBuilt = ref(false);
  const busy = ref(false);
  const name = computed(() => (path.value ? path.value.split(/[\\/]/).pop()!.replace(/\.sparsitylab$/, '') : ''));

  async function run<T>(fn: () => Promise<T>): Promise<T | undefined> {
    busy.value = true;
    error.value = '';
    try {
      const r = await fn();
      notBuilt.value = false;
      return r;
    } catch (e) {
      if (isNotBuilt(e)) notBuilt.value = true;
      error.value = errorText(e);
      return undefined;
    } finally {
      busy.value = false;
    }
  }

  async function open(file: string): Promise<boolean> {
    const r = await run(() => api.callLoose('sessions.open', { path: file }));
    if (r === undefined) return false;
    path.value = file;
    return true;
  }
  async function create(file: string): Promise<boolean> {
    const r = await run(() => api.callLoose('sessions.new', { path: file }));
    if (r === undefined) return false;
    path.value = file;
    return true;
  }
  async function saveAs(file: string): Promise<boolean> {
    const r = await run(() => api.callLoose('sessions.saveAs', { path: file }));
    if (r === undefined) return false;
    path.value = file;
    return true;
  }
  async function close(): Promise<void> {
    await run(() => api.callLoose('sessions.close', {}));
    path.value = null;
  }
  return { path, name, error, notBuilt, busy, open, create, saveAs, close };
});
