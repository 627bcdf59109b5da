#!/usr/bin/env python3
"""
A faithful PyTorch reference of the authors' CETT-PPL-p% algorithm (thunlp/SparsingLaw, src/model_utils.py
and src/calc_activation.py), for the benchmark only (runs on the GPU machine; never in CI).

Like the authors' code, every outer bisection step redoes, for every batch, the dense pass, the per-layer
threshold bisection over 65,536 candidates (linspace(min N, q99 of a strided subsample, 65536)) and the sparse
pass; the PPL ratio is exp(loss_sparse - loss_dense) per batch, averaged over batches.

Input: an HF llama folder (config.json + model.safetensors) and a .npy / .bin file of int32 token ids.
Output: JSON with cett, activation ratio, thresholds, PPL ratio, wall time per phase, forward-pass count.
"""
import argparse, json, math, time, types
import numpy as np
import torch
from transformers import LlamaForCausalLM


def patch(model):
    """Monkey-patch every LlamaMLP forward like SparseMiniCPMForCausalLM does (save intermedia, apply mask)."""
    st = types.SimpleNamespace(save=False, sparse=False, inter={}, tau={}, act={})
    for lid, layer in enumerate(model.model.layers):
        mlp = layer.mlp

        def fwd(self, x, lid=lid):
            a = self.act_fn(self.gate_proj(x)) * self.up_proj(x)
            if st.save:
                st.inter[lid] = a.detach().clone()
            if st.sparse:
                mask = a.abs() < st.tau[lid]
                st.act[lid] = 1 - mask.float().mean(dim=-1)
                a = a.masked_fill(mask, 0.0)
            return self.down_proj(a)

        mlp.forward = types.MethodType(fwd, mlp)
    return st


@torch.no_grad()
def thresholds_given_cett(model, st, cett):
    out = []
    for lid, layer in enumerate(model.model.layers):
        w = layer.mlp.down_proj.weight.float()  # [d, F]
        a = st.inter[lid].float().reshape(-1, w.shape[1])  # no padding: every token is real
        norm = a.abs() * w.norm(dim=0)
        n = 65536
        lo_v = norm.min()
        hi_v = norm.view(-1)[:: max(norm.numel() // n, 1)].quantile(0.99)
        cand = torch.linspace(lo_v, hi_v, n, device=a.device)
        x = a @ w.t()
        nx = x.norm(dim=-1)
        left, right = 0, n - 1
        while left < right:
            mid = (left + right) // 2
            t = cand[mid]
            tiny = a.clone()
            tiny[norm > t] = 0.0
            c = torch.mean((tiny @ w.t()).norm(dim=-1) / nx)
            if c > cett:
                right = mid
            else:
                left = mid + 1
        out.append(float(cand[left - 1]))
    return out


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", required=True, help=".npy int32 token ids")
    ap.add_argument("--n-tokens", type=int, default=1 << 20)
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--p", type=float, default=1.0)
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    ap.add_argument("--out", default=None)
    ap.add_argument("--forward-only", action="store_true", help="measure dense forward tokens/s (loss in graph) and exit")
    ap.add_argument("--at-cett", default=None, help="comma-separated CETT values: PPL ratio, activation ratio and thresholds at each, no outer search")
    args = ap.parse_args()
    torch.manual_seed(0)
    dt = getattr(torch, args.dtype)
    dev = "cuda"
    model = LlamaForCausalLM.from_pretrained(args.model, torch_dtype=dt).to(dev).eval()
    st = patch(model)
    ids = np.load(args.tokens).astype(np.int64)[: args.n_tokens]
    S, B = args.seq_len, args.batch
    nseq = len(ids) // S
    ids = torch.from_numpy(ids[: nseq * S]).view(nseq, S).to(dev)
    batches = [ids[i : i + B] for i in range(0, nseq, B)]
    timing = {"dense": 0.0, "thresholds": 0.0, "sparse": 0.0}
    passes = 0

    def sync():
        torch.cuda.synchronize()

    def inspect(cett):
        nonlocal passes
        ratios, acts, ths = [], [], []
        for b in batches:
            sync(); t0 = time.time()
            st.save, st.sparse = True, False
            ld = model(input_ids=b, labels=b).loss.float().item()
            sync(); t1 = time.time()
            th = thresholds_given_cett(model, st, cett)
            st.save = False
            for lid, layer in enumerate(model.model.layers):
                st.tau[lid] = th[lid] / layer.mlp.down_proj.weight.norm(dim=0)
            st.inter.clear()
            sync(); t2 = time.time()
            st.sparse = True
            ls = model(input_ids=b, labels=b).loss.float().item()
            st.sparse = False
            sync(); t3 = time.time()
            passes += 2
            timing["dense"] += t1 - t0; timing["thresholds"] += t2 - t1; timing["sparse"] += t3 - t2
            ratios.append(math.exp(ls - ld))
            acts.append(torch.stack([st.act[l] for l in range(len(model.model.layers))]).float().mean().item())
            ths.append(th)
        return float(np.mean(ratios)), float(np.mean(acts)), np.mean(np.array(ths), axis=0).tolist()

    if args.forward_only:
        with torch.no_grad():
            for b in batches[:3]:
                model(input_ids=b, labels=b)  # warm-up
            sync(); t0 = time.time()
            for b in batches:
                model(input_ids=b, labels=b)
            sync(); dt_s = time.time() - t0
        res = {"impl": "pytorch", "dtype": args.dtype, "tokens": int(nseq * S), "forwardSeconds": dt_s,
               "tokensPerSecond": nseq * S / dt_s, "peakGpuBytes": torch.cuda.max_memory_allocated()}
        print(json.dumps(res))
        return

    if args.at_cett:
        at = []
        for c in [float(x) for x in args.at_cett.split(",")]:
            ratio, act, th = inspect(c)
            at.append({"c": c, "pplRatio": ratio, "activationRatio": act, "thresholds": th})
        print(json.dumps({"impl": "pytorch-reference", "dtype": args.dtype, "tokens": int(nseq * S), "at": at,
                          "peakGpuBytes": torch.cuda.max_memory_allocated()}))
        return

    target = 1 + args.p / 100
    t_all = time.time()
    l, r, steps = 0.0, 1.0, 0
    history = []
    while r - l > args.tol:
        c = (l + r) / 2
        ratio, _, _ = inspect(c)
        history.append({"c": c, "pplRatio": ratio})
        steps += 1
        if ratio < target:
            l = c
        else:
            r = c
    cett = (l + r) / 2
    ratio, act, th = inspect(cett)
    wall = time.time() - t_all
    res = {
        "impl": "pytorch-reference", "dtype": args.dtype, "tokens": int(nseq * S), "seqLen": S, "batch": B,
        "p": args.p, "tol": args.tol, "cett": cett, "outerSteps": steps, "history": history, "pplRatio": ratio,
        "activationRatio": act, "thresholds": th, "wallSeconds": wall, "phaseSeconds": timing,
        "forwardPasses": passes, "peakGpuBytes": torch.cuda.max_memory_allocated(),
    }
    print(json.dumps(res))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
