#!/usr/bin/env bash
# Issue 10's benchmark on the GPU machine (after `source /opt/gpu/setup.sh`), in phases so each call stays under the
# device tool's 10-minute limit; /tmp/bm survives between calls while the machine is held.
#   bash bench/gpu/run.sh prep  <n-tokens> <outdir>   model (0.1B shape, relu + silu) and tokens
#   bash bench/gpu/run.sh check <n-tokens> <outdir>   issue 3: per-token NLL vs transformers; matmul floor; profile of one search call
#   bash bench/gpu/run.sh saved  <n-tokens> <outdir>  issue 3: tiny checkpoints written by transformers' save_pretrained (bf16) + its NLL
#   bash bench/gpu/run.sh indep 0 <outdir>    issue 17: independent references (tools/gpu-check/independent_refs.py), test/fixtures/independent
#   bash bench/gpu/run.sh webgpu <n-tokens> <outdir>  WebGPU: forward profile by operator/provider, CETT-PPL-1% at 16k tokens (ort and fused curves)
#   bash bench/gpu/run.sh check3 <n-tokens> <outdir>  issue 3 alone: the NLL matrix (ours cpu/cuda/fused/plain, torch fp64/fp32/fp16), PyTorch ONNX exports
#   bash bench/gpu/run.sh ours-cuda  <n-tokens> <outdir>  our forward and CETT-PPL-1% on CUDA (relu, silu)
#   bash bench/gpu/run.sh ours-small <n-tokens> <outdir>  CETT-PPL-1% on CUDA, relu and silu, at this token count
#   bash bench/gpu/run.sh ours-other <n-tokens> <outdir>  the same on WebGPU and CPU (fixed small token counts: slower providers)
#   bash bench/gpu/run.sh ref   <n-tokens> <outdir> <dtype> [act]   the PyTorch reference
#   bash bench/gpu/run.sh i16prof <n-tokens> <outdir>  issue 16: the fused search's tuning variants at 16k tokens (ms per
#        bisection level, peak memory); picks the one for i16run (cheapest estimated call with peak ≤ 7,600 MiB)   ~2.5 min
#   bash bench/gpu/run.sh i16run  <n-tokens> <outdir>  issue 16: CETT-PPL-1% relu + silu at n-tokens with the picked tuning  ~3 min at 1M
#   bash bench/gpu/run.sh i16webgpu <n> <outdir>       issue 16: CETT-PPL-1% on WebGPU, 65,536 tokens, picked tuning  ~2 min
#   bash bench/gpu/run.sh i16b <n-tokens> <outdir>    issue 16 second pass: 4 tunings at 16k (grid without all-layer N, a·mask),
#        the per-operator profile of the pick, ReLU CETT-PPL-1% at n-tokens with it   ~3.5 min at 1M
#   bash bench/gpu/run.sh i16cpu  <n> <outdir>         issue 16: the CPU search's phases (bench cpusearch; SWEEP lines: the curve's sweep per
#        back end and under V8 tier flags), then CETT-PPL-1% on the 16 CPU cores at 16,384 tokens with PROGRESS lines: default
#        engine (the curve, cut at 150 s), ORT probe (cut at 60 s; I16CPU_ORT_LIMIT=1 skips it)  ≤ 5 min; I16CPU_PROF=0 skips
#        cpusearch, I16CPU_RUNS="ov1 ov0 ops" measures the curve beside the next dense forward (inference worker) and after it,
#        and profiles the CPU graphs by operator
#   bash bench/gpu/run.sh kernels 0 <outdir>     issue 16: one bisection level's kernels by formulation (bench/kernels.ts)  ~2 min
#   bash bench/gpu/run.sh opsprof 0 <outdir>     issue 16: per-operator profile of one 0.1B search call (after prep)  ~1.5 min
#   bash bench/gpu/run.sh big-prep 0 <outdir>               issue 15: 7B and 2.4B checkpoints (fp16 shards, random init on the GPU), ~3 min
#   bash bench/gpu/run.sh big     <n-tokens> <outdir> [m]   issue 15: ours, open cold/warm + host RSS + forward, CETT-PPL-1% at n (16384), ~5 min
#   bash bench/gpu/run.sh big-ref <n-tokens> <outdir> [m]   issue 15: the PyTorch reference on the same (fp16), ~5 min; m = big7b|big24 for one model
#   bash bench/gpu/run.sh streamed-cap 0 <outdir>           issue 15: 7B forward under 16 and 24 GiB caps with the per-session arena plan, ~2 min
#   bash bench/gpu/run.sh streamed <n-tokens> <outdir>      issue 15: 7B streamed under a 16 GiB device-memory cap vs the whole graph (forward
#                                                           tokens/s and peak), CETT-PPL-1% at n (16384) streamed vs whole on the ORT curves, ≤ 9.7 min (timeouts)
#   bash bench/gpu/run.sh cpu1b <n-tokens> <outdir>         issue 15: a 1.1B fp32 LLaMA (built here, ~1 min) measured CETT-PPL-1% at n (16384)
#                                                           on the 16 CPU cores with progress/ETA lines; cut at 470 s (prints how far it got), ≤ 9.5 min
#   bash bench/gpu/run.sh streamed-measure <n> <outdir> [caps]  issue 15: 7B CETT-PPL-1% at n (16384) streamed under --device-memory
#                                                           24 and 16 (default, 280 s each; one cap per call gets 560 s) with the block-wise search, peak sampled;
#                                                           SM_OVERLAP="1 0" runs each cap with and without the paged blocks' overlap;
#                                                           SM_CONFIGS="name|cap|seconds|flags;…" runs those configurations instead
#   bash bench/gpu/run.sh streamed-15 <n> <outdir>          issue 15: the 7B at n (16384) in three configurations, one call ≤ 9.5 min: the
#                                                           whole graph, 16 GiB with the forward and search blocks' weights fed as inputs, 16 GiB with a session per paged block;
#                                                           REPORT blocks (bench/gpu/stream-report.mjs) also in <outdir>/streamed-report.txt
#   bash bench/gpu/run.sh streamed-fwd15 0 <outdir>        issue 15: the 7B's streamed forward under 16 GiB, blocks fed as inputs vs a session per
#                                                           paged block vs the whole graph (FWD lines, also <outdir>/streamed-fwd15-report.txt), ~4 min
#   bash bench/gpu/run.sh s7b <n> <outdir> [cs]             issue 15: 7B at fixed CETT values (cs, default 0.265625,0.253418) ours
#                                                           and the reference; session timings under onnxruntime settings; verbose-log gaps, ~4 min
#   bash bench/gpu/run.sh estimate 0 <outdir>              issue 18: the pilot estimate (runs.estimate) against the run it estimates, wall
#                                                           clock: CUDA (fused search) on a 768x12 LLaMA at 65k and 262k tokens, the 16 CPU
#                                                           cores on a 256x4 at 16k; prints estimateSeconds/actualSeconds/errorPct, ~5 min
#   bash bench/gpu/run.sh m7bw <n> <outdir>                issue 19: the 7B's CETT-PPL-1% with the runner in the inference worker (CUDA in a worker thread)
#   bash bench/gpu/run.sh wgw <n> <outdir>                 issue 19: WebGPU in the inference worker vs on the engine's thread (0.1B ReLU, after bg-build relu)
#   bash bench/gpu/run.sh curve1b <n> <outdir>              the CPU CETT curve's sweep at the 1B shape per blocking (bench curvesweep, n tokens, 0 = 4096), ~3 min
#   bash bench/gpu/run.sh same32 <n> <outdir> [models]      issue 15: the same fp32 checkpoint, CETT-PPL-1% ours and the reference in fp32
#                                                           (no fp16 rounding to branch on); models big24 (default) and/or big7b, built here
#   bash bench/gpu/run.sh bg <name> <outdir> <phase> <n> [arg]  runs another phase in the background (setsid, survives the call; its
#                                                           output in /tmp/bm/bgout-<name>); BG_NICE=10 lowers its CPU priority. For jobs
#                                                           longer than one 10-minute call: the reference at 65,536 tokens of the 7B, cpu1b at 16k
#   bash bench/gpu/run.sh bgwait <max-seconds> <outdir> <names…>  waits for those background jobs (prints their live lines every 60 s),
#                                                           copies their outputs to outdir; a job still running is reported as such
#   bash bench/gpu/run.sh big-ref … with REF_LIMIT (default 400 s per measure) and REF_FWD=0 (skip the forward-only timing)
# Needs dist-bench/bench.cjs (node scripts/build-bench.mjs here). Everything a phase prints also goes to
# <outdir>/<phase>.txt (the device tool brings back only a few files).
set -uo pipefail
PHASE=$1
N=${2:-1048576}
OUT=${3:-/tmp/bench-out}
mkdir -p "$OUT" /tmp/bm
export NODE_PATH=/opt/gpu/node_modules PYTHONUNBUFFERED=1
exec > >(tee -a "$OUT/$PHASE.txt") 2>&1
peak() { # name cmd… : runs cmd with nvidia-smi sampling every 100 ms, prints wall time, peak MiB and the JSON line
  local name=$1; shift
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "/tmp/bm/$name.mem" & local p=$!
  local t0; t0=$(date +%s%N)
  ( "$@" ) > "/tmp/bm/$name.json" 2> "/tmp/bm/$name.err"; local rc=$?
  local t1; t1=$(date +%s%N)
  kill $p 2>/dev/null; wait $p 2>/dev/null
  echo "== $name rc=$rc wall=$(( (t1 - t0) / 1000000 )) ms peakMiB=$(sort -n "/tmp/bm/$name.mem" | tail -1)"
  grep -v '^$' "/tmp/bm/$name.json" | tail -c 3000; echo
  [ $rc -ne 0 ] && grep -v "Vulkan\|dawn\|Removing initializer" "/tmp/bm/$name.err" | tail -c 1500
}
# the pick: least estimated time per call (the fixed cost + 11 levels, the mean levels per call at 1M tokens) among
# the variants whose peak stayed ≤ 7,600 MiB, else the one with the least peak
pick16() { # prefix maxMiB: least estimated time per call among the profiled tunings under the memory cap, else least peak
node -e '
  const fs = require("fs"); const rows = [];
  for (const f of fs.readdirSync("/tmp/bm").filter((f) => f.startsWith(process.argv[1]) && f.endsWith(".json"))) {
    const line = fs.readFileSync("/tmp/bm/" + f, "utf8").trim().split("\n").pop(); let j; try { j = JSON.parse(line); } catch { continue; }
    const mem = fs.readFileSync("/tmp/bm/" + f.replace(/json$/, "mem"), "utf8").trim().split("\n").map(Number);
    const t = j.tuning; rows.push({ spec: `levels=${t.levels},chunk=${t.chunkTokens},nin=${t.nInLoop ? 1 : 0},m16=${t.mask16 ? 1 : 0},mul=${t.mulMask ? 1 : 0}`, callMs: (j.searchCall0Ms + j.searchCall0AgainMs) / 2 + 11 * j.perLevelMs, perLevelMs: j.perLevelMs, peakMiB: Math.max(...mem) });
  }
  rows.sort((a, b) => a.callMs - b.callMs); console.table(rows);
  const ok = rows.filter((r) => r.peakMiB <= Number(process.argv[2])); const pick = ok.length ? ok[0] : rows.sort((a, b) => a.peakMiB - b.peakMiB)[0];
  console.log("PICK " + pick.spec); fs.writeFileSync("/tmp/bm/i16.pick", pick.spec);' "$1" "$2"
}
# waits (≤ 6 min) for a model bg-build is making; nothing to wait for when bg-build did not run
ready() {
  grep -qw "$1" /tmp/bm/bg-started 2>/dev/null || return 0  # not among the models bg-build is making
  for _ in $(seq 360); do [ -f /tmp/bm/$1.ready ] && { echo "$1 ready"; return 0; }; sleep 1; done
  echo "$1 NOT ready after 6 min"; tail -3 /tmp/bm/bg-*.log
}
M=/tmp/bm/relu
COMMON=(--tokens $M/tokens.i32 --n-tokens "$N" --seq-len 1024 --batch 16)
case $PHASE in
prep)
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  nproc; free -g | head -2
  for act in relu silu; do python3 bench/reference/make_model.py --out /tmp/bm/$act --act $act --n-tokens "$N" 2>&1 | tail -1; done
  ;;
check)
  node dist-bench/bench.cjs dump-nll /tmp/bm/gpucheck --provider cuda 2>&1 | grep -v "Vulkan\|dawn\|Removing initializer" | tail -3
  python3 tools/gpu-check/compare_transformers.py /tmp/bm/gpucheck/ours.json --device cuda 2>&1 | grep -v "Loading weights\|deprecated"
  python3 bench/reference/floor.py
  peak ours-profile-cuda node dist-bench/bench.cjs profile --model $M --tokens $M/tokens.i32 --n-tokens 16384 --seq-len 1024 --batch 16 --provider cuda --dtype float16
  ;;
check3)
  # issue 3 alone: ours (cpu, cuda fused/plain, fp32/fp16; again under NVIDIA_TF32_OVERRIDE=0) vs transformers in fp64
  # on the CPU, fp32/fp16 on CUDA; PyTorch's ONNX exports of the same checkpoints through our ONNX-file path
  G=/tmp/bm/gpucheck
  node dist-bench/bench.cjs dump-nll $G --provider cuda 2>&1 | grep -v "Vulkan\|dawn\|Removing initializer" | tail -5
  NVIDIA_TF32_OVERRIDE=0 node dist-bench/bench.cjs dump-nll $G --provider cuda --tag tf32off 2>&1 | grep -v "Vulkan\|dawn\|Removing initializer" | tail -5
  python3 tools/gpu-check/export_onnx.py $G 2>&1 | grep -v "Loading weights\|deprecated\|Warning\|warn" | tail -40
  node dist-bench/bench.cjs dump-nll $G --provider cuda --onnx --tag onnx 2>&1 | grep -v "Vulkan\|dawn\|Removing initializer" | tail -20
  python3 tools/gpu-check/compare_transformers.py $G/ours.json $G/ours-tf32off.json $G/ours-onnx.json 2>&1 | grep -v "Loading weights\|deprecated"
  cp $G/*.json "$OUT/" 2>/dev/null
  tar czf "$OUT/onnx-exports.tgz" -C $G llama-relu/onnx llama-silu/onnx qwen2/onnx gpt2/onnx  # one file: the device tool returns few
  ;;
saved)
  # issue 3: the tiny checkpoints as transformers itself writes them (bf16, its config layout) + its NLL, as fixtures
  G=/tmp/bm/gpucheck
  [ -f $G/gpt2/config.json ] || node dist-bench/bench.cjs dump-nll $G --provider cpu > /dev/null 2>&1
  python3 tools/gpu-check/save_pretrained.py $G 2>&1 | grep -v "Loading weights\|deprecated" | tail -8
  tar czf "$OUT/saved-bf16.tgz" -C $G llama-relu/saved-bf16 llama-silu/saved-bf16 qwen2/saved-bf16 gpt2/saved-bf16
  ;;
indep)
  # issue 17: independent references — every family written by transformers (MiniCPM by a PyTorch forward after
  # modeling_minicpm), float64 NLL, and the PyTorch reference's CETT-PPL-1% (gated SiLU, gated ReLU LLaMA); < 1 min
  rm -rf /tmp/bm/independent
  python3 tools/gpu-check/independent_refs.py /tmp/bm/independent 2>&1 | grep -v "Loading weights\|deprecated" | tail -20
  tar czf "$OUT/independent.tgz" -C /tmp/bm independent
  ;;
webgpu2)
  # WebGPU in the fused decoder form (contrib MultiHeadAttention/RotaryEmbedding/SimplifiedLayerNormalization):
  # speed against the plain form, and per-token NLL against transformers in both forms
  [ -f $M/tokens.i32 ] || python3 bench/reference/make_model.py --out $M --act relu --n-tokens 65536 2>&1 | tail -1
  for f in 1 0; do peak forward-webgpu-fused$f timeout 100 node dist-bench/bench.cjs forward --model $M --tokens $M/tokens.i32 --n-tokens 32768 --seq-len 1024 --batch 16 --provider webgpu --dtype float16 --fused $f; done
  G=/tmp/bm/gpucheck
  timeout 150 node dist-bench/bench.cjs dump-nll $G --provider webgpu --tag webgpu 2>&1 | grep -v "Vulkan\|dawn\|Removing initializer" | tail -3
  python3 tools/gpu-check/compare_transformers.py $G/ours-webgpu.json 2>&1 | grep -E "^(PASS|FAIL)"
  peak prof-forward-webgpu-fused timeout 100 node dist-bench/bench.cjs profile --what forward --fused 1 --model $M --tokens $M/tokens.i32 --n-tokens 16384 --seq-len 1024 --batch 16 --provider webgpu --dtype float16
  ;;
webgpu)
  # why WebGPU is slow: the forward graph's kernels by operator and provider (a CPU fallback shows as @CPU), and
  # CETT-PPL-1% at 16k tokens with the fused search and with the ORT probe curves
  [ -f $M/tokens.i32 ] || python3 bench/reference/make_model.py --out $M --act relu --n-tokens 65536 2>&1 | tail -1
  peak prof-forward-webgpu timeout 150 node dist-bench/bench.cjs profile --what forward --model $M --tokens $M/tokens.i32 --n-tokens 16384 --seq-len 1024 --batch 16 --provider webgpu --dtype float16
  peak measure-webgpu-ort timeout 150 node dist-bench/bench.cjs measure --model $M --tokens $M/tokens.i32 --n-tokens 16384 --seq-len 1024 --batch 16 --provider webgpu --dtype float16 --p 1 --tol 1e-3 --engine ort
  peak measure-webgpu-fused timeout 120 node dist-bench/bench.cjs measure --model $M --tokens $M/tokens.i32 --n-tokens 16384 --seq-len 1024 --batch 16 --provider webgpu --dtype float16 --p 1 --tol 1e-3 --engine fused
  peak measure-webgpu-auto-65k timeout 280 node dist-bench/bench.cjs measure --model $M --tokens $M/tokens.i32 --n-tokens 65536 --seq-len 1024 --batch 16 --provider webgpu --dtype float16 --p 1 --tol 1e-3
  ;;
ours-cuda)
  peak ours-forward-cuda node dist-bench/bench.cjs forward --model $M "${COMMON[@]}" --provider cuda --dtype float16
  peak ours-measure-cuda node dist-bench/bench.cjs measure --model $M "${COMMON[@]}" --provider cuda --dtype float16 --p 1 --tol 1e-3
  peak ours-measure-cuda-spec node dist-bench/bench.cjs measure --model $M "${COMMON[@]}" --provider cuda --dtype float16 --p 1 --tol 1e-3 --speculate 1
  ;;
estimate)
  # issue 18: estimate (a timed pilot on the first batch) then the run, as a user clicks Estimate then Start; the
  # model (byte-level tokenizer) is generated on first use in .cache/bench, the text is the demo lab's eval.txt
  for spec in "cuda 768,12 65536 1024 16" "cuda 768,12 262144 1024 16" "cpu 256,4 16384 256 4"; do
    set -- $spec
    peak estimate-$1-$3 timeout 170 node dist-bench/bench.cjs estimate --provider $1 --shape $2 --n-tokens $3 --seq-len $4 --batch $5
  done
  ;;
ours-small)
  # the same at fewer tokens: SiLU, and the fp16 agreement run against the fp16 reference
  for act in relu silu; do
    peak ours-measure-cuda-$act-$N node dist-bench/bench.cjs measure --model /tmp/bm/$act --tokens /tmp/bm/$act/tokens.i32 --n-tokens "$N" --seq-len 1024 --batch 16 --provider cuda --dtype float16 --p 1 --tol 1e-3
  done
  ;;
ours-other)
  peak ours-forward-webgpu timeout 60 node dist-bench/bench.cjs forward --model $M --tokens $M/tokens.i32 --n-tokens 131072 --seq-len 1024 --batch 16 --provider webgpu --dtype float16
  peak ours-measure-webgpu timeout 90 node dist-bench/bench.cjs measure --model $M --tokens $M/tokens.i32 --n-tokens 65536 --seq-len 1024 --batch 16 --provider webgpu --dtype float16 --p 1 --tol 1e-3
  peak ours-forward-cpu timeout 45 node dist-bench/bench.cjs forward --model $M --tokens $M/tokens.i32 --n-tokens 8192 --seq-len 1024 --batch 4 --provider cpu
  peak ours-measure-cpu timeout 90 node dist-bench/bench.cjs measure --model $M --tokens $M/tokens.i32 --n-tokens 4096 --seq-len 1024 --batch 4 --provider cpu --p 1 --tol 1e-3
  ;;
ref)
  DT=${4:-bfloat16}; ACT=${5:-relu}
  peak ref-forward-$DT-$ACT-$N python3 bench/reference/sparsing_law_reference.py --model /tmp/bm/$ACT --tokens /tmp/bm/$ACT/tokens.npy --n-tokens "$N" --seq-len 1024 --batch 16 --dtype $DT --forward-only
  peak ref-measure-$DT-$ACT-$N python3 bench/reference/sparsing_law_reference.py --model /tmp/bm/$ACT --tokens /tmp/bm/$ACT/tokens.npy --n-tokens "$N" --seq-len 1024 --batch 16 --dtype $DT --p 1 --tol 1e-3
  ;;
bg-build)
  # the models, built in the background while the machine is set up, in the order given ($4, default: big7b relu big24
  # silu); each model's /tmp/bm/<name>.ready appears when it is complete (phases wait for the ones they use: ready <name>)
  CMDS=""
  for m in ${4:-big7b relu big24 silu}; do
    case $m in
    big7b) c="python3 bench/gpu/make_big.py --out /tmp/bm/big7b --shape 7b --n-tokens 65536" ;;
    big24) c="python3 bench/gpu/make_big.py --out /tmp/bm/big24 --shape 2.4b --n-tokens 65536" ;;
    relu|silu) c="python3 bench/reference/make_model.py --out /tmp/bm/$m --act $m --n-tokens 1048576" ;;
    cpu1b) c="python3 bench/gpu/make_big.py --out /tmp/bm/cpu1b --shape 1b --dtype float32 --n-tokens 65536" ;;
    *) echo "unknown model $m"; exit 2 ;;
    esac
    CMDS="$CMDS $c > /tmp/bm/bg-$m.log 2>&1; touch /tmp/bm/$m.ready;"
  done
  echo "${4:-big7b relu big24 silu}" > /tmp/bm/bg-started
  setsid nohup bash -c "$CMDS echo done > /tmp/bm/bg.done" > /dev/null 2>&1 &
  echo "background build started: ${4:-big7b relu big24 silu}"
  ;;
m7b)
  # issue 15: 7B CETT-PPL-1% at n tokens (16 sequences per call, then 4), after bg-build
  B=/tmp/bm/big7b; ready big7b
  for bs in ${4:-16 4}; do
    peak m7b-$N-b$bs timeout 400 node dist-bench/bench.cjs measure --model $B --tokens $B/tokens.i32 --n-tokens "$N" --seq-len 1024 --batch $bs --provider cuda --dtype float16 --p 1 --tol 1e-3
  done
  ;;
m7bw)
  # issue 19: the 7B's CETT-PPL-1% at n with the runner in the inference worker (--off-thread 1: onnxruntime's CUDA
  # provider inside a worker thread), against m7b's engine-thread figure (34.0 s at 16,384, CETT 0.253418, A 18.158%)
  B=/tmp/bm/big7b; ready big7b
  peak m7bw-$N timeout 300 node dist-bench/bench.cjs measure --model $B --tokens $B/tokens.i32 --n-tokens "$N" --seq-len 1024 --batch 16 --provider cuda --dtype float16 --p 1 --tol 1e-3 --off-thread 1
  ;;
wgw)
  # issue 19: WebGPU (Dawn) inside the inference worker: the 0.1B ReLU's CETT-PPL-1% at n (16,384) on WebGPU, on the
  # engine's thread and then with --off-thread 1 (same answer and time expected), after bg-build relu
  ready relu
  for ot in 0 1; do
    peak wgw-$N-ot$ot timeout 200 node dist-bench/bench.cjs measure --model $M --tokens $M/tokens.i32 --n-tokens "$N" --seq-len 1024 --batch 16 --provider webgpu --dtype float16 --p 1 --tol 1e-3 --off-thread $ot
  done
  ;;
m01)
  # issue 16: 0.1B CETT-PPL-1% at n tokens, default tuning, after bg-build (acts: ${4:-relu})
  for act in ${4:-relu}; do
    ready $act
    peak m01-$act-$N timeout 280 node dist-bench/bench.cjs measure --model /tmp/bm/$act --tokens /tmp/bm/$act/tokens.i32 --n-tokens "$N" --seq-len 1024 --batch 16 --provider cuda --dtype float16 --p 1 --tol 1e-3
  done
  ;;
s7b)
  ready big7b
  # issue 15: the 7B at fixed CETT values beside the reference (both print A, PPL ratio and thresholds at each c: the
  # answer without the outer search's branching), and where the time before the search goes: session timings with
  # onnxruntime settings varied, a verbose onnxruntime log's largest gaps (bench/gpu/gaps.mjs). After bg-build. ~4 min
  B=/tmp/bm/big7b
  A=(--model $B --tokens $B/tokens.i32 --n-tokens "$N" --seq-len 1024 --batch 16 --provider cuda --dtype float16 --p 1 --tol 1e-3)
  CS=${4:-0.265625,0.253418}
  peak at-ours timeout 200 node dist-bench/bench.cjs measure "${A[@]}" --at-cett $CS
  peak at-ref timeout 200 python3 bench/reference/sparsing_law_reference.py --model $B --tokens $B/tokens.npy --n-tokens "$N" --seq-len 1024 --batch 16 --dtype float16 --at-cett $CS
  for o in opt=basic mempattern=0 opt=disabled; do peak at-${o/=/_} timeout 150 node dist-bench/bench.cjs measure "${A[@]}" --at-cett 0.265625 --ort $o; done
  peak at-log0 timeout 150 node dist-bench/bench.cjs measure "${A[@]}" --at-cett 0.265625 --ort log=0
  node bench/gpu/gaps.mjs /tmp/bm/at-log0.err 30
  cp /tmp/bm/at-log0.err "$OUT/at-log0.err" 2>/dev/null; gzip -f "$OUT/at-log0.err" 2>/dev/null
  ;;
kernels2)
  # issue 15/16: the product on W_out as stored (FusedMatMul transB) against MatMul on a transposed copy, per level
  peak kernels2-7b1 timeout 120 node dist-bench/bench.cjs kernels --shape 1,16384,11008,4096 --provider cuda --k 10 --variants mmOnly,sumsq,fmm --out "$OUT/kernels2-7b1.json"
  grep -h '^{"variant' /tmp/bm/kernels2-7b1.err
  peak kernels2-01b timeout 120 node dist-bench/bench.cjs kernels --shape 0.1b --provider cuda --k 20 --variants sumsq,fmm --out "$OUT/kernels2-01b.json"
  grep -h '^{"variant' /tmp/bm/kernels2-01b.err
  ;;
prof7b)
  # issue 15: where a 7B search call's time goes (dense forward, the call with 0/8/16 levels, onnxruntime's per-operator
  # profile of one 16-level call), after bg-build  ~3 min
  B=/tmp/bm/big7b
  peak prof7b timeout 400 node dist-bench/bench.cjs profile --model $B --tokens $B/tokens.i32 --n-tokens 16384 --seq-len 1024 --batch 16 --provider cuda --dtype float16 --ops 1 --reps 2 --out "$OUT/prof7b.json"
  ;;
kernels)
  # issue 16: one bisection level's kernels, formulation by formulation (bench/kernels.ts), 0.1B and 7B group shapes  ~2 min
  peak kernels-01b timeout 240 node dist-bench/bench.cjs kernels --shape 0.1b --provider cuda --k 20 --out "$OUT/kernels-01b.json"
  grep -h '^{"variant' /tmp/bm/kernels-01b.err
  peak kernels-7b timeout 240 node dist-bench/bench.cjs kernels --shape 7b --provider cuda --k 10 --out "$OUT/kernels-7b.json"
  grep -h '^{"variant' /tmp/bm/kernels-7b.err
  ;;
opsprof)
  # issue 16: onnxruntime's per-operator profile of one 16-level search call at 0.1B (default tuning), after prep  ~1.5 min
  M=/tmp/bm/relu
  peak opsprof timeout 300 node dist-bench/bench.cjs profile --model $M --tokens $M/tokens.i32 --n-tokens 16384 --seq-len 1024 --batch 16 --provider cuda --dtype float16 --ops 1 --out "$OUT/opsprof.json"
  ;;
big-prep)
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc; free -g | head -2; df -h /tmp | tail -1
  python3 bench/gpu/make_big.py --out /tmp/bm/big7b --shape 7b --n-tokens 65536 2>&1 | tail -1
  python3 bench/gpu/make_big.py --out /tmp/bm/big24 --shape 2.4b --n-tokens 65536 2>&1 | tail -1
  ls -la /tmp/bm/big7b /tmp/bm/big24
  ;;
big)
  # open = checkpoint folder → first forward done (load + content hash, runner, graph build or cache hit, session);
  # cold: empty graph cache (and the page cache dropped where allowed), warm: the second open
  for m in ${4:-big24 big7b}; do
    B=/tmp/bm/$m; ready $m
    rm -rf /tmp/bm/gcache-$m
    sync; if (echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null; then echo "page cache dropped"; else echo "page cache NOT dropped (not root): cold = empty graph cache only"; fi
    peak open-cold-$m timeout 300 node dist-bench/bench.cjs open --model $B --tokens $B/tokens.i32 --n-tokens 32768 --seq-len 1024 --batch 16 --provider cuda --dtype float16 --cache /tmp/bm/gcache-$m
    peak open-warm-$m timeout 200 node dist-bench/bench.cjs open --model $B --tokens $B/tokens.i32 --n-tokens 32768 --seq-len 1024 --batch 16 --provider cuda --dtype float16 --cache /tmp/bm/gcache-$m
    du -sh /tmp/bm/gcache-$m
    peak measure-$m-$N timeout 400 node dist-bench/bench.cjs measure --model $B --tokens $B/tokens.i32 --n-tokens "$N" --seq-len 1024 --batch 16 --provider cuda --dtype float16 --p 1 --tol 1e-3
  done
  ;;
big-ref)
  for m in ${4:-big24 big7b}; do
    B=/tmp/bm/$m
    [ "${REF_FWD:-1}" = 0 ] || peak ref-forward-$m timeout 200 python3 bench/reference/sparsing_law_reference.py --model $B --tokens $B/tokens.npy --n-tokens 65536 --seq-len 1024 --batch 16 --dtype float16 --forward-only
    peak ref-measure-$m-$N timeout ${REF_LIMIT:-400} python3 bench/reference/sparsing_law_reference.py --model $B --tokens $B/tokens.npy --n-tokens "$N" --seq-len 1024 --batch 16 --dtype float16 --p 1 --tol 1e-3
  done
  ;;
i16prof)
  # issue 16: each SearchTuning (main/graph/search-graph.ts) on one batch of 16,384 tokens: ms per bisection level
  # (perLevelMs), a call's fixed cost (searchCall0Ms, the two streams), peak GPU memory; the first is the 2026-11-29
  # graph, the second the default since issue 16
  for act in relu silu; do [ -f /tmp/bm/$act/tokens.i32 ] || python3 bench/reference/make_model.py --out /tmp/bm/$act --act $act --n-tokens "$N" 2>&1 | tail -1; done
  for t in levels=1,m16=0 levels=1,m16=1 levels=1,chunk=4096,m16=1 levels=2,chunk=4096,m16=1 levels=1,chunk=4096,nin=1,m16=0; do
    peak i16prof-${t//[=,]/_} timeout 100 node dist-bench/bench.cjs profile --model $M --tokens $M/tokens.i32 --n-tokens 16384 --seq-len 1024 --batch 16 --provider cuda --dtype float16 --search $t
  done
  pick16 i16prof- 7600
  ;;
i16b)
  # issue 16, second pass after i16prof (2026-12-04 batch 1): the grid without an all-layer fp32 N (min and q99 from a
  # and the subsample), the tail as a·mask (mul=1), the per-operator profile of the default, then ReLU 1M with the pick
  for act in relu silu; do [ -f /tmp/bm/$act/tokens.i32 ] || python3 bench/reference/make_model.py --out /tmp/bm/$act --act $act --n-tokens "$N" 2>&1 | tail -1; done
  for t in levels=1,m16=0,mul=0 levels=1,m16=1,mul=0 levels=1,m16=1,mul=1 levels=1,m16=1,mul=1,chunk=8192; do
    peak i16b-${t//[=,]/_} timeout 100 node dist-bench/bench.cjs profile --model $M --tokens $M/tokens.i32 --n-tokens 16384 --seq-len 1024 --batch 16 --provider cuda --dtype float16 --search $t
  done
  pick16 i16b- 1000000
  peak i16b-ops timeout 100 node dist-bench/bench.cjs profile --model $M --tokens $M/tokens.i32 --n-tokens 16384 --seq-len 1024 --batch 16 --provider cuda --dtype float16 --search "$(cat /tmp/bm/i16.pick)" --ops 1
  peak i16b-measure-cuda-relu-$N node dist-bench/bench.cjs measure --model $M --tokens $M/tokens.i32 --n-tokens "$N" --seq-len 1024 --batch 16 --provider cuda --dtype float16 --p 1 --tol 1e-3 --search "$(cat /tmp/bm/i16.pick)"
  ;;
i16run)
  S16=$(cat /tmp/bm/i16.pick 2>/dev/null || echo levels=1); echo "tuning $S16"
  for act in relu silu; do
    peak i16-measure-cuda-$act-$N node dist-bench/bench.cjs measure --model /tmp/bm/$act --tokens /tmp/bm/$act/tokens.i32 --n-tokens "$N" --seq-len 1024 --batch 16 --provider cuda --dtype float16 --p 1 --tol 1e-3 --search $S16
  done
  ;;
i16webgpu)
  S16=$(cat /tmp/bm/i16.pick 2>/dev/null || echo levels=1); echo "tuning $S16"
  peak i16-measure-webgpu-65k timeout 170 node dist-bench/bench.cjs measure --model $M --tokens $M/tokens.i32 --n-tokens 65536 --seq-len 1024 --batch 16 --provider webgpu --dtype float16 --p 1 --tol 1e-3 --search $S16
  ;;
i16cpu)
  # issue 16's CPU target (0.1B ReLU, 16,384 tokens, the 16 cores, <= 92 s): where the time goes on one batch of 4 x 1024
  # (bench/cpusearch.ts: sessions, dense / capture / sparse forward, the ORT probe per candidate and per outer step, the
  # curve's sweep per back end (WebAssembly, JS) on one thread (first call, first 8 tokens, steady) and on every core,
  # the calibration's pick, projected seconds); the same curve timings alone under V8's WebAssembly tier flags
  # (I16CPU_FLAGS=0 skips them); then the measurement with the CPU's default engine (the curve on every core, the
  # calibrated sweep), then the ORT probe engine (the engine before) cut at 60 s: its PROGRESS lines give its time per
  # outer step. A SWEEP line per cpusearch run sums its curve figures up. PROGRESS lines live.
  ready relu
  [ -f $M/tokens.i32 ] || python3 bench/reference/make_model.py --out $M --act relu --n-tokens 65536 2>&1 | tail -1
  nproc; grep -m1 'model name' /proc/cpuinfo
  echo "cpu flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -x -E 'sse4_1|sse4_2|avx|avx2|fma|f16c|avx512f|avx512vl|amx_tile' | tr '\n' ' ')"
  lscpu | grep -E '^(Thread|Core|Socket|L1d|L2|L3|NUMA node\(s\))' | tr -s ' ' | tr '\n' ';'; echo
  sweepsum() { node -e '
    const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop()); const s = j.sweep; const f = (x) => x == null ? "-" : x.toFixed(3);
    const one = (b) => `${b} one thread ms/token steady ${f(s.oneThread[b].whole.msPerToken)} (sweep ${f(s.oneThread[b].sweep.msPerToken)}), first ${f(s.oneThread[b].whole.firstMs)}, first 8 ${f(s.oneThread[b].whole.first8MsPerToken)}; first16 ${s.oneThread[b].first16Ms.join(" ")}`;
    console.log(`SWEEP ${process.argv[2]} execArgv=${j.execArgv.join(" ") || "-"} compileMs=${f(s.compileMs)}`); console.log("  " + one("wasm")); console.log("  " + one("js"));
    console.log(`  calibration pick ${s.calibration.backend} (ms/token js ${f(s.calibration.msPerToken.js)} wasm ${f(s.calibration.msPerToken.wasm)}, ${f(s.calibration.wallMs)} ms)`);
    console.log("  all threads (" + j.jsCurve.threads + ") ms/layer of " + j.tokensPerBatch + ": " + ["auto", "js", "wasm"].map((b) => `${b} ${f(s.allThreads[b].msPerLayer)} (first ${f(s.allThreads[b].firstMs)})`).join(", ") + `; ${s.workerChunks} chunks on the threads`);
  ' /tmp/bm/$1.json "$1" 2>&1 | head -8; }
  NC=${I16CPU_TOKENS:-16384}  # a smaller count only to try the phase on a small machine
  if [ "${I16CPU_PROF:-1}" != 0 ]; then
    peak i16-cpusearch timeout ${I16CPU_PROF_LIMIT:-90} node dist-bench/bench.cjs cpusearch --model $M --tokens $M/tokens.i32 --n-tokens $NC --seq-len 1024 --batch 4 --provider cpu --reps 1
    sweepsum i16-cpusearch
  fi
  if [ "${I16CPU_FLAGS:-1}" != 0 ]; then
    for fl in --liftoff-only --no-liftoff --no-wasm-dynamic-tiering; do
      peak i16-sweep$fl timeout 45 node $fl dist-bench/bench.cjs cpusearch --model $M --tokens $M/tokens.i32 --n-tokens 4096 --seq-len 1024 --batch 4 --provider cpu --curve-only 1
      sweepsum i16-sweep$fl
    done
  fi
  # I16CPU_RUNS: which measurements, in order (default "auto ort"); ov1 / ov0: the default engine with the runner in the
  # inference worker (as the app runs this model) and the curve of a batch built beside the next batch's dense forward
  # (ov1, the default there) or after it (ov0); each run ends with a RESULT line (wall, phases, answer)
  # ops: onnxruntime's per-operator profile of the sparse, the dense and the capturing dense graph on one batch, 2 runs each
  # (OPS lines: kernel ms per run, how much ran on one thread, the top operators, "(one thread)" where most of one did)
  # Suffixes run any of them with other CPU graph options: -a<k> the attention in k causal query chunks (bench
  # --attn-chunks; the default is CPU_ATTN_CHUNKS = 4 since 4e31785, -a1 the whole S×S as before), -h0 the fp16
  # checkpoint's weights converted to fp32 initializers (--half-weights 0: pre-packed, 2× their memory), -f1 the fused
  # (GPU) decoder form on the CPU (--fused 1: com.microsoft MultiHeadAttention, RotaryEmbedding, SimplifiedLayerNorm);
  # e.g. "ov1 ov1-a1 ov1-h0 ops ops-a1". -m0: the CETT mask by Where, the form before 2026-12-05 (--mask-mul 0; the
  # default masks by Mul with the cast keep mask: onnxruntime's CPU Where runs on one thread), e.g. "ov1 ov1-m0 ops ops-m0".
  # fwd: dense forward throughput of 16,384 tokens (4 × 4 × 1024; I16CPU_TOKENS) for each entry of I16CPU_FWD (default
  # "a1 a4 f1 a2 a8 a4-h0 a1 a4 f1": the first ones again at the end show the machine's drift), one FWD line each (bench forward)
  # forms: the same A/B in one process on one batch of 4 × 1024, runs interleaved (I16CPU_FORMS, default
  # a1,a4,f1,a4-h0,a4-s-w,a4-s,a4-s-h0; I16CPU_FORMS_REPS runs each, default 5), one FORM line each (bench cpusearch --forms;
  # -s: the sparse pass of a search step at ε 0.1 (A ≈ 18% on this model), its mask by Mul, -s-w by Where (the form before))
  flags() { local f=(); for x in $(echo "$1" | tr '-' ' '); do case $x in a[0-9]*) f+=(--attn-chunks ${x#a});; h0) f+=(--half-weights 0);; f1) f+=(--fused 1);; m0) f+=(--mask-mul 0);; esac; done; echo "${f[@]}"; }
  for run in ${I16CPU_RUNS:-auto ort}; do
    eng=${run%%-*}; AC=($(flags "${run#$eng}"))
    if [ $eng = forms ]; then
      # the same forms in one process, runs interleaved (bench cpusearch --forms): one FORM line each
      peak i16-forms timeout 200 node dist-bench/bench.cjs cpusearch --model $M --tokens $M/tokens.i32 --n-tokens 4096 --seq-len 1024 --batch 4 --provider cpu --forms ${I16CPU_FORMS:-a1,a4,f1,a4-h0,a4-s-w,a4-s,a4-s-h0} --reps ${I16CPU_FORMS_REPS:-5} > /dev/null
      node -e 'try { const j = JSON.parse(require("fs").readFileSync("/tmp/bm/i16-forms.json", "utf8").trim().split("\n").pop());
        for (const r of j.rows) console.log(`FORM ${r.form}: wall ms min ${r.wallMsMin.toFixed(0)} median ${r.wallMsMedian.toFixed(0)}, cpu ms min ${r.cpuMsMin.toFixed(0)} median ${r.cpuMsMedian.toFixed(0)}, max |dNLL| vs ${r.vsForm ?? "first"} ${r.maxAbsNllVsFirst.toExponential(1)}${r.nllBitsVsFirst ? " (same bits)" : ""}, A ${r.activationRatio?.toFixed(4)} (${j.tokensPerRun} tokens per run, ${j.reps} runs each)`); } catch (e) { console.log(`FORM none (${e.message})`); }'
      continue
    fi
    if [ $eng = fwd ]; then
      for fv in ${I16CPU_FWD:-a1 a4 f1 a2 a8 a4-h0 a1 a4 f1}; do
        peak i16-fwd-$fv timeout 120 node dist-bench/bench.cjs forward --model $M --tokens $M/tokens.i32 --n-tokens $NC --seq-len 1024 --batch 4 --provider cpu $(flags $fv) > /dev/null
        node -e 'try { const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop()); console.log(`FWD ${process.argv[2]}: ${j.tokens} tokens in ${j.seconds.toFixed(2)} s, ${j.tokensPerSecond.toFixed(0)} tokens/s (${(j.seconds * 1000 / (j.tokens / 4096)).toFixed(0)} ms per 4 x 1024 pass)`); } catch (e) { console.log(`FWD ${process.argv[2]} none (${e.message})`); }' /tmp/bm/i16-fwd-$fv.json $fv
      done
      continue
    fi
    if [ $eng = ops ]; then
      peak i16-$run timeout 90 node dist-bench/bench.cjs cpusearch --model $M --tokens $M/tokens.i32 --n-tokens 4096 --seq-len 1024 --batch 4 --provider cpu --ops 1 ${AC[@]+"${AC[@]}"} > /dev/null
      node -e 'try { const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop());
        for (const [k, v] of Object.entries(j.ops)) console.log(`OPS ${k} attn-chunks ${j.attnChunks} mask-mul ${j.maskMul} kernel ms/run ${v.kernelMsPerRun.toFixed(0)}, on one thread ${v.oneThreadMsPerRun?.toFixed(0)}: ${v.top.slice(0, 16).map((x) => `${x.op.replace("@CPU", "")} ${x.ms.toFixed(0)}${x.oneThreadMs > 0.5 * x.ms ? " (one thread)" : ""}`).join(", ")}`); } catch (e) { console.log(`OPS none (${e.message})`); }' /tmp/bm/i16-$run.json
      continue
    fi
    E=/tmp/bm/i16-measure-cpu-$run-$NC.err; : > $E
    tail -n +1 -F $E 2>/dev/null | grep --line-buffered -E '^PROGRESS' & TP=$!
    LIM=${I16CPU_LIMIT:-150}; [ $eng = ort ] && LIM=${I16CPU_ORT_LIMIT:-60}
    case $eng in ov1|ov0) ARGS=(--engine auto --off-thread 1 --overlap-curves ${eng#ov});; *) ARGS=(--engine $eng);; esac
    peak i16-measure-cpu-$run-$NC timeout $LIM node dist-bench/bench.cjs measure --model $M --tokens $M/tokens.i32 --n-tokens $NC --seq-len 1024 --batch 4 --provider cpu --p 1 --tol 1e-3 --progress 1 "${ARGS[@]}" ${AC[@]+"${AC[@]}"}
    sleep 1; kill $TP 2>/dev/null
    node -e 'try { const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop()); const t = j.timingsMs, s = (x) => (x / 1000).toFixed(1);
      console.log(`RESULT ${process.argv[2]} wall ${j.wallSeconds.toFixed(1)} s (dense ${s(t.dense)}, curves ${s(t.curves)}, search ${s(t.search)}, final ${s(t.final)}) passes ${j.forwardPasses} offThread ${j.offThread} overlap ${j.overlapCurves}; CETT ${j.cett} A ${j.activationRatio} PPL ratio ${j.pplRatio}; thresholds ${JSON.stringify(j.thresholds)}`); } catch (e) { console.log(`RESULT ${process.argv[2]} none (${e.message})`); }' /tmp/bm/i16-measure-cpu-$run-$NC.json $run
  done
  ;;
streamed)
  # issue 15: the 7B of big-prep run block by block. Forward over 65,536 tokens: whole graph vs under a 16 GiB device-memory
  # cap (the planner streams: the JSON's execution says how, streamStats the block sessions opened). CETT-PPL-1% at n:
  # streamed (no cap: the search's curves stay on the device) vs whole on the same ORT curve engine (same answer expected;
  # the fused whole-graph figure is big's measure-big7b-n). Under the 16 GiB cap the search's curves would be fed per
  # call, one layer at a time: correct but hours at 7B, so not run here.
  B=/tmp/bm/big7b; ready big7b
  [ -f $B/config.json ] || python3 bench/gpu/make_big.py --out $B --shape 7b --n-tokens 65536 2>&1 | tail -1
  F=(--model $B --tokens $B/tokens.i32 --seq-len 1024 --batch 16 --provider cuda --dtype float16)
  peak streamed-forward-whole timeout 110 node dist-bench/bench.cjs forward "${F[@]}" --n-tokens 65536 --execution whole
  peak streamed-forward-cap16 timeout 110 node dist-bench/bench.cjs forward "${F[@]}" --n-tokens 65536 --device-memory 16
  peak streamed-measure-$N timeout 240 node dist-bench/bench.cjs measure "${F[@]}" --n-tokens "$N" --execution streamed --block-layers 8 --p 1 --tol 1e-3
  peak whole-measure-ort-$N timeout 120 node dist-bench/bench.cjs measure "${F[@]}" --n-tokens "$N" --execution whole --engine ort --p 1 --tol 1e-3
  ;;
streamed-cap)
  # issue 15, after the first streamed run used 24.1 GB under a 16 GiB cap: the plan now counts an arena per resident
  # block session (2x on CUDA). Forward of 32,768 tokens under 16 GiB (paged) and 24 GiB (resident); peak must be <= cap.
  B=/tmp/bm/big7b; ready big7b
  [ -f $B/config.json ] || python3 bench/gpu/make_big.py --out $B --shape 7b --n-tokens 65536 2>&1 | tail -1
  F=(--model $B --tokens $B/tokens.i32 --seq-len 1024 --batch 16 --provider cuda --dtype float16 --n-tokens 32768)
  for cap in 16 24; do peak streamed-forward-cap$cap-v2 timeout 150 node dist-bench/bench.cjs forward "${F[@]}" --device-memory $cap; done
  ;;
streamed-fwd15)
  # issue 15: the 7B's streamed FORWARD under 16 GiB (dense, 2 warm-up batches then 32,768 tokens: 2 batches of 16 x 1024)
  # with the blocks fed their weights as inputs (one session per block shape, the plan's choice) and with a session per
  # paged block (05:29: 4,617 tokens/s, 13% of the whole graph), against the whole graph; ~4 min. One FWD line each.
  # (The fused CETT-PPL-1% does not use these blocks: its dense and final passes are search steps; the ORT/JS curve
  # engines, baselines and the host-curve fallback do.)
  B=/tmp/bm/big7b; ready big7b
  [ -f $B/config.json ] || python3 bench/gpu/make_big.py --out $B --shape 7b --n-tokens 65536 2>&1 | tail -1
  F=(--model $B --tokens $B/tokens.i32 --seq-len 1024 --batch 16 --provider cuda --dtype float16 --n-tokens 32768)
  for cfg in "whole|--execution whole" "in16|--device-memory 16 --paged-weights inputs" "ses16|--device-memory 16 --paged-weights sessions"; do
    IFS='|' read -r name args <<< "$cfg"
    peak streamed-fwd15-$name timeout 150 node dist-bench/bench.cjs forward "${F[@]}" $args
    node -e 'const fs = require("fs"); const [name, f, m] = process.argv.slice(1); let j; try { j = JSON.parse(fs.readFileSync(f, "utf8").trim().split("\n").pop()); } catch { console.log(`FWD ${name}: no JSON (cut short or failed)`); process.exit(0); }
      const mem = fs.readFileSync(m, "utf8").trim().split("\n").map(Number).filter(Number.isFinite); const st = j.streamStats, w = st?.weights, rd = w?.forward ?? w;
      console.log(`FWD ${name}: ${Math.round(j.tokensPerSecond)} tokens/s (${j.seconds.toFixed(1)} s for ${j.tokens}), peak ${Math.max(...mem)} MiB; ${j.execution?.reason}` + (st ? `; sessions ${st.sessionLoads}, creating ${((st.createMs.local + st.createMs.remote) / 1000).toFixed(1)} s, runs ${(st.runMs / 1000).toFixed(1)} s in ${st.calls} calls${w ? `, fed block runs ${w.forwardRuns.n} x ${w.forwardRuns.meanMs} ms, reads ${rd.GB} GB waited ${(rd.waitMs / 1000).toFixed(1)} s` : ""}` : ""))' "$name" /tmp/bm/streamed-fwd15-$name.json /tmp/bm/streamed-fwd15-$name.mem | tee -a "$OUT/streamed-fwd15-report.txt"
  done
  ;;
cpu1b)
  # issue 15's CPU bullet: a 1.1B LLaMA in fp32 (TinyLlama's shape, random init) on the 16 cores, CETT-PPL-1% at n tokens
  # (4 sequences of 1024 per batch), a PROGRESS line per step on stderr; eta.mjs then says whether the ETAs held. The
  # measurement is cut at CPU1B_LIMIT (470 s) so the phase stays inside one device call: a cut run prints how far it got.
  B=/tmp/bm/cpu1b; ready cpu1b
  [ -f $B/config.json ] || python3 bench/gpu/make_big.py --out $B --shape 1b --dtype float32 --n-tokens 65536 2>&1 | tail -1
  nproc; grep -m1 'model name' /proc/cpuinfo; free -g | head -2
  E=/tmp/bm/cpu1b-measure-$N.err; : > $E
  tail -n +1 -F $E 2>/dev/null | grep --line-buffered -E '^(PLAN|PROGRESS)' & TP=$!  # live progress (a cut call still shows it)
  peak cpu1b-measure-$N timeout ${CPU1B_LIMIT:-470} node dist-bench/bench.cjs measure --model $B --tokens $B/tokens.i32 --n-tokens "$N" --seq-len 1024 --batch 4 --provider cpu --p 1 --tol 1e-3 --progress 1
  sleep 1; kill $TP 2>/dev/null
  node bench/gpu/eta.mjs /tmp/bm/cpu1b-measure-$N.err
  ;;
same32)
  # issue 15's "same answer" without fp16 noise: in fp16 the random-init 7B's PPL ratio moves by 5e-3 with onnxruntime's
  # optimisation level alone, so the outer bisection branches on rounding (ΔA 1.15 pp at 16,384 tokens while ΔA at the
  # same c is 0.005 pp). Here both sides run the same fp32 checkpoint in fp32: CETT-PPL-1% at n tokens, ours then the
  # reference, and both at fixed c (the reference's final c and ours). Models: ${4:-big24} (big24 9.6 GB, big7b 27 GB on
  # disk, built here as fp32). ~3 min for big24 at 16,384 tokens, ~7 min for big7b.
  for m in ${4:-big24}; do
    case $m in big24) SH=2.4b ;; big7b) SH=7b ;; *) echo "same32: unknown model $m"; exit 2 ;; esac
    B=/tmp/bm/$m-f32
    [ -f $B/config.json ] || python3 bench/gpu/make_big.py --out $B --shape $SH --dtype float32 --n-tokens 65536 2>&1 | tail -1
    A=(--model $B --tokens $B/tokens.i32 --n-tokens "$N" --seq-len 1024 --batch 16 --provider cuda --dtype float32 --p 1 --tol 1e-3)
    peak same32-ours-$m-$N timeout 400 node dist-bench/bench.cjs measure "${A[@]}"
    peak same32-ref-$m-$N timeout 400 python3 bench/reference/sparsing_law_reference.py --model $B --tokens $B/tokens.npy --n-tokens "$N" --seq-len 1024 --batch 16 --dtype float32 --p 1 --tol 1e-3
  done
  ;;
streamed-measure)
  # issue 15: the 7B's CETT-PPL-1% at n streamed under a device-memory cap, the threshold search block by block (the plan's
  # execution.search says its blocks, token chunk and layer group), peak GPU memory sampled (nvidia-smi, 100 ms).
  # Expected: the same CETT / A / PPL as the whole graph's measure-big7b-n (0.253418, 18.158%, 1.01025 at 16384).
  B=/tmp/bm/big7b; ready big7b
  [ -f $B/config.json ] || python3 bench/gpu/make_big.py --out $B --shape 7b --n-tokens 65536 2>&1 | tail -1
  F=(--model $B --tokens $B/tokens.i32 --seq-len 1024 --batch 16 --provider ${SM_PROVIDER:-cuda} --dtype ${SM_DTYPE:-float16} --p 1 --tol 1e-3 --progress 1)
  # SM_OVERLAP="1 0": each cap with paged blocks created while the block before them computes (1, the default) and one
  # after another (0, the plan and path before 2026-12-04 16:00); the JSON's streamStats says createMs per host, runMs
  # and createHiddenMs (creation time that ran while the other host computed)
  CAPS=(${4:-24 16}); OVS=(${SM_OVERLAP:-1})
  # SM_CONFIGS="name|cap|seconds|measure flags;…": several configurations, each with its own cut (replaces caps and
  # SM_OVERLAP); default: each cap × SM_OVERLAP value, the call's ~9.5 min shared (or SM_LIMIT each)
  RUNS=()
  if [ -n "${SM_CONFIGS:-}" ]; then IFS=';' read -ra RUNS <<< "$SM_CONFIGS"
  else
    LIM=${SM_LIMIT:-$((560 / ${#CAPS[@]} / ${#OVS[@]}))}
    for cap in "${CAPS[@]}"; do for ov in "${OVS[@]}"; do RUNS+=("cap$cap-$N$([ ${#OVS[@]} -gt 1 ] && echo "-ov$ov")|$cap|$LIM|--overlap $ov ${SM_ARGS:-}"); done; done
  fi
  for run in "${RUNS[@]}"; do
    IFS='|' read -r name cap lim args <<< "$run"
    R=streamed-measure-$name; E=/tmp/bm/$R.err; : > $E
    echo "== config $name: --device-memory $cap $args (cut at ${lim} s)"
    tail -n +1 -F $E 2>/dev/null | grep --line-buffered -E '^(PLAN|PROGRESS)' & TP=$!  # live: a call cut short still shows how far it got
    peak $R timeout $lim node dist-bench/bench.cjs measure "${F[@]}" --n-tokens "$N" --device-memory $cap $args
    sleep 1; kill $TP 2>/dev/null
    node bench/gpu/eta.mjs $E | tail -4
    cp /tmp/bm/$R.json "$OUT/" 2>/dev/null
    node bench/gpu/stream-report.mjs "$name" /tmp/bm/$R.json /tmp/bm/$R.mem ${SM_WHOLE:-34.0} | tee -a "$OUT/streamed-report.txt"
    # a config named 'whole' sets the figure the later configs are compared with (the same instance, this call)
    if [ "$name" = whole ]; then W=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop()).wallSeconds.toFixed(1))' /tmp/bm/$R.json 2>/dev/null) && SM_WHOLE=$W && echo "SM_WHOLE=$W s (this call's whole graph)"; fi
  done
  ;;
streamed-15)
  # issue 15's 7B configurations at n (16384) in one call (≤ 9.5 min), each reported by stream-report.mjs (plan, wall,
  # phases, sessions, FIRST vs later block runs, host<->device bytes, weight reads, peak, answer). Default list:
  #   whole:   the whole graph (no cap: the speed the streamed runs are compared with; 19:27: 33.5 s)
  #   in16:    16 GiB, the forward and search blocks' weights fed as inputs (--paged-weights inputs, also the plan's own
  #            choice under this cap: one session per block shape, created once, the embedding and head in two more; the
  #            next block's tensors read from the checkpoint while one runs, copied to the device in the run)
  #   plan16:  16 GiB, a session per paged block (--paged-weights sessions: the plan of 19:27, 97.6 s; with overlap the next
  #            created while one runs)
  # Others (SM15=… to run them):
  #   plan16w: plan16 (--paged-weights sessions) with --warm 1 (each search block's session makes a tiny call right after its creation, beside
  #            the other host's run: does the real first run then cost what a later run does? 19:27: no, 934 vs 957 ms)
  #   plan16s1: plan16 with --warm s1 (the warm-up call is one sequence of the run's length: the shapes' kernels,
  #            plans and part of the arena before the real run)
  #   res6:    search blocks of 6 layers all resident (--device-memory 100, forced): each session created once and run
  #            at every step, so its later runs against its first say what a fresh session's first run costs
  #   seq16:   the 16 GiB cap, sessions, one block after another (--paged-weights sessions --overlap 0: 6 search blocks of 6 layers, as at 16:25)
  # SM15 replaces the list (SM_CONFIGS format); the whole graph's time for the percentage: SM_WHOLE (34.0 s)
  # (target: in16's wall ≤ whole / 0.4; the REPORT line says MET or MISSED against the whole config's wall of this call,
  # or SM_WHOLE, default 33.5 s, the 19:27 figure, when that config did not run)
  SM_WHOLE=${SM_WHOLE:-33.5} SM_CONFIGS="${SM15:-whole|120|100|;in16|16|170|--paged-weights inputs;plan16|16|150|--paged-weights sessions}" bash "$0" streamed-measure "$N" "$OUT"
  ;;
bg)
  # a phase in the background: bash bench/gpu/run.sh bg <name> <outdir> <phase> <n> [arg]; the job's own outdir is
  # /tmp/bm/bgout-<name> (bgwait copies it to a call's outdir), its exit status in /tmp/bm/bgjob-<name>.rc
  NAME=$2; shift 3
  [ -n "$NAME" ] && [ $# -ge 2 ] || { echo "usage: run.sh bg <name> <outdir> <phase> <n> [arg]"; exit 2; }
  D=/tmp/bm/bgout-$NAME; mkdir -p $D; rm -f /tmp/bm/bgjob-$NAME.rc
  Q=$(printf '%q ' "$1" "$2" "$D" "${@:3}")
  setsid nohup nice -n ${BG_NICE:-0} bash -c "bash bench/gpu/run.sh $Q > $D/console.txt 2>&1; echo \$? > /tmp/bm/bgjob-$NAME.rc" > /dev/null 2>&1 &
  echo "background job $NAME started: run.sh $*  (nice ${BG_NICE:-0})"
  ;;
curve1b)
  # the CPU CETT curve's sweep at the 1B shape (F 5632 x d 2048, a generated layer: no model needed) per blocking and back
  # end on every core and on one thread (bench curvesweep); the figure: runs[i].allThreads.wasm.msPerToken, the pairs'
  # hash the same in every entry; 2048x1 = one block per token (the sweep before e9d4a09), auto = the default's trial
  nproc; lscpu | grep -E '^(L1d|L2|L3|NUMA)' | tr -s ' ' | tr '\n' ';'; echo
  peak curve1b timeout 540 node dist-bench/bench.cjs curvesweep --tokens "$([ "$N" = 0 ] && echo 4096 || echo "$N")" --one-thread-tokens 64 --blockings "${CURVE1B_BLOCKINGS:-auto,2048x1,64x16,256x16}"
  ;;
sleeptest)
  # bg/bgwait's own check: prints a PROGRESS line every second for n seconds
  for i in $(seq "$N"); do echo "PROGRESS {\"t\":$i}"; sleep 1; done
  ;;
bgwait)
  # bash bench/gpu/run.sh bgwait <max-seconds> <outdir> <names…>
  MAX=$N; shift 3; T0=$(date +%s)
  while :; do
    left=0; for n in "$@"; do [ -f /tmp/bm/bgjob-$n.rc ] || left=$((left + 1)); done
    el=$(( $(date +%s) - T0 ))
    [ $left -eq 0 ] && break
    [ $el -ge "$MAX" ] && break
    if [ $((el % 60)) -lt 5 ]; then for n in "$@"; do echo "-- $n at ${el}s:"; grep -hE "^(PROGRESS|PLAN|==)" /tmp/bm/bgout-$n/console.txt 2>/dev/null | grep -v '^$' | tail -2 | cut -c1-300; done; fi
    sleep 5
  done
  for n in "$@"; do
    if [ -f /tmp/bm/bgjob-$n.rc ]; then echo "== bg $n done rc=$(cat /tmp/bm/bgjob-$n.rc)"; else echo "== bg $n STILL RUNNING after ${MAX}s"; fi
    mkdir -p "$OUT/bg-$n"; cp -r /tmp/bm/bgout-$n/. "$OUT/bg-$n/" 2>/dev/null
    tail -c 2500 /tmp/bm/bgout-$n/console.txt 2>/dev/null
  done
  ;;
*) echo "unknown phase $PHASE"; exit 2 ;;
esac
