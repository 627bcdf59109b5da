/**
 * The load-checkpoints wizard's working list: paths the user picked, what the engine's inspection said
 * about each, and the series name / tokens trained the user set. The checkpoints domain (engineer A) is
 * called loosely until its types land in the contract; an UNKNOWN_COMMAND answer reads "not built yet".
 */
import { defineStore } from 'pinia';
import { ref } from 'vue';
import { api } from '../api/client';
import { errorText, isNotBuilt } from '../api/errors';
import type { ArchSpec } from '../components/ArchCard.vue';
import { baseName, guessSeries, parseName } from '../naming';

export interface PendingCheckpoint {
  path: string;
  status: 'inspecting' | 'ok' | 'error' | 'not-built';
  spec?: ArchSpec;
  error?: string;
  series: string;
  tokensText: string;
  step?: number;
}

function fromInspect(r: unknown): ArchSpec | undefined {
  if (!r || typeof r !== 'object') return undefined;
  const o = r as Record<string, unknown>;
  const spec = (o.spec && typeof o.spec === 'object' ? o.spec : o) as ArchSpec;
  return spec;
}

export const useCheckpointsStore = defineStore('checkpoints', () => {
  const pending = ref<PendingCheckpoint[]>([]);

  async function addPath(raw: string): Promise<void> {
    const path = raw.trim().replace(/^file:\/\//, '');
    if (!path || pending.value.some((p) => p.path === path)) return;
    const parsed = parseName(baseName(path));
    const item: PendingCheckpoint = {
      path,
      status: 'inspecting',
      series: guessSeries(path),
      tokensText: parsed.tokens !== undefined ? String(parsed.tokens) : '',
      step: parsed.step,
    };
    pending.value = [...pending.value, item];
    const it = () => pending.value.find((p) => p.path === path);
    try {
      const r = await api.callLoose('checkpoints.inspect', { path });
      const cur = it();
      if (cur) Object.assign(cur, { status: 'ok', spec: fromInspect(r) });
    } catch (e) {
      const cur = it();
      if (cur) Object.assign(cur, { status: isNotBuilt(e) ? 'not-built' : 'error', error: errorText(e) });
    }
  }
  function remove(path: string): void {
    pending.value = pending.value.filter((p) => p.path !== path);
  }
  return { pending, addPath, remove };
});
