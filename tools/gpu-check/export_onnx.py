#!/usr/bin/env python3
"""
Issue 3, "An ONNX file (for example from an optimum export …)": export the GPU check's tiny checkpoints with
PyTorch's own ONNX exporter (what optimum drives underneath), so our ONNX-file path (pattern-found FFN blocks) is
tested on real exporter output rather than on graphs we built ourselves.
Writes <case>/onnx/{config,tokenizer}.json, expected.json (transformers' per-token NLL, fp64 and fp32 on the CPU),
<case>/onnx/model.onnx (fp32, CPU export) and, with CUDA, <case>/onnx/model_fp16.onnx (fp16, CUDA export):
inputs input_ids + attention_mask (int64, dynamic batch and sequence), output logits — optimum's decoder export
without a KV cache. Tries the TorchScript exporter (dynamo=False, optimum's) first, then dynamo=True.
Usage: python3 tools/gpu-check/export_onnx.py <gpucheck dir>
"""
import json, os, shutil, sys
import torch
from transformers import AutoModelForCausalLM


class Logits(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask):
        return self.m(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits


root = sys.argv[1]
report = {}
for name in sorted(os.listdir(root)):
    d = os.path.join(root, name)
    if not os.path.exists(os.path.join(d, "config.json")):
        continue
    os.makedirs(os.path.join(d, "onnx"), exist_ok=True)
    # as optimum lays out an export: config and tokenizer files beside model.onnx
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        if os.path.exists(os.path.join(d, f)):
            shutil.copy(os.path.join(d, f), os.path.join(d, "onnx", f))
    # the expected per-token NLL for a CI test of the exported files (transformers, fp64 and fp32 on the CPU)
    ids = torch.tensor([[(i * 131 + 7) % 256 for i in range(24)]] * 2, dtype=torch.long)
    expected = {"ids": ids.flatten().tolist(), "batch": 2, "seqLen": 24, "torch": torch.__version__}
    for label, dt in (("fp64", torch.float64), ("fp32", torch.float32)):
        m = AutoModelForCausalLM.from_pretrained(d, torch_dtype=dt, attn_implementation="eager").eval()
        with torch.no_grad():
            lp = torch.log_softmax(m(input_ids=ids).logits.double()[:, :-1], dim=-1)
        expected[f"nll_{label}"] = (-lp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)).flatten().tolist()
    json.dump(expected, open(os.path.join(d, "onnx", "expected.json"), "w"))
    jobs = [("model.onnx", torch.float32, "cpu")] + ([("model_fp16.onnx", torch.float16, "cuda")] if torch.cuda.is_available() else [])
    for fname, dtype, device in jobs:
        m = AutoModelForCausalLM.from_pretrained(d, torch_dtype=dtype, attn_implementation="eager").to(device).eval()
        ids = torch.tensor([[(i * 131 + 7) % 256 for i in range(24)]] * 2, dtype=torch.long, device=device)
        mask = torch.ones_like(ids)
        out = os.path.join(d, "onnx", fname)
        how = None
        for dynamo in (False, True):
            try:
                kw = dict(input_names=["input_ids", "attention_mask"], output_names=["logits"], opset_version=17 if not dynamo else 18)
                if dynamo:
                    kw["dynamic_shapes"] = ({0: torch.export.Dim("batch"), 1: torch.export.Dim("seq", min=2, max=4096)},) * 2
                else:
                    kw["dynamic_axes"] = {"input_ids": {0: "batch_size", 1: "sequence_length"}, "attention_mask": {0: "batch_size", 1: "sequence_length"}, "logits": {0: "batch_size", 1: "sequence_length"}}
                with torch.no_grad():
                    torch.onnx.export(Logits(m), (ids, mask), out, dynamo=dynamo, **kw)
                how = "dynamo" if dynamo else "torchscript"
                break
            except Exception as e:  # report and try the other exporter
                print(f"{name} {fname}: dynamo={dynamo} failed: {type(e).__name__}: {str(e)[:400]}")
        report[f"{name}/{fname}"] = {"exporter": how, "bytes": os.path.getsize(out) if how else None, "torch": torch.__version__}
        print(f"{name} {fname}: {how} {report[f'{name}/{fname}']['bytes']}")
json.dump(report, open(os.path.join(root, "export-report.json"), "w"), indent=1)
