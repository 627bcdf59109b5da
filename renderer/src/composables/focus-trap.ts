/**
 * Keeps Tab inside a modal dialog (the file browser, the shortcuts help): from the last focusable element Tab goes to
 * the first, Shift+Tab from the first (or the dialog itself) to the last. Without it Tab walked out of the dialog
 * onto the page behind its backdrop, where nothing could be clicked and Esc no longer closed the dialog.
 */
const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/** the focusable elements inside `root` that are shown, in tab order (document order: the dialogs set no positive tabindex) */
export function focusables(root: HTMLElement): HTMLElement[] {
  return [...root.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((el) => el.getClientRects().length > 0);
}

/** keydown handler for Tab on a modal's root */
export function trapTab(root: HTMLElement | null, e: KeyboardEvent): void {
  if (e.key !== 'Tab' || !root) return;
  const items = focusables(root);
  const active = document.activeElement;
  if (items.length === 0) {
    e.preventDefault();
    root.focus();
    return;
  }
  const first = items[0];
  const last = items[items.length - 1];
  const inside = active instanceof Node && root.contains(active);
  if (e.shiftKey ? active === first || active === root || !inside : active === last || !inside) {
    e.preventDefault();
    (e.shiftKey ? last : first).focus();
  }
}
