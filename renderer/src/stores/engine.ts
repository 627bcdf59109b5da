/** Engine info (versions, providers that initialise here) and the recent-sessions list. */
import { defineStore } from 'pinia';
import { ref } from 'vue';
import type { EngineInfo, RecentSession } from '../../../main/api/contract';
import { api, type ConnectionState } from '../api/client';
import { errorText } from '../api/errors';

export const useEngineStore = defineStore('engine', () => {
  const info = ref<EngineInfo | null>(null);
  const infoError = ref('');
  const recent = ref<RecentSession[] | null>(null);
  const recentError = ref('');
  const connection = ref<ConnectionState>('connecting');
  const loading = ref(false);

  api.onState((s) => {
    connection.value = s;
    // After a reconnect (server restarted) refresh what we show.
    if (s === 'open' && (infoError.value || recentError.value)) void load();
  });

  // the recent list changes when a session is opened (the app's start opens one after this store first asked)
  api.on('session.changed', (e) => {
    if (e.what === 'opened') void loadRecent();
  });

  async function loadInfo(refresh = false): Promise<void> {
    try {
      info.value = await api.call('engine.info', refresh ? { refresh } : {});
      infoError.value = '';
    } catch (e) {
      infoError.value = errorText(e);
    }
  }
  async function loadRecent(): Promise<void> {
    try {
      recent.value = await api.call('sessions.recent', {});
      recentError.value = '';
    } catch (e) {
      recentError.value = errorText(e);
    }
  }
  async function load(refresh = false): Promise<void> {
    loading.value = true;
    await Promise.all([loadInfo(refresh), loadRecent()]);
    loading.value = false;
  }
  return { info, infoError, recent, recentError, connection, loading, load, loadInfo, loadRecent };
});
