#!/usr/bin/env python3
"""
Builds the benchmark model on the GPU machine (too big to carry): a LLaMA-style model with the paper's 0.1B
shape (d_h 768, 16 layers, d_f 1920, head_dim 64 x 12 heads), seeded random weights (std 0.02, as HF's
init) saved as HF safetensors in fp16, and a token stream of seeded ids. Both our engine and the PyTorch
reference read exactly these files.
"""
import argparse, json, os
import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--act", default="relu", choices=["relu", "silu"])
ap.add_argument("--vocab", type=int, default=4096)
ap.add_argument("--n-tokens", type=int, default=1 << 20)
ap.add_argument("--seed", type=int, default=0)
args = ap.parse_args()
torch.manual_seed(args.seed)
cfg = LlamaConfig(vocab_size=args.vocab, hidden_size=768, intermediate_size=1920, num_hidden_layers=16,
                  num_attention_heads=12, num_key_value_heads=12, max_position_embeddings=2048,
                  hidden_act=args.act, tie_word_embeddings=False, rms_norm_eps=1e-5, rope_theta=10000.0)
m = LlamaForCausalLM(cfg).half()
os.makedirs(args.out, exist_ok=True)
m.save_pretrained(args.out, safe_serialization=True)
rng = np.random.default_rng(args.seed)
# A Zipf-like stream so token frequencies are not uniform (closer to text than uniform ids).
ids = np.minimum(rng.zipf(1.2, size=args.n_tokens) - 1, args.vocab - 1).astype(np.int32)
np.save(os.path.join(args.out, "tokens.npy"), ids)
ids.tofile(os.path.join(args.out, "tokens.i32"))
print(json.dumps({"out": args.out, "params": sum(p.numel() for p in m.parameters()), "tokens": int(len(ids))}))
