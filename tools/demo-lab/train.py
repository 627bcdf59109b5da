#!/usr/bin/env python3
"""Train the demo-lab model series (issue 9, step 3): tiny LLaMA-style decoders, ReLU vs SiLU.

Works with PyTorch 1.13 (CPU, Debian python3-torch, for smoke tests) and 2.x (CUDA, the GPU machine).
Every model is a LLaMA block stack (RMSNorm, RoPE, MHA, gated FFN W_down[act(W_gate x) * (W_up x)]),
d_f = 2.5 d_h (Sparsing Law setting, arXiv 2411.02335, Sec. 3), head_dim 32 (16 in the width-depth series), tied
input/output embeddings (tie_word_embeddings: true, to keep the shipped files small), context 256.
Output checkpoints are HF folders (config.json with model_type llama, fp16 model.safetensors,
tokenizer.json, tokenizer_config.json) that transformers' LlamaForCausalLM loads; --verify-hf checks
that it reproduces this script's eval loss.

Learning-rate schedule: linear warm-up then CONSTANT, so that every intermediate checkpoint is a
model "in the stable phase" and the series over tokens seen is comparable (cf. the paper's use of
WSD checkpoints); no decay phase.

Usage: see tools/demo-lab/README.md. Quick CPU smoke test:
  /usr/bin/python3 tools/demo-lab/train.py --data tools/demo-lab/work/tokenizer \
      --out /tmp/demo-smoke --only relu-64x2 --steps 20 --batch 4 --eval-windows 8
"""
from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONTEXT = 256
VOCAB = 4096
EOT_ID = 0

# name -> (activation, d_h, L, head_dim, keep all 8 checkpoints?)
SCALES = [(64, 2), (96, 3), (128, 4)]  # d_h / L = 32 for all three
PLAN = {}
for act in ("relu", "silu"):
    for d, L in SCALES:
        PLAN[f"{act}-{d}x{L}"] = (act, d, L, 32, True)
# ReLU width-depth series: non-embedding parameters L * 11.5 * d^2 within 8% of the 96x3 model's
# (317,952); d_h/L from 4 to 160. Only the final checkpoint is kept.
for d, L in [(48, 12), (64, 7), (80, 4), (96, 3), (160, 1)]:
    PLAN[f"wd-relu-{d}x{L}"] = ("relu", d, L, 16, False)


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class Attention(nn.Module):
    def __init__(self, d: int, hd: int):
        super().__init__()
        self.h, self.hd = d // hd, hd
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q, k, v = (p(x).view(B, T, self.h, self.hd).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        q = q * cos + rotate_half(q) * sin  # HF LLaMA rotary convention (rotate_half, not interleaved)
        k = k * cos + rotate_half(k) * sin
        if hasattr(F, "scaled_dot_product_attention"):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # torch 1.13
            att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
            y = att.masked_fill(mask, float("-inf")).softmax(-1) @ v
        return self.o_proj(y.transpose(1, 2).reshape(B, T, -1))


class MLP(nn.Module):
    def __init__(self, d: int, f: int, act: str):
        super().__init__()
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)
        self.act = F.relu if act == "relu" else F.silu

    def forward(self, x):
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, d, f, hd, act):
        super().__init__()
        self.input_layernorm = RMSNorm(d)
        self.self_attn = Attention(d, hd)
        self.post_attention_layernorm = RMSNorm(d)
        self.mlp = MLP(d, f, act)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Inner(nn.Module):
    def __init__(self, d, L, f, hd, act):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, d)
        self.layers = nn.ModuleList(Layer(d, f, hd, act) for _ in range(L))
        self.norm = RMSNorm(d)


class Llama(nn.Module):
    """Parameter names = HF LlamaForCausalLM names (model.*), lm_head tied to model.embed_tokens."""

    def __init__(self, act: str, d: int, L: int, hd: int):
        super().__init__()
        self.act, self.d, self.L, self.hd, self.f = act, d, L, hd, int(2.5 * d)
        self.model = Inner(d, L, self.f, hd, act)
        inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2).float() / hd))
        fr = torch.outer(torch.arange(CONTEXT).float(), inv)
        emb = torch.cat((fr, fr), dim=-1)
        self.register_buffer("cos", emb.cos()[None, None], persistent=False)
        self.register_buffer("sin", emb.sin()[None, None], persistent=False)
        for n, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.model.embed_tokens(idx)
        cos, sin = self.cos[:, :, :T].to(x.dtype), self.sin[:, :, :T].to(x.dtype)
        for layer in self.model.layers:
            x = layer(x, cos, sin)
        return F.linear(self.model.norm(x), self.model.embed_tokens.weight)

    def non_embedding_params(self) -> int:
        return sum(p.numel() for n, p in self.named_parameters() if "embed_tokens" not in n)


# ---------------------------------------------------------------- saving (HF format)

def save_safetensors(tensors: dict, path: str) -> None:
    """The safetensors lib when present (GPU machine); else the same format by hand (8-byte LE header
    length, JSON header with dtype/shape/data_offsets, raw little-endian data)."""
    try:
        from safetensors.torch import save_file
        save_file(tensors, path, metadata={"format": "pt"})
        return
    except ImportError:
        pass
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous().cpu()
        b = t.numpy().tobytes()
        header[name] = {"dtype": "F16", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def save_checkpoint(model: Llama, folder: str, data: str, info: dict) -> None:
    os.makedirs(folder, exist_ok=True)
    sd = {n: p.detach().to(torch.float16) for n, p in model.named_parameters()}
    save_safetensors(sd, os.path.join(folder, "model.safetensors"))
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": model.d, "intermediate_size": model.f, "num_hidden_layers": model.L,
        "num_attention_heads": model.d // model.hd, "num_key_value_heads": model.d // model.hd,
        "head_dim": model.hd, "hidden_act": model.act, "max_position_embeddings": CONTEXT,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": None, "vocab_size": VOCAB,
        "tie_word_embeddings": True, "attention_bias": False, "attention_dropout": 0.0,
        "mlp_bias": False, "bos_token_id": None, "eos_token_id": EOT_ID, "pad_token_id": None,
        "initializer_range": 0.02, "torch_dtype": "float16", "dtype": "float16", "use_cache": True,
        "demo_lab": info,
    }
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        with open(os.path.join(data, name), "rb") as src, open(os.path.join(folder, name), "wb") as dst:
            dst.write(src.read())


# ---------------------------------------------------------------- data and loop

def load_u16(path: str) -> torch.Tensor:
    if not os.path.exists(path):
        sys.exit(f"train.py: {path} is missing (run build_tokenizer.mjs)")
    raw = open(path, "rb").read()
    if len(raw) % 2:
        sys.exit(f"train.py: {path} has an odd byte count; not a uint16 token file")
    t = torch.frombuffer(bytearray(raw), dtype=torch.int16).to(torch.int64) & 0xFFFF
    if int(t.max()) >= VOCAB:
        sys.exit(f"train.py: {path} holds token id {int(t.max())} >= vocab {VOCAB}")
    return t


@torch.no_grad()
def eval_loss(model: Llama, windows: torch.Tensor, dev, amp) -> float:
    """Mean next-token cross-entropy (nats) over non-overlapping 256-token windows of eval.u16."""
    model.eval()
    tot, n = 0.0, 0
    for i in range(0, windows.shape[0], 128):
        w = windows[i:i + 128].to(dev)
        with amp():
            logits = model(w[:, :-1])
        tot += F.cross_entropy(logits.float().reshape(-1, VOCAB), w[:, 1:].reshape(-1), reduction="sum").item()
        n += w[:, 1:].numel()
    model.train()
    return tot / n


def checkpoint_steps(total: int, n: int = 8, span: float = 16.0) -> list[int]:
    """n steps spaced geometrically from total/span to total (tokens seen grow by span^(1/(n-1)))."""
    return sorted({max(1, round(total * span ** (-(n - 1 - k) / (n - 1)))) for k in range(n)})


def train_one(name: str, a, train_ids, eval_windows, dev) -> dict:
    act, d, L, hd, keep_all = PLAN[name]
    torch.manual_seed(a.seed)
    model = Llama(act, d, L, hd).to(dev)
    cuda = dev.type == "cuda"
    amp = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else (lambda: torch.autocast("cpu", enabled=False))
    decay = [p for p in model.parameters() if p.dim() == 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    kw = {"fused": True} if cuda and "fused" in torch.optim.AdamW.__init__.__code__.co_varnames else {}
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), **kw)
    steps = a.steps
    warm = max(1, steps // 20)
    ckpts = checkpoint_steps(steps) if keep_all else [steps]
    g = torch.Generator().manual_seed(a.seed)  # same data order for every model
    tokens_per_step = a.batch * CONTEXT
    curve, log_acc, t0 = [], [], time.time()
    out_series = os.path.join(a.out, "checkpoints", name)
    saved = []
    for step in range(1, steps + 1):
        for gr in opt.param_groups:
            gr["lr"] = a.lr * min(1.0, step / warm)
        starts = torch.randint(0, train_ids.numel() - CONTEXT - 1, (a.batch,), generator=g)
        x = torch.stack([train_ids[s:s + CONTEXT + 1] for s in starts.tolist()]).to(dev, non_blocking=True)
        with amp():
            logits = model(x[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, VOCAB), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        log_acc.append(loss.detach())
        if step % a.log_every == 0 or step == steps:
            curve.append([step, step * tokens_per_step, round(torch.stack(log_acc).mean().item(), 4)])
            log_acc = []
        if step in ckpts:
            el = eval_loss(model, eval_windows, dev, amp)
            tl = round(torch.stack(log_acc).mean().item(), 4) if log_acc else curve[-1][2]
            info = {"series": name, "step": step, "tokens_seen": step * tokens_per_step, "seed": a.seed,
                    "train_loss_recent": tl, "eval_loss": round(el, 4),
                    "lr": a.lr, "batch_tokens": tokens_per_step, "schedule": "linear warm-up then constant"}
            save_checkpoint(model, os.path.join(out_series, f"{step:06d}"), a.data, info)
            saved.append(info)
            print(f"{name} step {step} tokens {step * tokens_per_step} train {tl} eval {el:.4f} "
                  f"({time.time() - t0:.1f}s)", flush=True)
    res = {"series": name, "activation": act, "hidden_size": d, "layers": L, "head_dim": hd,
           "intermediate_size": int(2.5 * d), "non_embedding_params": model.non_embedding_params(),
           "params": sum(p.numel() for p in model.parameters()), "width_depth_ratio": d / L,
           "train_curve": curve, "checkpoints": saved, "seconds": round(time.time() - t0, 1)}
    with open(os.path.join(out_series, "metrics.json"), "w") as f:
        json.dump(res, f, indent=1)
    return res


def verify_hf(folder: str, eval_windows: torch.Tensor, dev) -> dict:
    """Load the checkpoint with transformers' LlamaForCausalLM and compare its eval loss (fp32) with
    this script's model on the same fp16 weights."""
    from transformers import LlamaForCausalLM
    try:
        hf = LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32)
    except TypeError:  # transformers < 4.56
        hf = LlamaForCausalLM.from_pretrained(folder, torch_dtype=torch.float32)
    hf = hf.to(dev).eval()
    cfg = json.load(open(os.path.join(folder, "config.json")))
    ours = Llama(cfg["hidden_act"], cfg["hidden_size"], cfg["num_hidden_layers"], cfg["head_dim"]).to(dev)
    sd = {k: v.float() for k, v in hf.state_dict().items() if k in dict(ours.named_parameters())}
    ours.load_state_dict(sd, strict=False)
    w = eval_windows[:64].to(dev)
    with torch.no_grad():
        a = F.cross_entropy(hf(w[:, :-1]).logits.float().reshape(-1, VOCAB), w[:, 1:].reshape(-1)).item()
        b = F.cross_entropy(ours(w[:, :-1]).float().reshape(-1, VOCAB), w[:, 1:].reshape(-1)).item()
    return {"folder": folder, "hf_loss": round(a, 6), "ours_loss": round(b, 6), "abs_diff": abs(a - b)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="folder with train.u16, eval.u16, tokenizer.json, tokenizer_config.json")
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default="", help="comma-separated series names (default: all)")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=64, help="sequences of 256 tokens per step")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--eval-windows", type=int, default=0, help="0: all of eval.u16")
    ap.add_argument("--verify-hf", action="store_true")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    names = [n for n in a.only.split(",") if n] or list(PLAN)
    for n in names:
        if n not in PLAN:
            sys.exit(f"train.py: unknown series '{n}'; known: {', '.join(PLAN)}")
    dev = torch.device(a.device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    train_ids = load_u16(os.path.join(a.data, "train.u16"))
    ev = load_u16(os.path.join(a.data, "eval.u16"))
    nw = ev.numel() // (CONTEXT + 1)
    eval_windows = ev[: nw * (CONTEXT + 1)].view(nw, CONTEXT + 1)
    if a.eval_windows:
        eval_windows = eval_windows[: a.eval_windows]
    results = {}
    for n in names:
        results[n] = train_one(n, a, train_ids, eval_windows, dev)
    if a.verify_hf:
        checks = []
        for n in names:
            last = results[n]["checkpoints"][-1]["step"]
            folder = os.path.join(a.out, "checkpoints", n, f"{last:06d}")
            try:
                checks.append(verify_hf(folder, eval_windows, dev))
            except Exception as e:  # report, never lose the trained checkpoints over it
                checks.append({"folder": folder, "error": f"{type(e).__name__}: {e}"})
            print(json.dumps(checks[-1]), flush=True)
        results["verify_hf"] = checks
    tag = a.only.replace(",", "+") or "all"
    with open(os.path.join(a.out, f"results-{tag}.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
