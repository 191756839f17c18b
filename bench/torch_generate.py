#!/usr/bin/python3
"""PyTorch greedy-generation benchmark (KV cache vs none) for comparison with ScratchLM.

    /usr/bin/python3 bench/torch_generate.py --config gpt2-mini --threads 2 \
        --prompt-tokens 16 --new-tokens 256 [--variant book|fused] [--json]

The reference model of tools/torch_reference.py, random weights (PyTorch's default init,
seeded), fp32, eval mode, a random prompt of --prompt-tokens ids. Greedy decoding of
--new-tokens tokens twice:

  * with a KV cache (generate_greedy_cached): one forward_with_cache over the prompt (timed
    separately as prompt_s), then one token per step against the cached keys/values;
  * without (generate_greedy_nocache, the book's generate_text_simple): every step runs the
    whole context through the unchanged block forward(), output head on the last position
    only (like ScratchLM's logits(..., last_only=true)).

The first new token comes out of the prompt pass, so tokens_per_s = (K - 1) / time of the
K - 1 following steps (argmax included), for both variants. The script asserts that both
produce the same tokens and reports the largest difference between their logits.

When prompt + new tokens exceed the context length, the book cuts the sequence from the left;
every token then moves to a new position and, with absolute position embeddings, no cached
key stays valid, so each such step of the cached variant is a full forward over the context
window ("cache_rebuilds" counts them, "rebuild_s" is their time, and
"incremental_tokens_per_s" the rate of the other, one-token steps). gpt2-mini has a
256-token context: P=16, K=256 makes the last 15 steps rebuilds; K <= context - P avoids them.

Prints one JSON line with --json: {"impl": "torch-kvcache", "config", "threads",
"prompt_tokens", "new_tokens", "tokens_per_s", "prompt_s", "nocache_tokens_per_s",
"peak_rss_mb", ...}; peak_rss_mb is ru_maxrss of the process.
"""
import argparse
import json
import os
import random
import resource
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))

import torch  # noqa: E402

from torch_reference import (BENCH_COMMON, BENCH_CONFIGS, GPTModel,  # noqa: E402
                             generate_greedy_cached, generate_greedy_nocache)

CONFIGS, COMMON = BENCH_CONFIGS, BENCH_COMMON


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="gpt2-mini")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--prompt-tokens", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--variant", choices=["book", "fused"], default="book")
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    args = ap.parse_args()
    if args.prompt_tokens < 1:
        sys.exit("--prompt-tokens must be >= 1")
    if args.new_tokens < 2:
        sys.exit("--new-tokens must be >= 2 (the first token comes from the prompt pass)")

    cfg = dict(CONFIGS[args.config], **COMMON)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = GPTModel(cfg, fused=(args.variant == "fused")).float()
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    rng = random.Random(args.seed)
    prompt = [rng.randrange(cfg["vocab_size"]) for _ in range(args.prompt_tokens)]

    K = args.new_tokens
    # warm-up (allocator, thread pool): a few steps of each, untimed
    generate_greedy_cached(model, prompt, min(K, 4))
    generate_greedy_nocache(model, prompt, min(K, 4))

    cached = generate_greedy_cached(model, prompt, K, keep_logits=True)
    plain = generate_greedy_nocache(model, prompt, K, keep_logits=True)
    max_logit_diff = max(float((a - b).abs().max())
                         for a, b in zip(cached["logits"], plain["logits"]))
    if cached["tokens"] != plain["tokens"]:
        i = next(i for i, (a, b) in enumerate(zip(cached["tokens"], plain["tokens"])) if a != b)
        top2 = torch.topk(plain["logits"][i], 2).values
        raise AssertionError(
            f"cached and uncached generation differ at new token {i}: "
            f"{cached['tokens'][i]} vs {plain['tokens'][i]} (top-2 logit gap "
            f"{float(top2[0] - top2[1]):.3g}, max logit diff {max_logit_diff:.3g})")

    res = {
        "impl": "torch-kvcache",
        "config": args.config,
        "threads": args.threads,
        "prompt_tokens": args.prompt_tokens,
        "new_tokens": K,
        "tokens_per_s": round((K - 1) / cached["decode_s"], 2),
        "prompt_s": round(cached["prompt_s"], 4),
        "nocache_tokens_per_s": round((K - 1) / plain["decode_s"], 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "nocache_prompt_s": round(plain["prompt_s"], 4),
        "decode_s": round(cached["decode_s"], 4),
        "nocache_decode_s": round(plain["decode_s"], 4),
        "cache_rebuilds": cached["rebuilds"],
        "rebuild_s": round(cached["rebuild_s"], 4),
        "incremental_tokens_per_s": round(
            (K - 1 - cached["rebuilds"]) / (cached["decode_s"] - cached["rebuild_s"]), 2)
        if K - 1 > cached["rebuilds"] else None,
        "context_length": cfg["context_length"],
        "tokens_identical": True,
        "max_logit_diff": max_logit_diff,
        "variant": args.variant,
        "params": n_params,
        "torch": torch.__version__,
    }
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{res['impl']} ({args.variant}) {args.config} threads={args.threads} "
              f"P={args.prompt_tokens} K={K} params={n_params / 1e6:.1f}M")
        print(f"  KV cache: prompt {res['prompt_s']:.4f}s, {res['tokens_per_s']:.1f} tokens/s "
              f"({res['cache_rebuilds']} steps past the context rebuilt the cache in "
              f"{res['rebuild_s']:.2f}s; one-token steps: {res['incremental_tokens_per_s']} "
              f"tokens/s)")
        print(f"  no cache: prompt {res['nocache_prompt_s']:.4f}s, "
              f"{res['nocache_tokens_per_s']:.1f} tokens/s")
        print(f"  same tokens: yes; max |logit diff| {max_logit_diff:.2e}; "
              f"peak RSS {res['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
