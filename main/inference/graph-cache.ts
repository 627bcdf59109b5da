/**
 * Built graphs on disk, keyed by checkpoint content hash + build options, so a second open is fast.
 * The cache has a size limit (oldest entries go first) and can be cleared.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

export class GraphCache {
  constructor(
    readonly dir: string,
    readonly limitBytes = 4 * 1024 ** 3,
  ) {}

  path(contentHash: string, options: Record<string, unknown>): string {
    const key = crypto.createHash('sha256').update(contentHash).update(JSON.stringify(options)).digest('hex').slice(0, 32);
    return path.join(this.dir, `${key}.onnx`);
  }

  put(file: string, bytes: Uint8Array): void {
    fs.mkdirSync(this.dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, bytes);
    fs.renameSync(tmp, file);
    this.prune();
  }

  entries(): { file: string; size: number; mtime: number }[] {
    if (!fs.existsSync(this.dir)) return [];
    return fs
      .readdirSync(this.dir)
      .filter((f) => f.endsWith('.onnx'))
      .map((f) => {
        const file = path.join(this.dir, f);
        const st = fs.statSync(file);
        const data = fs.existsSync(`${file}.data`) ? fs.statSync(`${file}.data`).size : 0;
        return { file, size: st.size + data, mtime: st.mtimeMs };
      });
  }

  prune(): void {
    const list = this.entries().sort((a, b) => a.mtime - b.mtime);
    let total = list.reduce((a, e) => a + e.size, 0);
    for (const e of list) {
      if (total <= this.limitBytes) break;
      this.remove(e.file);
      total -= e.size;
    }
  }

  clear(): number {
    const list = this.entries();
    for (const e of list) this.remove(e.file);
    return list.length;
  }

  /** A graph and its external weights file (`<graph>.data`). */
  remove(file: string): void {
    fs.rmSync(file, { force: true });
    fs.rmSync(`${file}.data`, { force: true });
  }
}
