/**
 * Native dialogs of the Electron shell (issue 18) and the rule of issue 19 "writes go only where the user chose":
 * a path the native save dialog returned (the OS asked before replacing a file) is granted, and only a granted path
 * may be written with `overwrite: true`; any other `overwrite` from the page is dropped, so the engine writes a new
 * file or refuses (main/base/output-file.ts). Pure (no electron import): the shell calls it, a unit test checks it.
 */
import path from 'node:path';
import { z } from 'zod';

const filters = z.array(z.object({ name: z.string().max(100), extensions: z.array(z.string().regex(/^(\*|[\w.-]{1,20})$/)).max(20) }).strict()).max(10).optional();
export const openDialogSchema = z.object({ title: z.string().max(200), directories: z.boolean(), multiple: z.boolean(), filters, defaultPath: z.string().max(4096).optional() }).strict();
export const saveDialogSchema = z.object({ title: z.string().max(200), defaultPath: z.string().max(4096).optional(), filters }).strict();
export type OpenDialogRequest = z.infer<typeof openDialogSchema>;

/** Electron's OpenDialogOptions for a checked request. */
export function openDialogOptions(o: OpenDialogRequest) {
  return {
    title: o.title,
    ...(o.filters ? { filters: o.filters } : {}),
    ...(o.defaultPath ? { defaultPath: o.defaultPath } : {}),
    properties: [o.directories ? ('openDirectory' as const) : ('openFile' as const), ...(o.multiple ? (['multiSelections'] as const) : []), 'dontAddToRecent' as const],
  };
}

/** Commands that write a file the page names (in `out`, or `path` for Save As), with an `overwrite` switch. */
const WRITERS = new Map([
  ['charts.export', 'out'],
  ['sessions.exportRun', 'out'],
  ['sessions.exportThresholds', 'out'],
  ['sessions.saveAs', 'path'],
] as const);

export class SaveGrants {
  private granted: string[] = [];
  /** a path the save dialog returned (the last 50 are kept) */
  grant(p: string): void {
    const abs = path.resolve(p);
    this.granted = [abs, ...this.granted.filter((x) => x !== abs)].slice(0, 50);
  }
  allows(p: string): boolean {
    return this.granted.includes(path.resolve(p));
  }
  /** The payload to forward: `overwrite: true` stays only where the file it writes was granted by the save dialog. */
  guard(cmd: string, payload: unknown): unknown {
    const field = WRITERS.get(cmd as never);
    if (!field || !payload || typeof payload !== 'object') return payload;
    const p = payload as Record<string, unknown>;
    if (p.overwrite !== true) return payload;
    const target = p[field];
    if (typeof target === 'string' && this.allows(target)) return payload;
    return { ...p, overwrite: false };
  }
}
