#!/usr/bin/env python3
"""
Issue 3, "A Hugging Face model folder, as written by transformers 4.x or 5.x": let the transformers installed here
write the GPU check's tiny checkpoints itself (save_pretrained, bf16 weights: config.json in its own version's layout,
model.safetensors as it names and ties tensors), and record its per-token NLL of those bf16 weights computed in fp32
on the CPU — what our CPU graph computes — in expected.json beside them. The folders become CI fixtures.
Usage: python3 tools/gpu-check/save_pretrained.py <gpucheck dir>   (writes <case>/saved-bf16/)
"""
import json, os, sys
import torch
import transformers
from transformers import AutoModelForCausalLM

root = sys.argv[1]
for name in sorted(os.listdir(root)):
    d = os.path.join(root, name)
    if not os.path.exists(os.path.join(d, "config.json")):
        continue
    out = os.path.join(d, "saved-bf16")
    m = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32, attn_implementation="eager").to(torch.bfloat16)
    m.save_pretrained(out)
    ids = torch.tensor([[(i * 131 + 7) % 256 for i in range(24)]] * 2, dtype=torch.long)
    m = AutoModelForCausalLM.from_pretrained(out, torch_dtype=torch.bfloat16, attn_implementation="eager").float().eval()
    with torch.no_grad():
        lp = torch.log_softmax(m(input_ids=ids).logits.double()[:, :-1], dim=-1)
    nll = (-lp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)).flatten().tolist()
    json.dump({"ids": ids.flatten().tolist(), "batch": 2, "seqLen": 24, "nll_bf16_weights_fp32": nll,
               "torch": torch.__version__, "transformers": transformers.__version__}, open(os.path.join(out, "expected.json"), "w"))
    print(name, "saved", sorted(os.listdir(out)), "transformers", transformers.__version__)
