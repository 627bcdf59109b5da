/**
 * Demo lab, step 5: make the shipped session relocatable and re-measurable (issue 17).
 *
 *   node bin/run-ts tools/demo-lab/relocate_session.ts [--session resources/demo-lab/demo.sparsitylab] [--provider cpu]
 *
 * 1. Opens the session, which upgrades it to the current schema (checkpoints and texts keyed by content hash).
 * 2. Re-points every checkpoint whose content hash is that of a shipped model (resources/demo-lab/models/{relu,silu})
 *    at the shipped folder, and the evaluation text at eval.txt beside the session: paths relative to the session
 *    file, so the demo lab works from any install or clone. The other checkpoints (series steps, width-depth
 *    shapes under the git-ignored tools/demo-lab/work/) get their relative path too: they resolve in a checkout that
 *    regenerated them, and show as missing elsewhere (their stored results stay readable).
 * 3. Measures CETT-PPL-1% of each shipped model on 4,096 tokens with this engine, with full provenance, labelled
 *    "demo: re-measurable": a fresh copy can measure them again and must get the same numbers
 *    (test/integration/demo-lab.test.ts). Skipped when they are there already.
 * No retraining; about 15 s on a laptop CPU. The session is compacted (VACUUM) and written in place; a copy of the
 * original is kept in the system temp folder until the end and restored on failure.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Engine } from '../../main/engine/engine';
import type { JobFinishedEvent } from '../../main/api/domains/runs';
import { inspectCheckpoint } from '../../main/checkpoint/index';
import { fileHash } from '../../main/base/file-hash';
import { SessionStore } from '../../main/store/index';
import { REMEASURABLE_LABEL, remeasurableConfig } from './remeasurable';

/** The checkpoint hash before 2026-11-29: sha256 over (file name, bytes) of config.json then the weights. */
function legacySha256(dir: string): string {
  const h = crypto.createHash('sha256');
  for (const f of ['config.json', 'model.safetensors']) h.update(f).update(fs.readFileSync(path.join(dir, f)));
  return h.digest('hex');
}

async function main(): Promise<void> {
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
  const { values } = parseArgs({ options: { session: { type: 'string' }, provider: { type: 'string' } } });
  const file = path.resolve(values.session ?? path.join(root, 'resources/demo-lab/demo.sparsitylab'));
  const demoDir = path.dirname(file);
  const keep = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'demo-relocate-')), path.basename(file));
  fs.copyFileSync(file, keep);
  try {
    const s = SessionStore.open(file);
    if (s.notice) console.error(s.notice);
    // the shipped models by content: today's hash, and the sha256 scheme the session was built with (before the
    // checkpoint hash became lanes256 on 2026-11-29, main/checkpoint/hash.ts); a row recorded with the old scheme
    // gets today's hash for the same bytes, so re-pointing and resume checks compare like with like
    const shipped = new Map<string, { dir: string; hash: string }>();
    for (const m of ['relu', 'silu']) {
      const dir = path.join(demoDir, 'models', m);
      const hash = (await inspectCheckpoint(dir)).contentHash;
      shipped.set(hash, { dir, hash });
      shipped.set(legacySha256(dir), { dir, hash });
    }
    let moved = 0;
    for (const c of s.listCheckpoints()) {
      const to = c.contentHash ? shipped.get(c.contentHash) : undefined;
      if (to) {
        if (c.contentHash !== to.hash) s.db.prepare('UPDATE checkpoints SET content_hash=? WHERE id=?').run(to.hash, c.id);
        s.relocate('checkpoints', c.id, to.dir, to.hash);
        moved++;
      } else if (!c.relPath) {
        // checkpoints built under tools/demo-lab/work/ (git-ignored): relative to the session, for a regenerating checkout
        const i = (c.lastPath ?? c.path).indexOf('tools/demo-lab/work/');
        if (i >= 0) s.db.prepare('UPDATE checkpoints SET rel_path=? WHERE id=?').run(path.relative(demoDir, path.join(root, (c.lastPath ?? c.path).slice(i))).split(path.sep).join('/'), c.id);
      }
    }
    s.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('demo_relocated', ?)").run(`${new Date().toISOString()}: shipped models and eval.txt by relative path; their rows re-hashed with today's checkpoint hash (same bytes, verified with the sha256 scheme they were recorded with)`);
    const evalTxt = path.join(demoDir, 'eval.txt');
    for (const d of s.listDatasets()) if (path.basename(d.lastPath) === 'eval.txt' && d.hash === fileHash(evalTxt)) s.relocate('datasets', d.id, evalTxt, d.hash);
    const have = s.listRuns({ parentId: null }).filter((r) => r.label.startsWith(REMEASURABLE_LABEL));
    s.close();
    console.error(`relocate_session: ${moved} checkpoint rows point at the shipped models, the text at eval.txt`);

    if (have.length < 2) {
      const home = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-relocate-home-'));
      const e = new Engine({ paths: { userData: home, cache: path.join(home, 'cache') } });
      const done = new Map<string, JobFinishedEvent>();
      e.onEvent((ev, p) => ev === 'job.finished' && done.set((p as JobFinishedEvent).id, p as JobFinishedEvent));
      try {
        await e.invoke('sessions.open', { path: file });
        for (const model of ['relu', 'silu'] as const) {
          if (have.some((r) => r.label === `${REMEASURABLE_LABEL} ${model}`)) continue;
          const { id } = await e.invoke('runs.start', { config: remeasurableConfig(demoDir, model, (values.provider ?? 'cpu') as 'cpu') });
          while (!done.has(id)) await new Promise((r) => setTimeout(r, 50));
          const f = done.get(id)!;
          if (f.status !== 'completed') throw new Error(`measuring ${model}: ${f.error?.message}`);
          await e.invoke('sessions.updateRun', { id, label: `${REMEASURABLE_LABEL} ${model}`, notes: 'CETT-PPL-1% of the shipped model on the first 4,096 tokens of eval.txt; measure it again from a fresh copy: same numbers (test/integration/demo-lab.test.ts).' });
          const r = (f.result ?? {}) as Record<string, number>;
          console.error(`relocate_session: ${model}: CETT ${r.cett}, activation ${r.activationRatio}, PPL ratio ${r.pplRatio}`);
        }
        await e.invoke('sessions.close', {});
      } finally {
        await e.dispose();
        fs.rmSync(home, { recursive: true, force: true });
      }
    }
    const c = SessionStore.open(file);
    c.db.exec('VACUUM');
    c.close();
    for (const bak of fs.readdirSync(demoDir).filter((f) => f.startsWith(`${path.basename(file)}.v`) && f.endsWith('.bak'))) fs.rmSync(path.join(demoDir, bak));
    console.error(`relocate_session: wrote ${file} (${fs.statSync(file).size} bytes)`);
  } catch (err) {
    fs.copyFileSync(keep, file);
    throw err;
  } finally {
    fs.rmSync(path.dirname(keep), { recursive: true, force: true });
  }
}

await main();
