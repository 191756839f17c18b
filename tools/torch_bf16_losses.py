#!/usr/bin/python3
"""The PyTorch side of the bf16 training comparison (issue 15): a tiny GPT (the book's GPTModel
from tools/torch_reference.py) trained for 20 AdamW steps from fixed weights on fixed batches, in
fp32 and under torch.autocast("cpu", dtype=torch.bfloat16); writes the fixture that
tests/test_bf16_train.cpp (Bf16Torch.*) trains ScratchLM on, in fp32 and --precision bf16, and
compares losses with.

    /usr/bin/python3 tools/torch_bf16_losses.py --out tests/fixtures/torch/bf16_train

Writes config.json + model.safetensors (the starting weights, HF names) and reference.safetensors:
tokens / targets [STEPS*B, T] int32 (step s uses rows s*B .. s*B+B-1), losses_fp32 and losses_bf16
[STEPS] float32, and the settings in its metadata. Data: a token stream from a random sparse
Markov chain over the vocabulary (so the loss falls fast and the runs are not flat noise).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import GPTModel, hf_config_json, hf_shapes, load_hf, write_safetensors  # noqa: E402

CFG = {"vocab_size": 256, "context_length": 64, "emb_dim": 64, "n_heads": 4, "n_layers": 2,
       "drop_rate": 0.0, "qkv_bias": True, "tie_word_embeddings": False}
HP = {"B": 4, "T": 32, "steps": 20, "lr": 3e-3, "betas": [0.9, 0.999], "eps": 1e-8,
      "weight_decay": 0.1, "seed": 1234}


def gpt2_init(cfg, gen):
    """GPT-2's initialization in HF layout: N(0, 0.02) matrices and embeddings, residual
    projections N(0, 0.02 / sqrt(2 L)), zero biases, LayerNorm 1 / 0."""
    w = {}
    for n, s in hf_shapes(cfg).items():
        if ".ln_" in n or n.startswith("ln_f") or n.startswith("h.") and ("ln_1" in n or "ln_2" in n):
            t = torch.ones(s) if n.endswith(".weight") else torch.zeros(s)
        elif n.endswith(".bias"):
            t = torch.zeros(s)
        else:
            sd = 0.02 / (2 * cfg["n_layers"]) ** 0.5 if n.endswith("c_proj.weight") else 0.02
            t = sd * torch.randn(s, generator=gen)
        w[n] = t.to(torch.float32).numpy()
    return w


def markov_stream(n, V, gen):
    """n tokens of a chain where each token has 4 likely successors."""
    succ = torch.randint(0, V, (V, 4), generator=gen)
    out = [int(torch.randint(0, V, (1,), generator=gen))]
    choice = torch.randint(0, 4, (n,), generator=gen)
    noise = torch.rand(n, generator=gen)
    rand_tok = torch.randint(0, V, (n,), generator=gen)
    for i in range(1, n):
        out.append(int(rand_tok[i]) if noise[i] < 0.05 else int(succ[out[-1], choice[i]]))
    return np.array(out, dtype=np.int64)


def train(weights, tokens, targets, bf16):
    torch.manual_seed(0)
    model = GPTModel(CFG).float()
    load_hf(model, weights)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=HP["lr"], betas=tuple(HP["betas"]), eps=HP["eps"],
                            weight_decay=HP["weight_decay"])
    B, losses = HP["B"], []
    for s in range(HP["steps"]):
        x = torch.from_numpy(tokens[s * B:(s + 1) * B])
        y = torch.from_numpy(targets[s * B:(s + 1) * B])
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
            loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses, dtype=np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures/torch/bf16_train")
    args = ap.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(HP["seed"])
    weights = gpt2_init(CFG, gen)
    B, T, S = HP["B"], HP["T"], HP["steps"]
    stream = markov_stream(S * B * (T + 1), CFG["vocab_size"], gen).reshape(S * B, T + 1)
    tokens, targets = stream[:, :T].copy(), stream[:, 1:].copy()
    f32 = train(weights, tokens, targets, bf16=False)
    b16 = train(weights, tokens, targets, bf16=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(hf_config_json(CFG), f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(args.out, "model.safetensors"), weights)
    write_safetensors(os.path.join(args.out, "reference.safetensors"),
                      {"tokens": tokens.astype(np.int32), "targets": targets.astype(np.int32),
                       "losses_fp32": f32, "losses_bf16": b16},
                      {"hp": json.dumps(HP), "torch": torch.__version__})
    rel = np.abs(b16 - f32) / f32
    print(f"fp32 losses {f32[0]:.4f} -> {f32[-1]:.4f}; autocast bf16 {b16[0]:.4f} -> {b16[-1]:.4f}; "
          f"max |bf16 - fp32| / fp32 = {rel.max():.4f}")


if __name__ == "__main__":
    main()
