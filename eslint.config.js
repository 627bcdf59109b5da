// ESLint (flat config). Besides the usual TypeScript/Vue rules, it enforces the dependency direction of
// README.md, Layout: main/** never imports electron or the renderer; renderer/** imports only *types* from
// main/api/** and nothing else from main/.
import tseslint from 'typescript-eslint';
import pluginVue from 'eslint-plugin-vue';

export const mainBoundary = {
  '@typescript-eslint/no-restricted-imports': [
    'error',
    {
      paths: [{ name: 'electron', message: 'main/ is the engine: plain Node, no electron (README.md, Layout).' }],
      patterns: [
        { group: ['electron/*'], message: 'main/ is the engine: plain Node, no electron (README.md, Layout).' },
        { group: ['**/renderer', '**/renderer/**'], message: 'main/ must not import the renderer (README.md, Layout).' },
      ],
    },
  ],
};

export const rendererBoundary = {
  '@typescript-eslint/no-restricted-imports': [
    'error',
    {
      paths: [{ name: 'electron', message: 'The renderer talks to the engine only through the contract.' }],
      patterns: [
        {
          group: ['**/main/**', '!**/main/api', '!**/main/api/**'],
          message: 'The renderer may import only types from main/api (README.md, Layout).',
        },
        {
          group: ['**/main/api', '**/main/api/**'],
          allowTypeImports: true,
          message: 'The renderer may import only *types* from main/api: use `import type`.',
        },
      ],
    },
  ],
};

export const commonBoundary = {
  '@typescript-eslint/no-restricted-imports': [
    'error',
    {
      paths: [{ name: 'electron', message: 'common/ is pure code for main/ and the renderer: no electron.' }],
      patterns: [
        { group: ['**/main', '**/main/**', '**/renderer', '**/renderer/**', '**/electron/**'], message: 'common/ imports nothing from main/, renderer/ or electron/ (both sides import it).' },
        { group: ['node:*'], message: 'common/ runs in the renderer too: no Node built-ins.' },
      ],
    },
  ],
};

/** electron/ (the shell's main process and preload) reaches the engine only through the contract: main/api and common/
 * (pure helpers). engine-host.ts is the utilityProcess entry and the one file that imports the engine. */
export const electronBoundary = {
  '@typescript-eslint/no-restricted-imports': [
    'error',
    {
      patterns: [
        {
          group: ['**/main/**', '!**/main/api', '!**/main/api/**', '**/renderer', '**/renderer/**'],
          message: 'electron/ imports only main/api (the contract) and common/: the engine runs in the utilityProcess (electron/engine-host.ts), never in the main process.',
        },
        { group: ['onnxruntime-node', 'better-sqlite3', '@napi-rs/canvas'], message: 'Native engine modules never load in the Electron main process.' },
      ],
    },
  ],
};

/** mainBoundary plus patterns of one floor (flat config: the last block matching a file sets the rule for it); `ignores`: files it leaves out */
function floor(files, patterns, ignores) {
  const base = mainBoundary['@typescript-eslint/no-restricted-imports'][1];
  return { files, ...(ignores ? { ignores } : {}), rules: { '@typescript-eslint/no-restricted-imports': ['error', { ...base, patterns: [...base.patterns, ...patterns] }] } };
}

/** the import forms that reach main/<folder> from one or two floors below main/ */
const into = (folder) => [`../${folder}`, `../${folder}/*`, `../../${folder}`, `../../${folder}/*`, `**/main/${folder}/*`];

export default tseslint.config(
  {
    ignores: ['node_modules/**', 'dist/**', 'dist-bench/**', '.cache/**', 'dist-electron/**', 'release/**', 'test-artifacts/**', '.gpu*/**', 'tmp/**', 'tools/demo-lab/work/**', 'test/fixtures/lint/**', '**/*.py'],
  },
  ...tseslint.configs.recommended,
  ...pluginVue.configs['flat/recommended'],
  {
    files: ['**/*.vue'],
    languageOptions: { parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.vue'] } },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'vue/multi-word-component-names': 'off',
      'vue/max-attributes-per-line': 'off',
      'vue/singleline-html-element-content-newline': 'off',
      'vue/html-self-closing': 'off',
      'vue/html-indent': 'off',
      'vue/html-closing-bracket-newline': 'off',
      'vue/multiline-html-element-content-newline': 'off',
    },
  },
  { files: ['main/**/*.ts'], rules: mainBoundary },
  // floors: main/base is the ground floor (main/base/README.md, no '../' imports); the engine (main/engine) is the top
  // floor, reached only by server/, cli/ and electron/; reading checkpoints does not depend on the law fits
  floor(['main/base/**/*.ts'], [{ group: ['../*'], message: 'main/base imports nothing from the rest of main/ (main/base/README.md).' }]),
  floor(['main/{api,checkpoint,graph,inference,metrics,laws,store,jobs,charts,cluster}/**/*.ts'], [
    { group: ['../engine', '../engine/*', '../../engine', '../../engine/*', '**/main/engine/*'], message: 'main/engine is the top floor: only server/, cli/ and electron/ import it (what it holds that others need belongs in main/base).' },
  ]),
  floor(['main/checkpoint/**/*.ts'], [
    { group: ['../engine', '../engine/*', '../../engine', '../../engine/*', '**/main/engine/*'], message: 'main/engine is the top floor: only server/, cli/ and electron/ import it.' },
    { group: ['../laws', '../laws/*', '../../laws', '../../laws/*', '**/main/laws/*'], message: 'main/checkpoint does not depend on the law fits (shared helpers live in main/base).' },
    // reading checkpoints is below building graphs and running them: what both need (the .onnx FFN pattern match,
    // main/checkpoint/onnx-ffn.ts) lives here, the instrumenting and the graph worker up there. Its tests may cross.
    { group: ['graph', 'inference', 'metrics', 'jobs', 'store'].flatMap(into), message: 'main/checkpoint reads checkpoints: it imports nothing from main/graph, main/inference or the floors above them (they import it).' },
  ], ['main/checkpoint/**/*.test.ts']),
  floor(['main/store/**/*.ts'], [
    { group: ['../engine', '../engine/*', '../../engine', '../../engine/*', '**/main/engine/*'], message: 'main/engine is the top floor: only server/, cli/ and electron/ import it.' },
    { group: ['../jobs', '../jobs/*', '../../jobs', '../../jobs/*', '**/main/jobs/*'], message: 'main/store is below main/jobs (jobs persist into sessions: main/jobs/session-persistence.ts); shared helpers live in main/base.' },
  ]),
  { files: ['renderer/**/*.ts', 'renderer/**/*.vue'], rules: rendererBoundary },
  { files: ['electron/**/*.ts'], ignores: ['electron/engine-host.ts'], rules: electronBoundary },
  // common/: pure code both the engine and the renderer import (one implementation); it imports neither, nor electron
  { files: ['common/**/*.ts'], ignores: ['common/**/*.test.ts'], rules: commonBoundary },
);
