// The Provenance component (renderer/src/components/Provenance.vue) rendered on the server with the renderer's own
// Vite config: it shows what a recorded run's provenance says, and says plainly when a run has none.
import { afterAll, beforeAll, expect, test } from 'vitest';
import path from 'node:path';
import { createServer, type ViteDevServer } from 'vite';
import { createSSRApp, h, type Component } from 'vue';
import { renderToString } from 'vue/server-renderer';
import type { RunProvenance, SessionCheckpoint } from '../../main/api/domains/sessions';

const root = path.resolve(__dirname, '../..');
let vite: ViteDevServer;
let Provenance: Component;
beforeAll(async () => {
  vite = await createServer({ configFile: path.join(root, 'renderer/vite.config.ts'), server: { middlewareMode: true, hmr: false }, appType: 'custom', logLevel: 'silent', optimizeDeps: { noDiscovery: true } });
  Provenance = ((await vite.ssrLoadModule('/src/components/Provenance.vue')) as { default: Component }).default;
});
afterAll(() => vite?.close());

const render = (props: Record<string, unknown>) => renderToString(createSSRApp({ render: () => h(Provenance, props) }));
const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&#39;/g, "'").replace(/&gt;/g, '>').replace(/\s+/g, ' ');

const prov: RunProvenance = {
  app: { version: '9.8.7', commit: '0123456789abcdef0123456789abcdef01234567-dirty', onnxruntime: '1.29.0', node: 'v20.1.0', platform: 'linux-x64' },
  inputs: { checkpoints: [{ path: '/old/relu', hash: 'aabbccddeeff00112233' }], data: { path: '/old/eval.txt', hash: 'sha256:99887766554433221100' } },
  tokenizer: { hash: 'sha256:5566778899aabbccdd', files: ['tokenizer.json', 'tokenizer_config.json'] },
  measurement: {
    phases: [
      { phase: 'dense', provider: 'cuda', dtype: 'float16' },
      { phase: 'thresholds', provider: 'cuda', dtype: 'float16' },
      { phase: 'sparse', provider: 'cuda', dtype: 'float16' },
    ],
    search: { engine: 'fused', provider: 'cuda', productPrecision: 'float16', candidates: 65536, q99Cap: true, q99Stride: 'max(floor(numel / 65536), 1) per batch and layer', zeroNormTokens: null, engineFallback: { from: 'fused', to: 'ort', reason: 'device out of memory' } },
    fallbackReasons: ['fused search ran out of device memory'],
    thresholds: 'The per-layer thresholds reported are means over the evaluation batches.',
    perBatchThresholds: true,
  },
};

test('a recorded run: build, files by hash and location, phases, search choices, fallback, thresholds note', async () => {
  const checkpoint = { id: 1, path: '/old/relu', name: 'relu', missing: true } as SessionCheckpoint;
  const t = text(await render({ provenance: prov, checkpoint }));
  expect(t).toContain('9.8.7 · commit 0123456789 (with uncommitted changes) · onnxruntime 1.29.0');
  expect(t).toContain('aabbccddeeff · missing (last seen at /old/relu): re-point it in the session');
  expect(t).toContain('998877665544 · /old/eval.txt');
  expect(t).toContain('5566778899aa · tokenizer.json, tokenizer_config.json');
  expect(t).toContain('dense: cuda / float16');
  expect(t).toMatch(/fused engine, CETT products in float16 on cuda; 65,536 candidates, capped at q99 \(subsample stride max\(floor\(numel \/ 65536\), 1\) per batch and layer\); zero-output tokens not counted by this engine/);
  expect(t).toContain('fused → ort (device out of memory)');
  expect(t).toContain('means over the evaluation batches');
  const html = await render({ provenance: prov, checkpoint });
  expect(html).not.toMatch(/<h\d[^>]*>Provenance/); // the run page's section heading names it, once
});

test('a run made before provenance was recorded says so, with what the run row knows', async () => {
  const t = text(await render({ provenance: null, run: { appVersion: '0.1.0', ortVersion: '1.22.0', provider: 'cpu', dtype: 'float32' } }));
  expect(t).toContain('Not recorded: this run was made before runs recorded their provenance (app 0.1.0, onnxruntime 1.22.0, cpu / float32)');
});
