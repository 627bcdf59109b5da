/**
 * Where an export may write (issue 19): only where the user chose. A new file in an existing folder, or — when the
 * caller says overwrite (the CLI's --overwrite, or a path the Electron save dialog confirmed) — an existing regular
 * file of the expected type. Never a folder created on the way, never a silent overwrite, never an unrelated file
 * (a binary where text is expected, a PDF that is not a PDF). Ground floor: plain Node, no other import of main/.
 */
import fs from 'node:fs';
import path from 'node:path';

export class OutputFileError extends Error {
  /** 'exists': the file exists and overwriting was not asked for (the app offers Replace; the CLI says --overwrite) */
  constructor(
    message: string,
    readonly reason?: 'exists',
    readonly path?: string,
  ) {
    super(message);
    this.name = 'OutputFileError';
  }
}

const MAGIC: Record<string, (head: Buffer) => boolean> = {
  pdf: (h) => h.subarray(0, 5).toString('latin1') === '%PDF-',
  png: (h) => h.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  svg: (h) => /<svg[\s>]/i.test(h.toString('utf8')) && !h.includes(0),
};
const looksText = (h: Buffer) => !h.includes(0);

/** Returns the absolute path to write, or throws OutputFileError with a sentence for the user. */
export function checkOutputFile(file: string, o: { format: string; overwrite?: boolean }): string {
  const abs = path.resolve(file);
  let dst: fs.Stats;
  try {
    dst = fs.lstatSync(abs);
  } catch {
    return abs; // a new file (a missing folder is the writer's error: nothing here or there creates folders)
  }
  if (dst.isDirectory()) return abs; // the writer says "it is a folder"
  if (!dst.isFile()) throw new OutputFileError(`${abs} exists and is not a regular file; choose another name`);
  if (!o.overwrite) throw new OutputFileError(`${abs} exists already; choose another name, or ask to overwrite it (CLI: --overwrite)`, 'exists', abs);
  const ext = path.extname(abs).slice(1).toLowerCase();
  if (ext !== o.format.toLowerCase()) throw new OutputFileError(`${abs} exists and is not a .${o.format} file; not overwritten — choose another name`);
  const fd = fs.openSync(abs, 'r');
  const head = Buffer.alloc(4096);
  const n = fs.readSync(fd, head, 0, head.length, 0);
  fs.closeSync(fd);
  const h = head.subarray(0, n);
  if (n > 0 && !(MAGIC[ext] ?? looksText)(h)) throw new OutputFileError(`${abs} exists but its contents are not a .${ext} file this app writes; not overwritten — choose another name`);
  return abs;
}
