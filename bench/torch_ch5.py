#!/usr/bin/python3
"""The book's chapter 5 pretraining run (train_model_simple) on the PyTorch reference model,
for comparison of wall time and losses with ScratchLM's `slm pretrain` on the same data.

    build/slm tokenize --json --file ../shared/data/the-verdict.txt > /tmp/verdict_ids.json
    /usr/bin/python3 bench/torch_ch5.py --tokens /tmp/verdict_ids.json --threads 2 --json

Setup, as in "Build a Large Language Model (From Scratch)", section 5.2:
  * GPT_CONFIG_124M with context_length 256 (vocab 50257, emb 768, 12 heads, 12 layers,
    drop_rate 0.1, qkv_bias False, untied out_head);
  * train/val split at the token level: split_idx = int(0.90 * len(ids));
  * create_dataloader_v1: windows i in range(0, len(ids) - L, L) with L = context_length
    (max_length = stride = L), batch 2; train shuffle=True drop_last=True, val shuffle=False
    drop_last=False, num_workers 0 (torch's DataLoader/RandomSampler, as the book);
  * torch.manual_seed(123) before building the model; AdamW(lr 4e-4, weight_decay 0.1);
    no LR schedule, no gradient clipping;
  * train_model_simple: global_step starts at -1 and is incremented after each optimizer
    step; evaluate when global_step % eval_freq == 0 (eval_freq 5) with calc_loss_loader
    over eval_iter = 5 batches of each loader (model.eval(), no_grad);
  * after each epoch, generate_text_simple: 50 greedy tokens after the prompt ids
    [6109, 3626, 6100, 345] ("Every effort moves you"), full forward of the (cropped)
    context at every step, as the book; the tokens are not decoded or printed.

Input: --tokens FILE, a JSON array of token ids (`slm tokenize --json`).
stderr: one line per evaluation (step, train loss, val loss); stdout: a summary, or with
--json one JSON line: impl, epochs, steps, tokens_seen, first/final train and val loss,
min_val_loss, wall_s (the whole train_model_simple), train_s (wall_s less the evaluations
and the samples), eval_s, sample_s, threads, config.
The model classes come from tools/torch_reference.py (single reference implementation).
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from torch_reference import GPTModel  # noqa: E402

CONFIGS = {
    # The book's GPT_CONFIG_124M with the context shortened to 256 (chapter 5).
    "gpt2-124M-ctx256": {"vocab_size": 50257, "context_length": 256, "emb_dim": 768,
                         "n_heads": 12, "n_layers": 12},
    # For quick tests only.
    "tiny": {"vocab_size": 50257, "context_length": 64, "emb_dim": 64,
             "n_heads": 2, "n_layers": 2},
}
COMMON = {"drop_rate": 0.1, "qkv_bias": False, "tie_word_embeddings": False}

PROMPT_IDS = [6109, 3626, 6100, 345]  # "Every effort moves you"


class GPTDatasetV1(Dataset):
    """The book's dataset, over token ids instead of text."""

    def __init__(self, token_ids, max_length, stride):
        self.input_ids, self.target_ids = [], []
        for i in range(0, len(token_ids) - max_length, stride):
            self.input_ids.append(torch.tensor(token_ids[i:i + max_length]))
            self.target_ids.append(torch.tensor(token_ids[i + 1:i + max_length + 1]))

    def __len__(self):
        return len(self.input_ids)

    def __getitem__(self, idx):
        return self.input_ids[idx], self.target_ids[idx]


def create_dataloader_v1(token_ids, batch_size, max_length, stride, shuffle, drop_last):
    ds = GPTDatasetV1(token_ids, max_length, stride)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                      num_workers=0)


def calc_loss_batch(input_batch, target_batch, model):
    logits = model(input_batch)
    return F.cross_entropy(logits.flatten(0, 1), target_batch.flatten())


def calc_loss_loader(data_loader, model, num_batches=None):
    total_loss = 0.
    if len(data_loader) == 0:
        return float("nan")
    elif num_batches is None:
        num_batches = len(data_loader)
    else:
        num_batches = min(num_batches, len(data_loader))
    for i, (input_batch, target_batch) in enumerate(data_loader):
        if i < num_batches:
            total_loss += calc_loss_batch(input_batch, target_batch, model).item()
        else:
            break
    return total_loss / num_batches


def evaluate_model(model, train_loader, val_loader, eval_iter):
    model.eval()
    with torch.no_grad():
        train_loss = calc_loss_loader(train_loader, model, num_batches=eval_iter)
        val_loss = calc_loss_loader(val_loader, model, num_batches=eval_iter)
    model.train()
    return train_loss, val_loss


def generate_text_simple(model, idx, max_new_tokens, context_size):
    for _ in range(max_new_tokens):
        idx_cond = idx[:, -context_size:]
        with torch.no_grad():
            logits = model(idx_cond)
        logits = logits[:, -1, :]
        probas = torch.softmax(logits, dim=-1)
        idx_next = torch.argmax(probas, dim=-1, keepdim=True)
        idx = torch.cat((idx, idx_next), dim=1)
    return idx


def generate_sample(model, prompt_ids, max_new_tokens=50):
    """generate_and_print_sample without the tokenizer (nothing is printed)."""
    model.eval()
    context_size = model.pos_emb.weight.shape[0]
    encoded = torch.tensor(prompt_ids).unsqueeze(0)
    with torch.no_grad():
        token_ids = generate_text_simple(model, encoded, max_new_tokens, context_size)
    model.train()
    return token_ids.squeeze(0).tolist()


def train_model_simple(model, train_loader, val_loader, optimizer, num_epochs,
                       eval_freq, eval_iter, prompt_ids, sample_tokens, log):
    train_losses, val_losses, track_tokens_seen = [], [], []
    tokens_seen, global_step = 0, -1
    eval_s = sample_s = 0.0
    for epoch in range(num_epochs):
        model.train()
        for input_batch, target_batch in train_loader:
            optimizer.zero_grad()
            loss = calc_loss_batch(input_batch, target_batch, model)
            loss.backward()
            optimizer.step()
            tokens_seen += input_batch.numel()
            global_step += 1
            if global_step % eval_freq == 0:
                t0 = time.perf_counter()
                train_loss, val_loss = evaluate_model(model, train_loader, val_loader,
                                                      eval_iter)
                eval_s += time.perf_counter() - t0
                train_losses.append(train_loss)
                val_losses.append(val_loss)
                track_tokens_seen.append(tokens_seen)
                log(f"Ep {epoch + 1} (Step {global_step:06d}): "
                    f"Train loss {train_loss:.3f}, Val loss {val_loss:.3f}")
        t0 = time.perf_counter()
        generate_sample(model, prompt_ids, sample_tokens)
        sample_s += time.perf_counter() - t0
    return {"train_losses": train_losses, "val_losses": val_losses,
            "tokens_seen": track_tokens_seen, "total_tokens": tokens_seen,
            "steps": global_step + 1, "eval_s": eval_s, "sample_s": sample_s}


def load_ids(path):
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, dict):  # tolerate {"ids": [...]} / {"tokens": [...]}
        data = data.get("ids", data.get("tokens"))
    if not isinstance(data, list) or not all(isinstance(t, int) for t in data):
        sys.exit(f"{path}: expected a JSON array of token ids")
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", required=True, help="JSON array of token ids")
    ap.add_argument("--config", choices=sorted(CONFIGS), default="gpt2-124M-ctx256")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--train-ratio", type=float, default=0.90)
    ap.add_argument("--eval-freq", type=int, default=5)
    ap.add_argument("--eval-iter", type=int, default=5)
    ap.add_argument("--sample-tokens", type=int, default=50)
    ap.add_argument("--variant", choices=["book", "fused"], default="book",
                    help="model variant of tools/torch_reference.py (default: book)")
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    args = ap.parse_args()

    ids = load_ids(args.tokens)
    cfg = dict(CONFIGS[args.config], **COMMON)
    if max(ids) >= cfg["vocab_size"]:
        sys.exit(f"token id {max(ids)} out of the vocabulary ({cfg['vocab_size']})")
    torch.set_num_threads(args.threads)
    L = cfg["context_length"]

    split_idx = int(args.train_ratio * len(ids))
    train_ids, val_ids = ids[:split_idx], ids[split_idx:]
    # The book seeds before creating the loaders (5.1.3) and again before the model (5.2);
    # the shuffling draws from the global generator when the train loader is iterated.
    torch.manual_seed(args.seed)
    train_loader = create_dataloader_v1(train_ids, args.batch, L, L, shuffle=True,
                                        drop_last=True)
    val_loader = create_dataloader_v1(val_ids, args.batch, L, L, shuffle=False,
                                      drop_last=False)
    if len(train_loader) == 0:
        sys.exit(f"no training batch: {len(train_ids)} training tokens, context {L}, "
                 f"batch {args.batch}")
    print(f"[torch-ch5] config {args.config} ({args.variant}), {len(ids)} tokens: "
          f"{len(train_ids)} train / {len(val_ids)} val, {len(train_loader)} train batches, "
          f"{len(val_loader)} val batches, threads {args.threads}", file=sys.stderr)

    torch.manual_seed(args.seed)
    model = GPTModel(cfg, fused=(args.variant == "fused")).float()
    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-4, weight_decay=0.1)

    t0 = time.perf_counter()
    res = train_model_simple(model, train_loader, val_loader, optimizer, args.epochs,
                             args.eval_freq, args.eval_iter, PROMPT_IDS, args.sample_tokens,
                             log=lambda s: print(s, file=sys.stderr, flush=True))
    wall = time.perf_counter() - t0

    tl, vl = res["train_losses"], res["val_losses"]
    finite_v = [v for v in vl if not math.isnan(v)]

    def r(x):
        return None if x is None or math.isnan(x) else round(x, 6)

    out = {
        "impl": "torch-book-ch5",
        "config": args.config,
        "variant": args.variant,
        "epochs": args.epochs,
        "steps": res["steps"],
        "tokens_seen": res["total_tokens"],
        "first_train_loss": r(tl[0]) if tl else None,
        "first_val_loss": r(vl[0]) if vl else None,
        "final_train_loss": r(tl[-1]) if tl else None,
        "final_val_loss": r(vl[-1]) if vl else None,
        "min_val_loss": r(min(finite_v)) if finite_v else None,
        "wall_s": round(wall, 3),
        "train_s": round(wall - res["eval_s"] - res["sample_s"], 3),
        "eval_s": round(res["eval_s"], 3),
        "sample_s": round(res["sample_s"], 3),
        "threads": args.threads,
    }
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:18s} {v}")


if __name__ == "__main__":
    main()
