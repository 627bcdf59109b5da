#!/usr/bin/env python3
"""
Issue 3's GPU check: the tiny checkpoints written by dump-nll.ts, run through PyTorch `transformers`, must give
the same per-token NLL as our engine: fp32 max abs diff <= 1e-4, fp16 max relative diff <= 2e-2.
Usage (GPU machine, with torch + transformers):
  node bin/run-ts tools/gpu-check/dump-nll.ts /tmp/gpucheck --provider cuda
  python3 tools/gpu-check/compare_transformers.py /tmp/gpucheck/ours.json [--device cuda]
Exit status 1 when any check fails. Prints one line per case and dtype.
"""
import argparse, json, sys
import torch
from transformers import AutoModelForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("ours")
ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
args = ap.parse_args()
doc = json.load(open(args.ours))
B, S = doc["batch"], doc["seqLen"]
ids = torch.tensor(doc["ids"], dtype=torch.long).view(B, S).to(args.device)
ok = True
print(f"device {args.device}; torch {torch.__version__}")
for name, case in doc["cases"].items():
    for dtype, tdt in (("float32", torch.float32), ("float16", torch.float16)):
        if dtype not in case:
            continue
        # eager attention: no fused kernels, the plainest comparison
        m = AutoModelForCausalLM.from_pretrained(case["dir"], torch_dtype=tdt, attn_implementation="eager").to(args.device).eval()
        with torch.no_grad():
            logits = m(input_ids=ids).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        ref = -logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1).flatten().cpu()
        got = torch.tensor(case[dtype]["nll"], dtype=torch.float32)
        absd = (got - ref).abs()
        if dtype == "float32":
            passed = absd.max().item() <= 1e-4
            figure = f"max abs {absd.max().item():.2e} (<= 1e-4)"
        else:
            rel = absd / ref.abs().clamp_min(1e-6)
            passed = rel.max().item() <= 2e-2
            figure = f"max rel {rel.max().item():.2e} (<= 2e-2), max abs {absd.max().item():.2e}"
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'} {name:12s} {dtype:8s} ours on {case[dtype]['provider']}: {figure}; mean NLL ours {got.mean():.5f} torch {ref.mean():.5f}")
sys.exit(0 if ok else 1)
