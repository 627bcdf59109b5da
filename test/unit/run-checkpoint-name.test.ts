// A run's checkpoint has one name, the record's it was measured on, on its run page (SessionRun.checkpoint) and in the
// runs table (runrows.ts runCheckpointNames). The demo session holds two records of one content at one path
// (models/relu is a copy of relu-64x2/003000): named by path, the table called the re-measurable relu run "relu" while
// its page said "relu-64x2/003000".
import { expect, test } from 'vitest';
import path from 'node:path';
import { SessionStore } from '../../main/store/index';
import { runCheckpointNames } from '../../renderer/src/runrows';

test('the demo session: every run is named in the table as on its page, by the record it was measured on', () => {
  const s = SessionStore.open(path.resolve(__dirname, '../../resources/demo-lab/demo.sparsitylab'), { readOnly: true });
  try {
    const runs = s.listRuns({});
    const cks = s.listCheckpoints();
    const names = runCheckpointNames(runs, new Map(cks.map((c) => [c.id, c.path])));
    // the two records of one content at one path, each with its own name
    const relu = cks.filter((c) => c.path.endsWith(`${path.sep}models${path.sep}relu`));
    expect(new Set(relu.map((c) => c.contentHash)).size).toBe(1);
    expect(relu.map((c) => c.name).sort()).toEqual(['relu', 'relu-64x2/003000']);
    const remeasurable = runs.find((r) => r.label === 'demo: re-measurable relu')!;
    expect(names.get(remeasurable.checkpointId!)).toBe('relu-64x2/003000');
    // the demo's records have distinct names: the table says what each page says
    for (const r of runs) if (r.checkpointId !== null) expect(names.get(r.checkpointId), r.id).toBe(r.checkpoint);
  } finally {
    s.close();
  }
});

test('records of different checkpoints that share a name are told apart by their paths; one place keeps one name', () => {
  const runs = [
    { checkpointId: 1, checkpoint: 'ckpt/003000' },
    { checkpointId: 2, checkpoint: 'ckpt/003000' },
    { checkpointId: 3, checkpoint: 'relu' },
    { checkpointId: 4, checkpoint: 'relu' },
    { checkpointId: null, checkpoint: null },
  ];
  const paths = new Map([
    [1, '/data/model-A/ckpt/003000'],
    [2, '/data/model-B/ckpt/003000'],
    [3, '/lab/models/relu'],
    [4, '/lab/models/relu'], // another content at the same place (the file changed): the same name
  ]);
  const names = runCheckpointNames(runs, paths);
  expect(names.get(1)).toBe('model-A/ckpt/003000');
  expect(names.get(2)).toBe('model-B/ckpt/003000');
  expect(names.get(3)).toBe('relu');
  expect(names.get(4)).toBe('relu');
  expect(names.size).toBe(4);
});
