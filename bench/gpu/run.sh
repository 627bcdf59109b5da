#!/usr/bin/env bash
# The benchmark on the GPU machine (after `source /opt/gpu/setup.sh`): builds the 0.1B-shape model there,
# runs our engine (bundled: dist-bench/bench.cjs) and the PyTorch reference on the same model and tokens.
# Usage: bash bench/gpu/run.sh <n-tokens> <outdir>
set -uo pipefail
N=${1:-262144}
OUT=${2:-/tmp/bench-out}
mkdir -p "$OUT" /tmp/bm
export NODE_PATH=/opt/gpu/node_modules PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
python3 bench/reference/make_model.py --out /tmp/bm/relu --act relu --n-tokens "$N" 2>&1 | tail -1
run() { local name=$1; shift; local t0=$(date +%s.%N); ( "$@" ) > "$OUT/$name.json" 2> "$OUT/$name.err"; echo "$name rc=$? $(echo "$(date +%s.%N) - $t0" | bc) s"; tail -c 400 "$OUT/$name.json"; echo; }
# peak GPU memory of each step (nvidia-smi sampled every 100 ms)
peak() { local name=$1; shift; nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$OUT/$name.mem" & local p=$!; run "$name" "$@"; kill $p; echo "$name peak MiB $(sort -n "$OUT/$name.mem" | tail -1)"; }
M=/tmp/bm/relu
COMMON=(--model $M --tokens $M/tokens.i32 --n-tokens "$N" --seq-len 1024 --batch 16)
peak ours-forward-cuda-fp16 node dist-bench/bench.cjs forward "${COMMON[@]}" --provider cuda --dtype float16
peak ref-forward-fp16 python3 bench/reference/sparsing_law_reference.py --model $M --tokens $M/tokens.npy --n-tokens "$N" --seq-len 1024 --batch 16 --dtype float16 --forward-only
peak ref-forward-bf16 python3 bench/reference/sparsing_law_reference.py --model $M --tokens $M/tokens.npy --n-tokens "$N" --seq-len 1024 --batch 16 --dtype bfloat16 --forward-only
peak ref-measure-bf16 python3 bench/reference/sparsing_law_reference.py --model $M --tokens $M/tokens.npy --n-tokens "$N" --seq-len 1024 --batch 16 --dtype bfloat16 --p 1 --tol 1e-3
peak ours-measure-cuda-fp16 timeout ${MEASURE_TIMEOUT:-240} node dist-bench/bench.cjs measure "${COMMON[@]}" --provider cuda --dtype float16 --p 1 --tol 1e-3
