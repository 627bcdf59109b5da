// Issue 18/19: the Electron shell's native dialogs. Their options are checked before they reach Electron, and only
// a path the native save dialog returned may be written with overwrite (the rule "writes go only where the user chose").
import { expect, test } from 'vitest';
import { openDialogOptions, openDialogSchema, saveDialogSchema, SaveGrants } from '../../electron/dialogs';

test('dialog options: checked, mapped to Electron properties', () => {
  const o = openDialogSchema.parse({ title: 'Evaluation text', directories: false, multiple: false, filters: [{ name: 'Text', extensions: ['txt', 'jsonl'] }], defaultPath: '/data/eval.txt' });
  expect(openDialogOptions(o)).toEqual({ title: 'Evaluation text', filters: [{ name: 'Text', extensions: ['txt', 'jsonl'] }], defaultPath: '/data/eval.txt', properties: ['openFile', 'dontAddToRecent'] });
  expect(openDialogOptions(openDialogSchema.parse({ title: 't', directories: true, multiple: true })).properties).toEqual(['openDirectory', 'multiSelections', 'dontAddToRecent']);
  for (const bad of [{ title: 'x'.repeat(201), directories: false, multiple: false }, { title: 't', directories: 'yes', multiple: false }, { title: 't', directories: false, multiple: false, filters: [{ name: 'x', extensions: ['../../etc'] }] }, { title: 't', directories: false, multiple: false, extra: 1 }])
    expect(openDialogSchema.safeParse(bad).success).toBe(false);
  expect(saveDialogSchema.safeParse({ title: 'Save', defaultPath: 'a'.repeat(5000) }).success).toBe(false);
});

test('overwrite reaches the engine only for a path the save dialog returned', () => {
  const g = new SaveGrants();
  const ask = (out: string) => g.guard('sessions.exportRun', { id: 'r1', format: 'json', out, overwrite: true }) as { overwrite: boolean };
  expect(ask('/home/u/run.json').overwrite).toBe(false);
  g.grant('/home/u/run.json');
  expect(ask('/home/u/run.json').overwrite).toBe(true);
  expect(ask('/home/u/x/../run.json').overwrite).toBe(true); // the same file
  expect(ask('/home/u/other.json').overwrite).toBe(false);
  expect((g.guard('charts.export', { out: '/etc/passwd', overwrite: true, format: 'svg' }) as { overwrite: boolean }).overwrite).toBe(false);
  expect((g.guard('sessions.exportThresholds', { out: '/tmp', overwrite: true }) as { overwrite: boolean }).overwrite).toBe(false);
  // Save As replaces the file at `path` only where the dialog returned it
  expect((g.guard('sessions.saveAs', { path: '/home/u/other.sparsitylab', overwrite: true }) as { overwrite: boolean }).overwrite).toBe(false);
  g.grant('/home/u/chosen.sparsitylab');
  expect((g.guard('sessions.saveAs', { path: '/home/u/chosen.sparsitylab', overwrite: true }) as { overwrite: boolean }).overwrite).toBe(true);
  // no overwrite asked, or a command that writes nothing: forwarded as is
  const p = { id: 'r1', format: 'csv', out: '/x.csv' };
  expect(g.guard('sessions.exportRun', p)).toBe(p);
  const q = { path: '/x' };
  expect(g.guard('files.list', q)).toBe(q);
  for (let i = 0; i < 60; i++) g.grant(`/g/${i}.json`);
  expect(g.allows('/home/u/run.json')).toBe(false); // the oldest grants expire
  expect(g.allows('/g/59.json')).toBe(true);
});
