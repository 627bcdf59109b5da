/**
 * The open session (one .sparsitylab file, engineer D's sessions domain). The engine holds the open
 * session; this store mirrors it (SessionInfo) and follows `session.changed` events.
 */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { SessionInfo } from '../../../main/api/contract';
import { api } from '../api/client';
import { errorText, existsAlreadyText } from '../api/errors';

export const useSessionStore = defineStore('session', () => {
  const info = ref<SessionInfo | null>(null);
  const error = ref('');
  /** the last error was a Save as onto an existing file (reason FILE_EXISTS): the window offers Replace */
  const exists = ref(false);
  const busy = ref(false);
  /** bumped on every change the engine reports, so views reload what they show */
  const revision = ref(0);
  const path = computed(() => info.value?.path ?? null);
  const name = computed(() => info.value?.name ?? '');

  api.on('session.changed', (e) => {
    if (e.what === 'closed') info.value = null;
    revision.value++;
    if (e.what !== 'closed') void refresh();
  });

  async function run(fn: () => Promise<SessionInfo | null>): Promise<boolean> {
    busy.value = true;
    error.value = '';
    exists.value = false;
    try {
      info.value = await fn();
      revision.value++;
      return true;
    } catch (e) {
      const taken = existsAlreadyText(e);
      exists.value = !!taken;
      error.value = taken ?? errorText(e);
      return false;
    } finally {
      busy.value = false;
    }
  }
  /** What the engine has open now (after a page reload, or another window's change). */
  async function refresh(): Promise<void> {
    try {
      info.value = await api.call('sessions.current', {});
    } catch {
      /* keep what we have */
    }
  }
  /**
   * After the engine came back (browser mode's server restarted, the app's engine process restarted: it starts with no
   * session open) the window's session is opened there again, so a Resume or a new run is written into it and not into
   * job files; a session another window opened meanwhile is taken as it is.
   */
  async function reattach(): Promise<void> {
    const mine = info.value?.path;
    if (!mine) return;
    try {
      const now = await api.call('sessions.current', {});
      if (now) info.value = now;
      else await open(mine);
    } catch {
      /* the next reconnect tries again */
    }
  }
  let wasOpen = false;
  let dropped = false;
  api.onState((st) => {
    if (st !== 'open') dropped = wasOpen;
    else {
      if (dropped) void reattach();
      wasOpen = true;
      dropped = false;
    }
  });
  const open = (file: string) => run(() => api.call('sessions.open', { path: file }));
  const create = (file: string) => run(() => api.call('sessions.new', { path: file }));
  /** `overwrite`: the user confirmed replacing the file there (a save dialog, or Replace); else an existing file is refused */
  const saveAs = (file: string, overwrite = false) => run(() => api.call('sessions.saveAs', overwrite ? { path: file, overwrite } : { path: file }));
  async function close(): Promise<void> {
    await run(async () => {
      await api.call('sessions.close', {});
      return null;
    });
  }
  return { info, path, name, error, exists, busy, revision, refresh, reattach, open, create, saveAs, close };
});
