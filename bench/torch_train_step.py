#!/usr/bin/python3
"""PyTorch training-step benchmark for comparison with ScratchLM's C++ trainer.

    /usr/bin/python3 bench/torch_train_step.py --config gpt2-mini --batch 8 --seq 256 \
        --threads 2 --steps 3 [--variant book|fused] [--json]

One step = zero_grad, forward, cross-entropy loss, backward, clip_grad_norm_(1.0),
AdamW step (lr 4e-4, weight_decay 0.1), fp32, dropout 0, random token batch.
2 warm-up steps, then --steps timed steps. Reports tokens/s (median over steps of
B*T/step_time), the median step time and peak RSS (ru_maxrss).
The model classes come from tools/torch_reference.py (single reference implementation).
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from torch_reference import BENCH_COMMON, BENCH_CONFIGS, GPTModel  # noqa: E402

CONFIGS, COMMON = BENCH_CONFIGS, BENCH_COMMON


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", choices=sorted(CONFIGS), default="gpt2-mini")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--variant", choices=["book", "fused"], default="book")
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: forward and loss under torch.autocast('cpu', dtype=torch.bfloat16)")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    args = ap.parse_args()

    cfg = dict(CONFIGS[args.config], **COMMON)
    if args.seq > cfg["context_length"]:
        sys.exit(f"--seq {args.seq} exceeds context length {cfg['context_length']}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    model = GPTModel(cfg, fused=(args.variant == "fused")).float()
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=4e-4, weight_decay=0.1)
    V = cfg["vocab_size"]
    x = torch.randint(0, V, (args.batch, args.seq))
    y = torch.randint(0, V, (args.batch, args.seq))

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            logits = model(x)
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    times, losses = [], []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        losses.append(step())
        times.append(time.perf_counter() - t0)

    ntok = args.batch * args.seq
    res = {
        "impl": f"torch-{args.variant}" + ("-bf16" if args.precision == "bf16" else ""),
        "config": args.config,
        "batch": args.batch,
        "seq": args.seq,
        "threads": args.threads,
        "tokens_per_s": round(statistics.median(ntok / t for t in times), 2),
        "step_s_median": round(statistics.median(times), 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "steps": args.steps,
        "params": n_params,
        "torch": torch.__version__,
    }
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{res['impl']} {args.config} B={args.batch} T={args.seq} threads={args.threads} "
              f"params={n_params / 1e6:.1f}M")
        print(f"  step times: {', '.join(f'{t:.3f}s' for t in times)}  "
              f"losses: {', '.join(f'{l:.3f}' for l in losses)}")
        print(f"  tokens/s (median): {res['tokens_per_s']:.1f}")
        print(f"  step s (median):   {res['step_s_median']:.3f}")
        print(f"  peak RSS:          {res['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
