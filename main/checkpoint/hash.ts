/** sha256 over a checkpoint's files, streamed; cached in memory by path + size + mtime. */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

const hashCache = new Map<string, string>();

export async function hashFiles(files: string[]): Promise<string> {
  const key = files.map((f) => {
    const st = fs.statSync(f);
    return `${f}:${st.size}:${st.mtimeMs}`;
  }).join('|');
  const hit = hashCache.get(key);
  if (hit) return hit;
  const h = crypto.createHash('sha256');
  for (const f of files) {
    h.update(path.basename(f));
    await new Promise<void>((resolve, reject) => {
      fs.createReadStream(f, { highWaterMark: 1 << 22 })
        .on('data', (d) => h.update(d))
        .on('end', () => resolve())
        .on('error', reject);
    });
  }
  const out = h.digest('hex');
  hashCache.set(key, out);
  return out;
}

