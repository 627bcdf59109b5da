// The Electron shell carries no engine: its main process bundle is built here with the project's own esbuild
// options and must not hold onnxruntime-node, better-sqlite3 or any engine module; the lint rule that keeps
// electron/ on the contract catches a violation; links, dev switches and the page's CSP are checked.
import { expect, test } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { ESLint } from 'eslint';
import { isAllowedExternalLink, devServerUrl } from '../../electron/links';
import { CSP, CSP_META } from '../../main/api/csp';

const root = path.resolve(__dirname, '../..');

test('the built main-process bundle holds no engine, no onnxruntime-node and no better-sqlite3', async () => {
  const { electronBuildOptions } = (await import(path.join(root, 'scripts/build.mjs'))) as { electronBuildOptions: () => Record<string, unknown> };
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-shell-'));
  const r = await build({ ...electronBuildOptions(), sourcemap: false, entryPoints: { main: 'electron/main.ts' }, outdir: out, outExtension: { '.js': '.cjs' }, absWorkingDir: root, metafile: true, write: true });
  const code = fs.readFileSync(path.join(out, 'main.cjs'), 'utf8');
  for (const native of ['onnxruntime-node', 'better-sqlite3', '@napi-rs/canvas']) expect(code, native).not.toContain(native);
  const inputs = Object.keys(r.metafile!.inputs).filter((f) => f.startsWith('main/'));
  expect(inputs.length).toBeGreaterThan(0); // the contract is there
  expect(inputs.filter((f) => !f.startsWith('main/api/'))).toEqual([]);
  expect(code.length).toBeLessThan(1_000_000); // was 2.9 MB with the engine inside
  fs.rmSync(out, { recursive: true, force: true });
});

test('lint: electron/ may import main/api and pure helpers only; engine-host.ts is the engine entry', async () => {
  const eslint = new ESLint({ cwd: root });
  const violations = async (file: string, code: string) => {
    const [res] = await eslint.lintText(code, { filePath: path.join(root, file) });
    return res.messages.filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').length;
  };
  expect(await violations('electron/x.ts', "import { readRecent } from '../main/engine/recent';\nexport const a = readRecent;\n")).toBe(1);
  expect(await violations('electron/x.ts', "import { CSP } from '../main/server/server';\nexport const a = CSP;\n")).toBe(1);
  expect(await violations('electron/x.ts', "import ort from 'onnxruntime-node';\nexport const a = ort;\n")).toBe(1);
  expect(await violations('electron/x.ts', "import { requestSchemas } from '../main/api/contract';\nexport const a = requestSchemas;\n")).toBe(0);
  expect(await violations('electron/engine-host.ts', "import { Engine } from '../main/engine/engine';\nexport const a = Engine;\n")).toBe(0);
});

test('external links: only https to a short allowlist of hosts reaches openExternal', () => {
  for (const ok of ['https://arxiv.org/abs/2411.02335', 'https://github.com/x/y', 'https://huggingface.co/m']) expect(isAllowedExternalLink(ok), ok).toBe(true);
  for (const bad of ['http://arxiv.org/abs/1', 'https://evil.example/', 'https://arxiv.org.evil.example/', 'https://user:pw@github.com/', 'https://github.com:8443/', 'file:///etc/passwd', 'javascript:alert(1)', 'smb://host/share', 'ms-settings:', 'not a url', ''])
    expect(isAllowedExternalLink(bad), bad).toBe(false);
});

test('no dev switch in a packaged build; the dev URL must be a local http page', () => {
  expect(devServerUrl(true, { SPARSITY_LAB_DEV_URL: 'http://127.0.0.1:5173/' })).toBeUndefined();
  expect(devServerUrl(false, { SPARSITY_LAB_DEV_URL: 'http://127.0.0.1:5173/' })).toBe('http://127.0.0.1:5173/');
  expect(devServerUrl(false, { SPARSITY_LAB_DEV_URL: 'https://evil.example/' })).toBeUndefined();
  expect(devServerUrl(false, {})).toBeUndefined();
});

test('renderer/index.html carries the CSP in a <meta> tag (Electron ignores response headers on file://)', () => {
  const html = fs.readFileSync(path.join(root, 'renderer/index.html'), 'utf8');
  const m = /<meta http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html);
  expect(m?.[1]).toBe(CSP_META);
  expect(CSP.startsWith(CSP_META)).toBe(true);
  expect(CSP_META).not.toContain('frame-ancestors');
});
