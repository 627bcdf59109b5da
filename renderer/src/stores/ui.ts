/** UI state: theme, help overlay, toasts (with an optional undo action). */
import { defineStore } from 'pinia';
import { ref, watch } from 'vue';

export type Theme = 'dark' | 'light';
export interface Toast {
  id: number;
  kind: 'info' | 'error' | 'ok';
  text: string;
  action?: { label: string; run: () => void | Promise<void> };
  timeoutMs: number;
}

function initialTheme(): Theme {
  const saved = localStorage.getItem('slab.theme');
  if (saved === 'dark' || saved === 'light') return saved;
  return window.matchMedia?.('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
}

export const useUiStore = defineStore('ui', () => {
  const theme = ref<Theme>(initialTheme());
  const helpOpen = ref(false);
  const toasts = ref<Toast[]>([]);
  let nextId = 1;

  watch(
    theme,
    (t) => {
      document.documentElement.dataset.theme = t;
      localStorage.setItem('slab.theme', t);
    },
    { immediate: true },
  );

  function toggleTheme(): void {
    theme.value = theme.value === 'dark' ? 'light' : 'dark';
  }
  function dismiss(id: number): void {
    toasts.value = toasts.value.filter((t) => t.id !== id);
  }
  function toast(kind: Toast['kind'], text: string, action?: Toast['action'], timeoutMs = kind === 'error' ? 12_000 : 6_000): number {
    const id = nextId++;
    toasts.value = [...toasts.value, { id, kind, text, action, timeoutMs }];
    setTimeout(() => dismiss(id), timeoutMs);
    return id;
  }
  return { theme, helpOpen, toasts, toggleTheme, toast, dismiss };
});
