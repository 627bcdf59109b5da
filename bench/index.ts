/**
 * `npm run bench -- <suite> [options]`: speed measurements (never timed unit tests). Each suite is
 * bench/<suite>.ts exporting main(argv); it prints a JSON line and, with --out FILE, writes it. Results worth
 * keeping go to BENCHMARKS.md with date, machine, provider and command.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const available = fs
  .readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !['index.ts', 'common.ts', 'gpu-entry.ts'].includes(f))
  .map((f) => f.slice(0, -3));
const [suite, ...rest] = process.argv.slice(2);
if (!suite || !available.includes(suite)) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [options]`);
  process.exit(2);
}
try {
  const mod = (await import(pathToFileURL(path.join(here, `${suite}.ts`)).href)) as { main(argv: string[]): Promise<void> };
  await mod.main(rest);
} catch (e) {
  console.error(`bench ${suite}: ${(e as Error).message}`);
  process.exit(1);
}
