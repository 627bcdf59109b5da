#!/usr/bin/env node
// Did the ETA hold? Reads the PROGRESS lines `bench measure --progress 1` writes on stderr (one JSON per step: t =
// seconds since the measurement started, phase, step, of, etaSec = the phase's remaining seconds as estimated then)
// and, per phase, compares each estimate with when the phase really ended. A run cut short (time limit) is reported
// as how far it got and what its last estimate said.
//   node bench/gpu/eta.mjs <stderr file>
import fs from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node bench/gpu/eta.mjs <stderr file with PROGRESS lines>');
  process.exit(2);
}
let text;
try {
  text = fs.readFileSync(file, 'utf8');
} catch (e) {
  console.error(`${file}: cannot read (${e.message})`);
  process.exit(2);
}
const rows = [];
for (const line of text.split('\n')) {
  const i = line.indexOf('PROGRESS ');
  if (i < 0) continue;
  try {
    const r = JSON.parse(line.slice(i + 9));
    if (typeof r.t === 'number' && typeof r.phase === 'string') rows.push(r);
  } catch {
    /* a line cut by the kill: skip it */
  }
}
if (!rows.length) {
  console.log(`${file}: no PROGRESS lines (did the run start the measurement?)`);
  process.exit(0);
}
// phases in order of appearance; a phase ends where its last step is reached or the next phase starts
const phases = [];
for (const r of rows) {
  let ph = phases.at(-1);
  if (!ph || ph.name !== r.phase) phases.push((ph = { name: r.phase, rows: [], end: null }));
  ph.rows.push(r);
  if (r.step >= r.of && ph.end === null) ph.end = r.t;
}
phases.forEach((ph, i) => {
  if (ph.end === null && i + 1 < phases.length) ph.end = phases[i + 1].rows[0].t;
});
const pct = (x) => `${(100 * x).toFixed(0)}%`;
for (const ph of phases) {
  const start = ph.rows[0].t;
  const last = ph.rows.at(-1);
  const ests = ph.rows.filter((r) => r.etaSec !== null && r.etaSec !== undefined && r.step < r.of);
  if (ph.end === null) {
    const proj = last.etaSec != null ? last.t + last.etaSec : null;
    console.log(`phase ${ph.name}: NOT FINISHED at ${last.t.toFixed(1)} s, step ${last.step}/${last.of}; last ETA ${last.etaSec != null ? `${last.etaSec.toFixed(0)} s → phase end at ~${proj.toFixed(0)} s` : 'none yet'}`);
    continue;
  }
  const errs = ests.map((r) => ({ step: r.step, of: r.of, predicted: r.t + r.etaSec, rel: (r.t + r.etaSec - ph.end) / Math.max(1e-9, ph.end - r.t) }));
  const abs = errs.map((e) => Math.abs(e.rel)).sort((a, b) => a - b);
  const med = abs.length ? abs[Math.floor(abs.length / 2)] : null;
  // the estimate given once a quarter of the phase's steps were done: what a user waiting would have read
  const q = errs.find((e) => e.step / e.of >= 0.25);
  console.log(
    `phase ${ph.name}: ${(ph.end - start).toFixed(1)} s, ${last.of} steps; ${errs.length} ETAs, median |error| ${med === null ? '—' : pct(med)} of the time left, worst ${abs.length ? pct(abs.at(-1)) : '—'}` +
      (q ? `; at ${q.step}/${q.of} it said the phase ends at ${q.predicted.toFixed(0)} s (ended ${ph.end.toFixed(0)} s)` : ''),
  );
}
const endAll = phases.at(-1).end;
console.log(endAll === null ? `run NOT FINISHED: last progress at ${rows.at(-1).t.toFixed(1)} s` : `run: last phase ended at ${endAll.toFixed(1)} s`);
