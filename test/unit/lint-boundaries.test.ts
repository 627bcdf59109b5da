// The dependency direction (README.md, Layout) is enforced by ESLint; prove the rule catches violations
// (and lets the allowed forms through) by linting snippets as if they lived in main/ and renderer/.
import { expect, test } from 'vitest';
import path from 'node:path';
import { ESLint } from 'eslint';

const root = path.resolve(__dirname, '../..');
const eslint = new ESLint({ cwd: root });

async function violations(file: string, code: string): Promise<string[]> {
  const [res] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return res.messages.filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => m.message);
}

test('main/ may not import electron or the renderer', async () => {
  expect(await violations('main/engine/x.ts', "import { app } from 'electron';\nexport const a = app;\n")).toHaveLength(1);
  expect(await violations('main/store/x.ts', "import { x } from '../../renderer/src/thing';\nexport const a = x;\n")).toHaveLength(1);
  expect(await violations('main/store/x.ts', "import { z } from 'zod';\nexport const a = z;\n")).toHaveLength(0);
});

test('renderer/ may import only types from main/api', async () => {
  expect(await violations('renderer/src/x.ts', "import { Engine } from '../../main/engine/engine';\nexport const a = Engine;\n")).toHaveLength(1);
  expect(await violations('renderer/src/x.ts', "import type { Engine } from '../../main/engine/engine';\nexport type A = Engine;\n")).toHaveLength(1);
  expect(await violations('renderer/src/x.ts', "import { requestSchemas } from '../../main/api/contract';\nexport const a = requestSchemas;\n")).toHaveLength(1);
  expect(await violations('renderer/src/x.ts', "import type { EngineInfo } from '../../main/api/contract';\nexport type A = EngineInfo;\n")).toHaveLength(0);
  expect(await violations('renderer/src/x.ts', "import { ipcRenderer } from 'electron';\nexport const a = ipcRenderer;\n")).toHaveLength(1);
});

test('common/ is imported by both sides and imports neither', async () => {
  expect(await violations('renderer/src/x.ts', "import { parseCheckpointName } from '../../common/naming';\nexport const a = parseCheckpointName;\n")).toHaveLength(0);
  expect(await violations('main/cli/x.ts', "import { parseCheckpointName } from '../../common/naming';\nexport const a = parseCheckpointName;\n")).toHaveLength(0);
  expect(await violations('common/x.ts', "import { Engine } from '../main/engine/engine';\nexport const a = Engine;\n")).toHaveLength(1);
  expect(await violations('common/x.ts', "import { x } from '../renderer/src/thing';\nexport const a = x;\n")).toHaveLength(1);
  expect(await violations('common/x.ts', "import fs from 'node:fs';\nexport const a = fs;\n")).toHaveLength(1);
  expect(await violations('common/x.ts', "import { hydrate } from './chart-runtime';\nexport const a = hydrate;\n")).toHaveLength(0);
});

test('floors: main/base imports nothing of main/; only the top floors import main/engine; checkpoint/ not laws/', async () => {
  expect(await violations('main/base/x.ts', "import { SessionStore } from '../store/index';\nexport const a = SessionStore;\n")).toHaveLength(1);
  expect(await violations('main/base/x.ts', "import { appRoot } from './resources';\nexport const a = appRoot;\n")).toHaveLength(0);
  expect(await violations('main/store/x.ts', "import { APP_VERSION } from '../engine/version';\nexport const a = APP_VERSION;\n")).toHaveLength(1);
  expect(await violations('main/store/x.ts', "import { APP_VERSION } from '../base/version';\nexport const a = APP_VERSION;\n")).toHaveLength(0);
  expect(await violations('main/checkpoint/testing/x.ts', "import { mulberry32 } from '../../laws/rng';\nexport const a = mulberry32;\n")).toHaveLength(1);
  expect(await violations('main/checkpoint/testing/x.ts', "import { mulberry32 } from '../../base/rng';\nexport const a = mulberry32;\n")).toHaveLength(0);
  expect(await violations('main/cli/x.ts', "import { Engine } from '../engine/engine';\nexport const a = Engine;\n")).toHaveLength(0);
});

test('floors: main/store is below main/jobs (the jobs persist into sessions, not the other way)', async () => {
  expect(await violations('main/store/x.ts', "import { JsonFilePersistence } from '../jobs/persistence';\nexport const a = JsonFilePersistence;\n")).toHaveLength(1);
  expect(await violations('main/store/x.ts', "import { APP_VERSION } from '../engine/version';\nexport const a = APP_VERSION;\n")).toHaveLength(1);
  expect(await violations('main/store/x.ts', "import { fileHash } from '../base/file-hash';\nexport const a = fileHash;\n")).toHaveLength(0);
  expect(await violations('main/jobs/x.ts', "import { SessionStore } from '../store/session';\nexport const a = SessionStore;\n")).toHaveLength(0);
});

test('floors: main/checkpoint is below main/graph and main/inference (graphs are built from checkpoints)', async () => {
  expect(await violations('main/checkpoint/x.ts', "import { instrumentOnnx } from '../graph/instrument-onnx';\nexport const a = instrumentOnnx;\n")).toHaveLength(1);
  expect(await violations('main/checkpoint/x.ts', "import type { InstrumentOptions } from '../graph/instrument-onnx';\nexport type A = InstrumentOptions;\n")).toHaveLength(1);
  expect(await violations('main/checkpoint/adapters/x.ts', "import { GraphBuilder } from '../../graph/onnx-builder';\nexport const a = GraphBuilder;\n")).toHaveLength(1);
  expect(await violations('main/checkpoint/x.ts', "import { createRunner } from '../inference/index';\nexport const a = createRunner;\n")).toHaveLength(1);
  // the engine and law-fit rules of the same floor still hold
  expect(await violations('main/checkpoint/x.ts', "import { mulberry32 } from '../laws/rng';\nexport const a = mulberry32;\n")).toHaveLength(1);
  expect(await violations('main/checkpoint/x.ts', "import { findFfnBlocks } from './onnx-ffn';\nexport const a = findFfnBlocks;\n")).toHaveLength(0);
  expect(await violations('main/graph/x.ts', "import { findFfnBlocks } from '../checkpoint/onnx-ffn';\nexport const a = findFfnBlocks;\n")).toHaveLength(0);
  // tests beside the reader may build graphs to read (main/checkpoint/onnx.test.ts writes its .onnx files with GraphBuilder)
  expect(await violations('main/checkpoint/x.test.ts', "import { GraphBuilder } from '../graph/onnx-builder';\nexport const a = GraphBuilder;\n")).toHaveLength(0);
});
