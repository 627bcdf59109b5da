#!/usr/bin/env node
// One streamed measure's report (bench/gpu/run.sh streamed-measure): the plan, wall and phases, block sessions
// (created / time creating / hidden behind the other host's runs), block runs split into each session's FIRST run and
// its later runs (search blocks and forward blocks apart), bytes copied between host and device inside the runs, peak
// GPU memory (nvidia-smi samples), and the answer against the whole graph's (issue 15: CETT 0.253418, A 18.158%,
// PPL ratio 1.01025 for the 7B at 16,384 tokens; pass WANT=cett,A,ppl to check another).
//   node bench/gpu/stream-report.mjs <name> <measure JSON file> <nvidia-smi samples file> [whole-graph seconds]
import fs from 'node:fs';

const [name, jsonFile, memFile, wholeArg] = process.argv.slice(2);
if (!name || !jsonFile) {
  console.error('usage: node bench/gpu/stream-report.mjs <name> <measure JSON> <nvidia-smi samples> [whole-graph seconds]');
  process.exit(2);
}
const whole = Number(wholeArg ?? 34.0);
const [wc, wa, wp] = (process.env.WANT ?? '0.253418,0.18158,1.01025').split(',').map(Number);
let j;
try {
  j = JSON.parse(fs.readFileSync(jsonFile, 'utf8').trim().split('\n').pop());
} catch (e) {
  console.log(`REPORT ${name}: no measure JSON (${e.message.split('\n')[0]}): cut short or failed, see its .err`);
  process.exit(0);
}
let peak = "n/a";
try {
  const xs = fs.readFileSync(memFile, "utf8").trim().split("\n").filter((l) => l.trim()).map(Number).filter(Number.isFinite);
  if (xs.length) peak = Math.max(...xs);
} catch {
  /* no samples */
}
const s = (ms) => (ms / 1000).toFixed(1);
const ex = j.execution ?? {};
const sp = ex.search;
const t = j.timingsMs ?? {};
const st = j.streamStats;
const out = [];
out.push(`REPORT ${name}`);
out.push(`  plan: forward ${ex.blocks?.length} block(s) [${(ex.blocks ?? []).map((b) => b.join('-')).join(' ')}], ${ex.weightInputs ? `WEIGHTS AS INPUTS (${ex.residentBlocks} session(s): one per block shape)` : `${ex.residentBlocks} resident`}, chunk ${ex.chunkSeqs} seq${ex.overlap ? ', overlap' : ''}; search ${sp ? `${sp.blocks.length} block(s) of ${sp.blocks[0][1] - sp.blocks[0][0]}, ${sp.residentBlocks} resident, chunk ${sp.chunkTokens || 'all'} tokens${sp.overlap ? ', OVERLAP' : ''}${sp.weightInputs ? ', WEIGHTS AS INPUTS (one session per block shape)' : ''}, planned ${(sp.peakBytes / 2 ** 20).toFixed(0)} MiB` : 'none (host curves)'}; budget ${(ex.budgetBytes / 2 ** 20).toFixed(0)} MiB`);
out.push(`  wall ${j.wallSeconds.toFixed(1)} s = ${((100 * whole) / j.wallSeconds).toFixed(0)}% of the whole graph's speed (${whole} s; target >= 40%, wall <= ${(whole / 0.4).toFixed(1)} s: ${j.wallSeconds <= whole / 0.4 ? 'MET' : 'MISSED'}): dense ${s(t.dense)}, search ${s(t.search)}, final ${s(t.final)}`);
if (st) {
  out.push(`  sessions ${st.sessionLoads}, creating ${s(st.createMs.local + st.createMs.remote)} s (local ${s(st.createMs.local)}, remote ${s(st.createMs.remote)}), hidden ${s(st.createHiddenMs)} s, runs ${s(st.runMs)} s in ${st.calls} calls, overlap ${st.overlap}`);
  for (const f of ['search', 'forward']) {
    const x = st[f];
    if (!x) continue;
    const r = (q) => `${q.n} x mean ${q.meanMs} ms (max ${q.maxMs}) = ${s(q.ms)} s`;
    out.push(`  ${f} blocks: created ${r(x.creates)}; FIRST runs ${r(x.firstRuns)}; later runs ${r(x.laterRuns)}; host<->device ${x.ioGB} GB in the runs`);
  }
  // weights fed as inputs: the checkpoint reads (beside the runs) and the time the passes waited for them
  const w = st.weights;
  const runs = (q) => (q ? `${q.n} x mean ${q.meanMs} ms (max ${q.maxMs}) = ${s(q.ms)} s` : 'n/a');
  if (w) {
    out.push(`  weights as inputs: ${w.loads} block reads, ${w.GB} GB, reads ${s(w.readMs)} s wall (beside the runs), waited ${s(w.waitMs)} s for them, ${((w.convertedBytes ?? 0) / 1e9).toFixed(2)} GB converted on the engine's thread (0 unless a tensor is neither in place nor in the graph cache)${w.forward ? ` (forward's own reader: ${w.forward.loads} reads, ${w.forward.GB} GB, waited ${s(w.forward.waitMs)} s)` : ''}`);
    out.push(`  block runs fed their weights (the copy of each block's weights to the device inside): search ${runs(w.searchRuns ?? w.blockRuns)}; forward ${runs(w.forwardRuns)}`);
  }
}
const ok = Math.abs(j.cett - wc) < 5e-6 && Math.abs(j.activationRatio - wa) < 5e-6 && Math.abs(j.pplRatio - wp) < 5e-6;
out.push(`  peak ${peak} MiB (cap ${ex.capBytes ? `${(ex.capBytes / 2 ** 20).toFixed(0)}: ${typeof peak === 'number' && peak < ex.capBytes / 2 ** 20 ? 'under' : 'NOT UNDER'}` : 'none'}); CETT ${j.cett}, A ${(100 * j.activationRatio).toFixed(3)}%, PPL ratio ${j.pplRatio.toFixed(5)}: ${ok ? 'the whole graph\'s answer' : `DIFFERS from the whole graph's (${wc}, ${wa}, ${wp})`}`);
if (j.fallbackReasons?.length) out.push(`  fallbacks: ${j.fallbackReasons.join('; ')}`);
console.log(out.join('\n'));
