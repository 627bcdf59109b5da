// The modal dialogs from the keyboard: Tab and Shift+Tab stay inside the file browser's dialog and the shortcuts help
// (Tab used to walk out onto the page behind the backdrop, where Esc no longer closed the dialog), Esc closes the file
// browser and the focus goes back to its Browse… button.
import { expect, test } from 'vitest';
import { useLab } from './harness';

const lab = useLab('slab-keyboard-e2e-', () => ({ viewport: { width: 1280, height: 800 } }));

/** whether the focused element is inside the element with this test id */
const focusIn = (testid: string) => lab.page.evaluate((id) => !!document.activeElement?.closest(`[data-testid="${id}"]`), testid);

test('Tab stays in the file browser dialog and the shortcuts help; Esc closes the dialog and returns to Browse…', async () => {
  const { page, server, errors } = lab;
  await page.goto(`${server.url}#/measure`);
  await page.getByTestId('measure-data-browse').click();
  await page.getByTestId('fb-cancel').waitFor({ timeout: 30_000 });
  await page.getByTestId('fb-path').waitFor();
  for (const key of ['Tab', 'Shift+Tab']) {
    for (let i = 0; i < 20; i++) {
      await page.keyboard.press(key);
      expect(await focusIn('browse-dialog'), `${key} ×${i + 1}`).toBe(true);
    }
  }
  await page.keyboard.press('Escape');
  await expect.poll(() => page.getByTestId('browse-dialog').count()).toBe(0);
  expect(await page.getByTestId('measure-data-browse').evaluate((b) => b === document.activeElement)).toBe(true);

  await page.keyboard.press('Shift+Slash'); // '?'
  await page.getByTestId('help-overlay').waitFor();
  for (let i = 0; i < 4; i++) {
    await page.keyboard.press('Tab');
    expect(await focusIn('help-overlay'), `help: Tab ×${i + 1}`).toBe(true);
  }
  await page.keyboard.press('Escape');
  await expect.poll(() => page.getByTestId('help-overlay').count()).toBe(0);
  expect(errors).toEqual([]);
}, 60_000);
