/**
 * The load-checkpoints wizard's working list: paths the user picked, what `checkpoints.inspect` said
 * about each, and the series name / tokens trained the user set before `sessions.addCheckpoint`.
 * Also the session's own checkpoints (`sessions.listCheckpoints`) for the measure wizard.
 */
import { defineStore } from 'pinia';
import { ref } from 'vue';
import type { CheckpointCard, SessionCheckpoint } from '../../../main/api/contract';
import { api } from '../api/client';
import { errorText } from '../api/errors';
import { baseName, loneSeries, parseName } from '../naming';

export interface PendingCheckpoint {
  path: string;
  status: 'inspecting' | 'ok' | 'error';
  spec?: CheckpointCard;
  error?: string;
  series: string;
  tokensText: string;
  step?: number;
}

export const useCheckpointsStore = defineStore('checkpoints', () => {
  const pending = ref<PendingCheckpoint[]>([]);
  const inSession = ref<SessionCheckpoint[]>([]);

  async function addPath(raw: string, prefill: { series?: string; tokens?: number } = {}): Promise<void> {
    const path = raw.trim().replace(/^file:\/\//, '');
    if (!path || pending.value.some((p) => p.path === path)) return;
    const parsed = parseName(baseName(path));
    const tokens = prefill.tokens ?? parsed.tokens;
    pending.value = [...pending.value, { path, status: 'inspecting', series: prefill.series ?? loneSeries(path), tokensText: tokens !== undefined ? String(tokens) : '', step: parsed.step }];
    const it = () => pending.value.find((p) => p.path === path);
    try {
      const spec = await api.call('checkpoints.inspect', { path });
      const cur = it();
      if (cur) Object.assign(cur, { status: 'ok', spec });
    } catch (e) {
      const cur = it();
      if (cur) Object.assign(cur, { status: 'error', error: errorText(e) });
    }
  }
  function remove(path: string): void {
    pending.value = pending.value.filter((p) => p.path !== path);
  }
  async function loadSession(): Promise<void> {
    try {
      inSession.value = await api.call('sessions.listCheckpoints', {});
    } catch {
      inSession.value = []; // no session open
    }
  }
  return { pending, inSession, addPath, remove, loadSession };
});
