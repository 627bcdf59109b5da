#!/usr/bin/env bash
# Demo lab, step 4: measure every demo series with THIS app's engine (through the CLI) and build
# resources/demo-lab/demo.sparsitylab.
#
# Ran on 2026-11-28 (CPU, about 20 minutes) to produce the shipped session: every run is recorded in the
# session file by `--session`. Series fits and the width-depth fit are not stored: the charts compute
# them from the runs with main/laws each time they are drawn.
# DEMO_SESSION=<file> writes elsewhere (for a trial run); default resources/demo-lab/demo.sparsitylab.
#
# Needs the checkpoints under tools/demo-lab/work/checkpoints/ (tools/demo-lab/README.md says how
# to regenerate them). Run from anywhere:  bash tools/demo-lab/build_session.sh [--provider cpu|cuda|webgpu]
set -euo pipefail
cd "$(dirname "$0")/../.."
CK=tools/demo-lab/work/checkpoints
M=tools/demo-lab/work/measure
DATA=resources/demo-lab/eval.txt
SESSION=${DEMO_SESSION:-resources/demo-lab/demo.sparsitylab}
PROVIDER=auto
if [ "${1:-}" = "--provider" ]; then PROVIDER=${2:?--provider needs a value}; fi
# Eval tokens per measurement: 256-token sequences (the models' context), 64 of them.
COMMON=(--data "$DATA" --seq-len 256 --tokens 16384 --batch 16 --provider "$PROVIDER" --session "$SESSION" --json --quiet)
[ -d "$CK" ] || { echo "build_session: $CK is missing; train the models first (tools/demo-lab/README.md)" >&2; exit 1; }
mkdir -p "$M"

# 1. A list file per series, "path,tokensSeen" per line, tokens read from each config.json.
list() {
  python3 - "$CK/$1" <<'EOF'
import json, os, sys
d = sys.argv[1]
for s in sorted(x for x in os.listdir(d) if os.path.isfile(os.path.join(d, x, "config.json"))):
    c = json.load(open(os.path.join(d, s, "config.json")))
    print(f"{os.path.abspath(os.path.join(d, s))},{c['demo_lab']['tokens_seen']}")
EOF
}

# 2. CETT-PPL-1% with the stabilising strategy (one CETT from the last 5 checkpoints, applied to all 8;
#    Sparsing Law, arXiv 2411.02335, App. E) for the six ReLU/SiLU series.
for s in relu-64x2 relu-96x3 relu-128x4 silu-64x2 silu-96x3 silu-128x4; do
  list "$s" > "$M/$s.list"
  echo "measure-series $s $(date +%T)" >&2
  bin/sparsity-lab measure-series "$M/$s.list" --p 1 --last-k 5 "${COMMON[@]}" > "$M/$s.json"
done

# 3. Width-depth series (ReLU, same non-embedding budget): CETT-PPL-1% of each final checkpoint.
for s in wd-relu-48x12 wd-relu-64x7 wd-relu-80x4 wd-relu-96x3 wd-relu-160x1; do
  echo "measure $s" >&2
  bin/sparsity-lab measure "$CK/$s/003000" --p 1 "${COMMON[@]}" > "$M/$s.json"
done

# 4. Baselines on one model (the shipped ReLU one): exact zeros, Top-k sweep, FAT-eps sweep, CETT sweep.
R=resources/demo-lab/models/relu
bin/sparsity-lab measure "$R" --method relu "${COMMON[@]}" > "$M/baseline-relu.json"
bin/sparsity-lab measure "$R" --method topk-token --sweep 0.05,0.1,0.2,0.3,0.5,0.7 "${COMMON[@]}" > "$M/baseline-topk.json"
bin/sparsity-lab measure "$R" --method fat --sweep 0.001,0.01,0.05,0.1,0.2 "${COMMON[@]}" > "$M/baseline-fat.json"
bin/sparsity-lab measure "$R" --sweep 0.01,0.05,0.1,0.2,0.3 "${COMMON[@]}" > "$M/baseline-cett.json"

# 5. Relocatable and re-measurable (issue 17): the shipped models and eval.txt by path relative to the session, and
#    CETT-PPL-1% of each shipped model on 4,096 tokens with full provenance (tools/demo-lab/relocate_session.ts).
node bin/run-ts tools/demo-lab/relocate_session.ts --session "$SESSION" --provider "$([ "$PROVIDER" = auto ] && echo cpu || echo "$PROVIDER")"

# 6. List what was recorded. (Fits: computed by the charts from these runs.)
bin/sparsity-lab runs "$SESSION" > "$M/runs.txt"
echo "build_session: runs recorded in $SESSION (list: $M/runs.txt); the charts fit each series from these runs (main/laws)" >&2
