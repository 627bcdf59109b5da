/**
 * What a run read, by content: the records (path + sha256 or checkpoint content hash) a run keeps of its inputs, and
 * the sha256 of a file read in chunks, synchronously or with the event loop turning between chunks. Both the job
 * layer (main/jobs/inputs.ts: hashing at start, checking at resume) and the session store (records, relinking a
 * moved file) use them.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';

export interface InputRef {
  path: string;
  /** null: the file could not be read when the run started (the run itself reports why) */
  hash: string | null;
}

export interface RunInputs {
  checkpoints: InputRef[];
  data?: InputRef;
}


/** sha256 of a file, read in 1 MiB chunks (`sha256:` + hex); undefined when it cannot be read. */
export function fileHash(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const h = crypto.createHash('sha256');
    const buf = Buffer.alloc(1 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
    return `sha256:${h.digest('hex')}`;
  } catch {
    return undefined; // unreadable: the job itself reports it with the file name
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * fileHash's value, read through fs.promises in 1 MiB chunks: the event loop turns between chunks, so a large
 * evaluation text hashed when a run starts or resumes does not hold up the engine's other requests (issue 19).
 */
export async function fileHashAsync(file: string): Promise<string | undefined> {
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(file, 'r');
    const h = crypto.createHash('sha256');
    const buf = Buffer.alloc(1 << 20);
    for (let n; (n = (await fh.read(buf, 0, buf.length, null)).bytesRead) > 0; ) h.update(buf.subarray(0, n));
    return `sha256:${h.digest('hex')}`;
  } catch {
    return undefined; // unreadable: the job itself reports it with the file name
  } finally {
    await fh?.close().catch(() => undefined);
  }
}
