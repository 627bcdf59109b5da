#!/usr/bin/env python3
"""Independent sanity check, not the app's method: the fraction of FFN gate activations that are
exactly zero (ReLU) per checkpoint, on the first N 256-token windows of eval.u16, with train.py's
own model code. The app's CETT-PPL-1% numbers come from build_session.sh; this only shows whether the
'ReLU gets sparser with data' trend is there at all. Usage:
  /usr/bin/python3 tools/demo-lab/relu_zeros.py tools/demo-lab/work/checkpoints/relu-64x2 [...] --windows 16
"""
import argparse, json, os, struct, sys
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train  # noqa: E402

DT = {"F16": torch.float16, "F32": torch.float32, "BF16": torch.bfloat16}


def load_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = torch.frombuffer(bytearray(raw[8 + n + a:8 + n + b]), dtype=DT[v["dtype"]]).view(v["shape"]).float()
    return out


def zero_fraction(folder, windows):
    c = json.load(open(os.path.join(folder, "config.json")))
    m = train.Llama(c["hidden_act"], c["hidden_size"], c["num_hidden_layers"], c["head_dim"])
    m.load_state_dict(load_safetensors(os.path.join(folder, "model.safetensors")), strict=True)
    m.eval()
    acts = []
    hooks = [l.mlp.gate_proj.register_forward_hook(lambda mod, i, o: acts.append(o)) for l in m.model.layers]
    with torch.no_grad():
        m(windows[:, :-1])
    for h in hooks:
        h.remove()
    return c["demo_lab"]["tokens_seen"], sum(float((a <= 0).float().mean()) for a in acts) / len(acts)


ap = argparse.ArgumentParser()
ap.add_argument("series", nargs="+")
ap.add_argument("--eval", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "work/gpu-data/eval.u16"))
ap.add_argument("--windows", type=int, default=16)
a = ap.parse_args()
ev = train.load_u16(a.eval)
nw = ev.numel() // 257
w = ev[: nw * 257].view(nw, 257)
w = w[torch.linspace(0, nw - 1, a.windows).long()]  # spread over Moby Dick and the speeches
for s in a.series:
    for step in sorted(x for x in os.listdir(s) if os.path.isdir(os.path.join(s, x))):
        t, z = zero_fraction(os.path.join(s, step), w)
        print(f"{os.path.basename(s)}\t{t}\t{1 - z:.4f}", flush=True)
