import { z } from 'zod';

/**
 * Commands of the 'files' domain: the server-side file browser of the load-checkpoint wizard in browser
 * mode (Electron uses the native dialog). It lists only folders under the user's home, the app's
 * user-data folder and the shipped resources (demo lab); anything else is refused.
 */
export const filesRequests = {
  'files.list': z
    .object({
      /** folder to list; default: the user's home */
      path: z.string().min(1).max(4096).optional(),
      showHidden: z.boolean().optional(),
    })
    .strict(),
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
  /** null at a root */
  parent: string | null;
  roots: FileRoot[];
  entries: FileEntry[];
  /** true when the folder has more entries than were returned */
  truncated: boolean;
}

export interface FilesResponses {
  'files.list': FileListing;
}
