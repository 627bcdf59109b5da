// Where a verbose onnxruntime log (logSeverityLevel 0, bench `--ort log=0`) spends its time: the lines after the
// largest gaps between consecutive timestamps, with the line before each. Usage: node bench/gpu/gaps.mjs FILE [top]
import fs from 'node:fs';

const [file, topArg] = process.argv.slice(2);
const top = Number(topArg ?? 25);
const lines = fs.readFileSync(file, 'utf8').split('\n');
const stamp = /^(\d{4}-\d\d-\d\d) (\d\d):(\d\d):(\d\d(?:\.\d+)?)/;
let prev;
const gaps = [];
let first;
let last;
for (const line of lines) {
  const m = stamp.exec(line);
  if (!m) continue;
  const t = Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
  first ??= t;
  last = t;
  if (prev) gaps.push({ s: t - prev.t, before: prev.line.slice(0, 220), after: line.slice(0, 220) });
  prev = { t, line };
}
gaps.sort((a, b) => b.s - a.s);
console.log(`${lines.length} lines, ${gaps.length + 1} stamped, ${(last - first).toFixed(2)} s from first to last`);
for (const g of gaps.slice(0, top)) console.log(`${g.s.toFixed(3)} s\n   before: ${g.before}\n   after:  ${g.after}`);
