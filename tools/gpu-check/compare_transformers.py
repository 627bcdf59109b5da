#!/usr/bin/env python3
"""
Issue 3's GPU check: the tiny checkpoints written by dump-nll.ts, run through PyTorch `transformers`, must give
the same per-token NLL as our engine: fp32 max abs diff <= 1e-4, fp16 max relative diff <= 2e-2.
Usage (GPU machine, with torch + transformers):
  node dist-bench/bench.cjs dump-nll /tmp/gpucheck --provider cuda      (or: node bin/run-ts tools/gpu-check/dump-nll.ts …)
  python3 tools/gpu-check/compare_transformers.py /tmp/gpucheck/ours.json [more ours-*.json …]
Besides the pass/fail lines it prints, per model, every variant's max abs difference from transformers in float64 on
the CPU (the closest thing to exact), so a deviation can be pinned on a side: ours on cpu/cuda, fused/plain graph,
torch fp32 on CPU/CUDA, torch with TF32 matmuls allowed. Exit status 1 when a pass/fail check fails.
"""
import argparse, json, sys
import torch
from transformers import AutoModelForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("ours", nargs="+")
args = ap.parse_args()
docs = [json.load(open(f)) for f in args.ours]
doc = docs[0]
B, S = doc["batch"], doc["seqLen"]
cuda = torch.cuda.is_available()
print(f"torch {torch.__version__}; cuda {cuda}; matmul.allow_tf32 {torch.backends.cuda.matmul.allow_tf32}; "
      f"cudnn.allow_tf32 {torch.backends.cudnn.allow_tf32}; float32_matmul_precision {torch.get_float32_matmul_precision()}")


def torch_nll(d, dtype, device, tf32=False):
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        # eager attention: no fused kernels, the plainest comparison
        m = AutoModelForCausalLM.from_pretrained(d, torch_dtype=dtype, attn_implementation="eager").to(device).eval()
        ids = torch.tensor(doc["ids"], dtype=torch.long).view(B, S).to(device)
        with torch.no_grad():
            logits = m(input_ids=ids).logits.double()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        return -logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1).flatten().cpu()
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old


ok = True
for name, case in doc["cases"].items():
    ref = {"torch fp64 cpu": torch_nll(case["dir"], torch.float64, "cpu"), "torch fp32 cpu": torch_nll(case["dir"], torch.float32, "cpu")}
    if cuda:
        ref["torch fp32 cuda"] = torch_nll(case["dir"], torch.float32, "cuda")
        ref["torch fp32 cuda tf32"] = torch_nll(case["dir"], torch.float32, "cuda", tf32=True)
        ref["torch fp16 cuda"] = torch_nll(case["dir"], torch.float16, "cuda")
    exact = ref["torch fp64 cpu"]
    ours = {}
    for i, d in enumerate(docs):
        env = d.get("env", {}).get("NVIDIA_TF32_OVERRIDE")
        for key, v in d["cases"][name]["variants"].items():
            ours[f"ours {key}" + (f" (NVIDIA_TF32_OVERRIDE={env})" if env is not None else "")] = torch.tensor(v["nll"], dtype=torch.float64)
    # the checks: ours against transformers in the same dtype on the same kind of device
    for label, got in ours.items():
        dev = "cuda" if " cuda" in label else "cpu"
        if "float32" in label:
            r = ref.get(f"torch fp32 {dev}")
            if r is None:
                continue
            d = (got - r).abs().max().item()
            passed = d <= 1e-4
            figure = f"max abs {d:.2e} (<= 1e-4) vs torch fp32 {dev}"
        elif "float16" in label:
            r = ref.get("torch fp16 cuda")
            if r is None:
                continue
            rel = ((got - r).abs() / r.abs().clamp_min(1e-6)).max().item()
            passed = rel <= 2e-2
            figure = f"max rel {rel:.2e} (<= 2e-2) vs torch fp16 cuda"
        else:
            continue
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'} {name:11s} {label:48s} {figure}; mean NLL {got.mean():.6f} / {r.mean():.6f}")
    print(f"  {name}: max abs difference from torch fp64 cpu (mean NLL {exact.mean():.6f}):")
    for label, got in {**ref, **ours}.items():
        if label == "torch fp64 cpu":
            continue
        d = (got - exact).abs()
        print(f"    {label:58s} max {d.max().item():.2e}  mean {d.mean().item():.2e}")
sys.exit(0 if ok else 1)
