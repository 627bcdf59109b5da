#!/usr/bin/env python3
"""
Issue 17, "independent references": references written by code that shares nothing with ours, for CI to check the
checkpoint loader and the ONNX graph against (main/checkpoint/independent-refs.test.ts reads them).

For every supported family this writes a tiny checkpoint with `transformers` itself (config.json in the installed
version's layout, model.safetensors as it names and ties tensors, float32 weights, large enough random weights that the
output is far from uniform) and its per-token NLL on a small committed token set, computed by transformers in float64
on the CPU. transformers has no MiniCPM class offline, so MiniCPM (the paper's µP family: embeddings × scale_emb, each
residual branch × scale_depth/√L, logits of h / (hidden_size / dim_model_base)) is a small PyTorch forward written here
from the authors' modeling_minicpm.py, with the weight names and config.json of their checkpoints.

For one gated SiLU and one gated ReLU LLaMA it also runs the PyTorch reference of the authors' CETT-PPL-p% algorithm
(bench/reference/sparsing_law_reference.py: per-batch dense pass, per-layer threshold bisection over 65,536
candidates, sparse pass, PPL ratio averaged over batches) at p = 1% in float32, and keeps its CETT, per-batch-mean
thresholds, activation ratio and PPL ratio.

Usage (GPU machine, PyTorch + transformers 5.x; the NLL part runs on the CPU, the CETT reference needs CUDA):
  python3 tools/gpu-check/independent_refs.py <outdir>
Writes <outdir>/tokens.json, <outdir>/<case>/{config.json, model.safetensors, expected.json},
<outdir>/<case>/cett-p1.json for the two CETT cases. About 300 KB in all, well under a minute.
"""
import json, math, os, subprocess, sys, tempfile
import numpy as np
import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM

OUT = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "..", "..", "bench", "reference", "sparsing_law_reference.py")
V, H, F, L, HEADS, KV, S, NSEQ = 64, 16, 40, 2, 4, 2, 32, 4
os.makedirs(OUT, exist_ok=True)

# the committed token set: 4 sequences of 32 ids, fixed by a seeded generator (stored, so nothing depends on numpy's RNG)
g = np.random.default_rng(1711)
ids = g.integers(3, V, size=(NSEQ, S)).astype(np.int64)
json.dump({"vocab": V, "seqLen": S, "sequences": NSEQ, "ids": ids.flatten().tolist()}, open(os.path.join(OUT, "tokens.json"), "w"))
IDS = torch.from_numpy(ids)

common = dict(vocab_size=V, max_position_embeddings=64, bos_token_id=1, eos_token_id=2, pad_token_id=0)
llama_like = dict(hidden_size=H, intermediate_size=F, num_hidden_layers=L, num_attention_heads=HEADS, num_key_value_heads=KV,
                  rms_norm_eps=1e-5, tie_word_embeddings=False)
CASES = {
    "llama-silu": ("llama", dict(llama_like, hidden_act="silu")),
    "llama-relu": ("llama", dict(llama_like, hidden_act="relu")),
    "mistral": ("mistral", dict(llama_like, hidden_act="silu", sliding_window=None)),
    "qwen2": ("qwen2", dict(llama_like, hidden_act="silu")),
    "qwen3": ("qwen3", dict(llama_like, hidden_act="silu", head_dim=8)),
    "opt": ("opt", dict(hidden_size=H, ffn_dim=F, num_hidden_layers=L, num_attention_heads=HEADS, word_embed_proj_dim=H,
                        do_layer_norm_before=True, activation_function="relu", enable_bias=True)),
    "gpt_neox": ("gpt_neox", dict(hidden_size=H, intermediate_size=F, num_hidden_layers=L, num_attention_heads=2,
                                  rotary_pct=0.5, use_parallel_residual=True, hidden_act="gelu", tie_word_embeddings=False)),
    "gpt2": ("gpt2", dict(n_embd=H, n_inner=F, n_layer=L, n_head=HEADS, n_positions=64, activation_function="gelu_new")),
}


def randomize(model, seed):
    """Weights far from the tiny default init (std 0.02 gives near-uniform logits, a weak test): matrices N(0, 0.35²),
    norm weights 1 + N(0, 0.1²), biases N(0, 0.1²)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            if p.dim() >= 2:
                p.copy_(r * 0.35)
            elif name.endswith("bias"):
                p.copy_(0.1 * r)
            else:  # the only 1-D weights of these models are norm weights
                p.copy_(1 + 0.1 * r)


def nll_of(logits):
    lp = torch.log_softmax(logits.double()[:, :-1], dim=-1)
    return (-lp.gather(-1, IDS[:, 1:].unsqueeze(-1)).squeeze(-1)).flatten().tolist()


def write_case(seed, case, mt, kw):
    d = os.path.join(OUT, case)
    cfg = AutoConfig.for_model(mt, **common, **kw)
    rp = getattr(cfg, "rope_parameters", None)
    if mt == "gpt_neox" and isinstance(rp, dict):  # 5.x keeps the rotary fraction in rope_parameters
        rp["partial_rotary_factor"] = kw["rotary_pct"]
    try:
        m = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    except TypeError:
        m = AutoModelForCausalLM.from_config(cfg)
    m = m.float()
    randomize(m, 100 + seed)
    m.save_pretrained(d)
    # the NLL of the saved folder as transformers reads it back, in float64 on the CPU
    r = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32, attn_implementation="eager").double().eval()
    with torch.no_grad():
        nll = nll_of(r(input_ids=IDS).logits)
    json.dump({"family": mt, "seqLen": S, "sequences": NSEQ, "nll_float64": nll, "writer": "transformers " + transformers.__version__,
               "torch": torch.__version__}, open(os.path.join(d, "expected.json"), "w"))
    print(case, "mean NLL", float(np.mean(nll)), sorted(os.listdir(d)))


for seed, (case, (mt, kw)) in enumerate(sorted(CASES.items())):
    try:
        write_case(seed, case, mt, kw)
    except Exception as e:  # one family's failure must not cost the others
        print(case, "FAILED:", repr(e))


# ---- MiniCPM (µP), after the authors' modeling_minicpm.py -------------------------------------------------------
class MiniCPM(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        hd = c["hidden_size"] // c["num_attention_heads"]
        lin = lambda i, o: torch.nn.Linear(i, o, bias=False)
        self.embed = torch.nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = torch.nn.ModuleList()
        for _ in range(c["num_hidden_layers"]):
            ly = torch.nn.Module()
            ly.q, ly.k, ly.v = lin(H, HEADS * hd), lin(H, c["num_key_value_heads"] * hd), lin(H, c["num_key_value_heads"] * hd)
            ly.o = lin(HEADS * hd, H)
            ly.gate, ly.up, ly.down = lin(H, c["intermediate_size"]), lin(H, c["intermediate_size"]), lin(c["intermediate_size"], H)
            ly.ln_in = torch.nn.Parameter(torch.ones(H))
            ly.ln_post = torch.nn.Parameter(torch.ones(H))
            self.layers.append(ly)
        self.norm = torch.nn.Parameter(torch.ones(H))
        self.lm_head = lin(H, c["vocab_size"])

    def rms(self, x, w):
        # modeling_minicpm.rms_layernorm: x · rsqrt(mean(x²) + eps) · w
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.c["rms_norm_eps"]) * w

    def state(self):
        sd = {"model.embed_tokens.weight": self.embed.weight, "model.norm.weight": self.norm, "lm_head.weight": self.lm_head.weight}
        for i, ly in enumerate(self.layers):
            p = f"model.layers.{i}."
            sd.update({p + "self_attn.q_proj.weight": ly.q.weight, p + "self_attn.k_proj.weight": ly.k.weight,
                       p + "self_attn.v_proj.weight": ly.v.weight, p + "self_attn.o_proj.weight": ly.o.weight,
                       p + "mlp.gate_proj.weight": ly.gate.weight, p + "mlp.up_proj.weight": ly.up.weight,
                       p + "mlp.down_proj.weight": ly.down.weight, p + "input_layernorm.weight": ly.ln_in,
                       p + "post_attention_layernorm.weight": ly.ln_post})
        return {k: v.detach().float().contiguous() for k, v in sd.items()}

    def forward(self, ids):
        c = self.c
        B, T = ids.shape
        nh, nkv = c["num_attention_heads"], c["num_key_value_heads"]
        hd = c["hidden_size"] // nh
        act = {"silu": torch.nn.functional.silu, "relu": torch.relu}[c["hidden_act"]]
        # rotary (LLaMA's rotate_half form), positions 0..T-1
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        fr = torch.outer(torch.arange(T, dtype=torch.float64), inv)
        emb = torch.cat([fr, fr], dim=-1)
        cos, sin = emb.cos().to(self.norm.dtype), emb.sin().to(self.norm.dtype)
        rot = lambda x: torch.cat([-x[..., hd // 2:], x[..., : hd // 2]], dim=-1)
        mask = torch.full((T, T), float("-inf"), dtype=self.norm.dtype).triu(1)
        branch = c["scale_depth"] / math.sqrt(c["num_hidden_layers"])
        x = self.embed(ids) * c["scale_emb"]
        for ly in self.layers:
            h = self.rms(x, ly.ln_in)
            q = ly.q(h).view(B, T, nh, hd).transpose(1, 2)
            k = ly.k(h).view(B, T, nkv, hd).transpose(1, 2)
            v = ly.v(h).view(B, T, nkv, hd).transpose(1, 2)
            q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
            k, v = k.repeat_interleave(nh // nkv, dim=1), v.repeat_interleave(nh // nkv, dim=1)
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, dim=-1) @ v
            x = x + ly.o(a.transpose(1, 2).reshape(B, T, nh * hd)) * branch
            h = self.rms(x, ly.ln_post)
            x = x + ly.down(act(ly.gate(h)) * ly.up(h)) * branch
        x = self.rms(x, self.norm)
        return self.lm_head(x / (c["hidden_size"] / c["dim_model_base"]))


from safetensors.torch import save_file

for act_name in ("silu", "relu"):
    case = f"minicpm-{act_name}"
    mc = {"architectures": ["MiniCPMForCausalLM"], "model_type": "minicpm", "hidden_size": H, "intermediate_size": F,
          "num_hidden_layers": L, "num_attention_heads": HEADS, "num_key_value_heads": KV, "vocab_size": V,
          "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": act_name,
          "scale_emb": 12, "scale_depth": 1.4, "dim_model_base": 8, "tie_word_embeddings": False,
          "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32"}
    torch.manual_seed(0)
    mm = MiniCPM(mc)
    randomize(mm, 200 + len(act_name))
    d = os.path.join(OUT, case)
    os.makedirs(d, exist_ok=True)
    json.dump(mc, open(os.path.join(d, "config.json"), "w"), indent=2)
    save_file(mm.state(), os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    with torch.no_grad():
        nll = nll_of(mm.double()(IDS))
    json.dump({"family": "minicpm", "seqLen": S, "sequences": NSEQ, "nll_float64": nll,
               "writer": "tools/gpu-check/independent_refs.py MiniCPM (after modeling_minicpm.py)", "torch": torch.__version__},
              open(os.path.join(d, "expected.json"), "w"))
    print(case, "mean NLL", float(np.mean(nll)))

# ---- CETT-PPL-1% by the PyTorch reference of the authors' algorithm ----------------------------------------------
if not torch.cuda.is_available():
    print("no CUDA: the CETT-PPL reference (bench/reference/sparsing_law_reference.py needs CUDA) was not run")
else:
    with tempfile.TemporaryDirectory() as tmp:
        npy = os.path.join(tmp, "tokens.npy")
        np.save(npy, ids.flatten().astype(np.int32))
        for case in ("llama-silu", "llama-relu"):
            out = os.path.join(OUT, case, "cett-p1.json")
            cmd = [sys.executable, REFERENCE, "--model", os.path.join(OUT, case), "--tokens", npy, "--n-tokens", str(NSEQ * S),
                   "--seq-len", str(S), "--batch", "2", "--p", "1", "--tol", "1e-3", "--dtype", "float32", "--out", out]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                print(case, "CETT reference FAILED:", p.stderr[-2000:])
                continue
            res = json.load(open(out))
            keep = {k: res[k] for k in ("impl", "dtype", "tokens", "seqLen", "batch", "p", "tol", "cett", "outerSteps",
                                         "pplRatio", "activationRatio", "thresholds") if k in res}
            keep["command"] = "bench/reference/sparsing_law_reference.py " + " ".join(cmd[2:]).replace(OUT, "<fixture>").replace(npy, "<tokens.json ids as int32 .npy>")
            json.dump(keep, open(out, "w"), indent=1)
            print(case, "CETT-PPL-1%:", json.dumps({k: keep[k] for k in ("cett", "activationRatio", "pplRatio")}))
total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
print(f"wrote {OUT}: {total / 1024:.0f} KB")
