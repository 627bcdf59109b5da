#!/usr/bin/env python3
"""
Issue 15's big checkpoints, built on the GPU machine (too big to carry): random init (HF's std 0.02) on the GPU in
fp16, written by transformers' save_pretrained in safetensors shards, plus a seeded Zipf-like token stream (as
bench/reference/make_model.py).
  --shape 7b    LLaMA-2-7B: d 4096, 32 layers, d_f 11008, 32 heads, vocab 32000, SiLU, untied (13.5 GB)
  --shape 2.4b  the paper's 2.4B, llama-typed: d 2304, 40 layers, d_f 5760, 36 heads of 64, vocab 122753, ReLU,
                tied embeddings (4.9 GB: the size where the old graph cache failed)
  --shape 1b    a 1.1B LLaMA (TinyLlama's shape): d 2048, 22 layers, d_f 5632, 32 heads, 4 KV heads, vocab 32000, SiLU,
                untied; with --dtype float32 (4.4 GB) for issue 15's 16-core CPU measurement
  --shape tiny  d 64, 2 layers, d_f 160, 4 heads, vocab 512: the script paths tested without a GPU (--device cpu)
"""
import argparse, json, os, time
import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

SHAPES = {
    "7b": dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=32, hidden_act="silu", tie_word_embeddings=False),
    "1b": dict(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
               num_key_value_heads=4, hidden_act="silu", tie_word_embeddings=False),
    "tiny": dict(vocab_size=512, hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=4, hidden_act="silu", tie_word_embeddings=False),
    "2.4b": dict(vocab_size=122753, hidden_size=2304, intermediate_size=5760, num_hidden_layers=40, num_attention_heads=36,
                 num_key_value_heads=36, hidden_act="relu", tie_word_embeddings=True),
}
ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--shape", required=True, choices=SHAPES)
ap.add_argument("--n-tokens", type=int, default=1 << 16)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--dtype", default="float16", choices=["float16", "float32"])
ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
args = ap.parse_args()
t0 = time.time()
torch.manual_seed(args.seed)
cfg = LlamaConfig(max_position_embeddings=4096, rms_norm_eps=1e-5, rope_theta=10000.0, **SHAPES[args.shape])
dt = getattr(torch, args.dtype)
torch.set_default_dtype(dt)
with torch.device(args.device):
    m = LlamaForCausalLM(cfg)
m = m.to(dt).eval()
os.makedirs(args.out, exist_ok=True)
m.save_pretrained(args.out, safe_serialization=True, max_shard_size="5GB")
rng = np.random.default_rng(args.seed)
ids = np.minimum(rng.zipf(1.2, size=args.n_tokens) - 1, cfg.vocab_size - 1).astype(np.int32)
np.save(os.path.join(args.out, "tokens.npy"), ids)
ids.tofile(os.path.join(args.out, "tokens.i32"))
files = sorted(f for f in os.listdir(args.out) if f.endswith(".safetensors"))
print(json.dumps({"out": args.out, "shape": args.shape, "dtype": args.dtype, "params": sum(p.numel() for p in m.parameters()), "shards": files,
                  "bytes": sum(os.path.getsize(os.path.join(args.out, f)) for f in files), "tokens": int(len(ids)), "seconds": round(time.time() - t0, 1)}))
