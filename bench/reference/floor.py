#!/usr/bin/env python3
"""
The hardware floor of issue 10's table: measured matrix-product rates on this GPU for the shapes the CETT
measurement runs (tokens 16,384 = one batch of 16 x 1024; d_h 768; d_f 1920), fp16 / bf16 / fp32 (TF32 off, as
PyTorch's default for matmul). FLOPs of a pass divided by these rates give the floor in BENCHMARKS.md.
"""
import json, time
import torch

torch.backends.cuda.matmul.allow_tf32 = False
T, d, F = 16384, 768, 1920
res = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "shapes": {}}
for dt in (torch.float16, torch.bfloat16, torch.float32):
    for name, (m, k, n) in {"tokens x d_f @ d_f x d_h": (T, F, d), "tokens x d_h @ d_h x d_f": (T, d, F)}.items():
        a = torch.randn(m, k, device="cuda", dtype=dt)
        b = torch.randn(k, n, device="cuda", dtype=dt)
        for _ in range(5):
            a @ b
        torch.cuda.synchronize()
        reps = 50
        t0 = time.time()
        for _ in range(reps):
            a @ b
        torch.cuda.synchronize()
        sec = (time.time() - t0) / reps
        res["shapes"].setdefault(name, {})[str(dt).replace("torch.", "")] = {"ms": sec * 1e3, "tflops": 2 * m * k * n / sec / 1e12}
print(json.dumps(res))
