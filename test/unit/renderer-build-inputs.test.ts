// `npm start` and `npm run test:e2e` rebuild the renderer only when a source is newer than dist/renderer
// (scripts/build.mjs). The sources it watched left out common/ (the chart runtime, the folder-name parser, provider
// reasons), so a change there was served stale (found in a QA pass: a chart-runtime fix reported "build is up to date").
// Every folder a renderer file imports from must be watched.
import fs from 'node:fs';
import path from 'node:path';
import { expect, test } from 'vitest';

const root = path.resolve(__dirname, '../..');

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : /\.(ts|vue)$/.test(e.name) ? [path.join(dir, e.name)] : []));
}

test('the renderer build watches every folder the renderer imports from', async () => {
  const { RENDERER_INPUTS } = (await import(path.join(root, 'scripts/build.mjs'))) as { RENDERER_INPUTS: string[] };
  const outside = new Set<string>();
  const seen = new Set<string>();
  for (const f of files(path.join(root, 'renderer/src'))) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = path.relative(root, path.resolve(path.dirname(f), m[1]));
      seen.add(target.split('/')[0]);
      if (!RENDERER_INPUTS.some((d) => target === d || target.startsWith(d + '/'))) outside.add(target);
    }
  }
  expect([...seen].sort()).toEqual(['common', 'main', 'renderer']); // the scan finds the imports it checks
  expect([...outside]).toEqual([]);
  expect(RENDERER_INPUTS).toContain('common');
});
