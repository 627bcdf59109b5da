import { z } from 'zod';

/**
 * Commands of the 'files' domain: the server-side file browser of browser mode (Electron uses the native
 * dialogs instead). It lists any folder of the file system the engine's user may read — the page already
 * holds the session token, and a listing carries names, sizes and dates only, never a file's contents.
 * Recent folders (the folders of the paths the user chose) are remembered in the app's data folder.
 */
const absPath = z.string().min(1).max(4096);
export const filesRequests = {
  'files.list': z
    .object({
      /** folder to list (absolute, or starting with ~); a file lists its folder with the file selected; default: home */
      path: absPath.optional(),
      showHidden: z.boolean().optional(),
    })
    .strict(),
  /** remembers the folder of a path the user chose (a folder itself, or a file's folder) as a recent folder */
  'files.remember': z.object({ path: absPath }).strict(),
};

/** What a listed entry looks like to the lab (cheap checks only: names, not contents). */
export type FileHint = 'hf-checkpoint' | 'onnx' | 'session' | 'text';

export interface FileEntry {
  name: string;
  path: string;
  kind: 'dir' | 'file';
  size?: number;
  mtime: string;
  hint?: FileHint;
}

export interface FileRoot {
  label: string;
  path: string;
}

export interface FileListing {
  path: string;
  /** null at the file system's root */
  parent: string | null;
  /** places: Home, App data, Demo lab (when shipped), File system (/) */
  roots: FileRoot[];
  /** remembered folders that still exist, newest first */
  recent: string[];
  entries: FileEntry[];
  /** set when the path asked for was a file: its name, listed in its folder */
  selected?: string;
  /** true when the folder has more entries than were returned */
  truncated: boolean;
}

export interface FilesResponses {
  'files.list': FileListing;
  'files.remember': { recent: string[] };
}
