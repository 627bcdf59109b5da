#!/usr/bin/env bash
# Runs on the GPU machine (device `run`), from the repo root, with tools/demo-lab/work/gpu-data carried.
# Trains the named series in parallel (one process each: these models are launch-bound, so
# processes overlap well on one GPU), checks the final checkpoints with transformers, and packs
# everything into $OUT as <tag>.tar.part-NN (<= 15 MiB each; the device returns files <= 16 MiB).
# Usage: bash tools/demo-lab/gpu_train.sh <tag> <series> [<series> ...]
set -u
tag=$1; shift
data=tools/demo-lab/work/gpu-data
out=/tmp/demo-lab-out
rm -rf "$out"; mkdir -p "$out" "$OUT"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader
python3 -c 'import torch, transformers, safetensors; print("torch", torch.__version__, "transformers", transformers.__version__, "safetensors", safetensors.__version__)'
pids=()
for s in "$@"; do
  timeout "${DEMO_TIMEOUT:-420}" python3 tools/demo-lab/train.py --data "$data" --out "$out" --only "$s" --verify-hf \
    ${DEMO_ARGS:-} > "$out/log-$s.txt" 2>&1 &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
cat "$out"/log-*.txt | tee "$OUT/log-$tag.txt"
(cd "$out" && tar cf - checkpoints results-*.json log-*.txt) | split -b 15m -d - "$OUT/$tag.tar.part-"
ls -la "$OUT"
exit $rc
