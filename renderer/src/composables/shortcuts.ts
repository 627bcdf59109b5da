/**
 * Keyboard shortcuts for the main actions. One table: the help overlay lists exactly what is bound.
 * Electron's app menu sends the same actions through window.lab.onMenu.
 */
import { onBeforeUnmount, onMounted } from 'vue';

export interface Shortcut {
  keys: string; // shown in the help overlay
  label: string;
  match: (e: KeyboardEvent) => boolean;
  run: () => void;
  /** also fires while typing in a field */
  global?: boolean;
}

const mod = (e: KeyboardEvent) => e.ctrlKey || e.metaKey;

export const keys = {
  ctrl: (k: string, shift = false) => (e: KeyboardEvent) => mod(e) && e.shiftKey === shift && !e.altKey && e.key.toLowerCase() === k,
  alt: (k: string) => (e: KeyboardEvent) => e.altKey && !mod(e) && (e.key === k || e.code === `Digit${k}`),
  plain: (k: string) => (e: KeyboardEvent) => !mod(e) && !e.altKey && e.key === k,
};

function typing(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  return !!t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
}

export function useShortcuts(list: () => Shortcut[]): void {
  const onKey = (e: KeyboardEvent) => {
    for (const s of list()) {
      if (!s.match(e)) continue;
      if (typing(e) && !s.global) continue;
      e.preventDefault();
      s.run();
      return;
    }
  };
  onMounted(() => window.addEventListener('keydown', onKey));
  onBeforeUnmount(() => window.removeEventListener('keydown', onKey));
}
