/**
 * Whole-file writes by rename (issue 19: never lost data). The file holds its old bytes or the new ones, never half of
 * them: a reader (another process, a cluster node, a test polling for the file) never sees a partial file, and a write
 * that fails (disk full, permission, a crash) leaves the old file as it was and no temporary file behind. Errors keep
 * their code and name the file, not the temporary. Ground floor: plain Node.
 */
import fs from 'node:fs';
import { threadId } from 'node:worker_threads';

export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  // pid and thread: the engine's workers write beside it (e.g. the content-hash memo)
  const tmp = `${file}.${process.pid}.${threadId}.tmp`;
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    const err = e as NodeJS.ErrnoException;
    const out: NodeJS.ErrnoException = new Error(String(err.message ?? e).split(tmp).join(file));
    out.code = err.code;
    throw out;
  }
}

/**
 * Why a file write failed, in words a user acts on: 'permission denied', 'read-only file system', 'disk full', …; the
 * error's own message for anything else. (The caller names the file.)
 */
export function writeProblem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EROFS') return 'read-only file system';
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'disk full';
  if (code === 'ENOENT') return 'the folder does not accept new files';
  if (code === 'ENOTDIR') return 'a part of the path is a file, not a folder';
  return (e as Error)?.message ?? String(e);
}
