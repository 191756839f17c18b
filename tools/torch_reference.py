#!/usr/bin/python3
"""Independent PyTorch reference implementation of the book's GPTModel
("Build a Large Language Model (From Scratch)", Raschka, chapters 3-5),
plus a fixture generator for the C++ tests of ScratchLM.

Run with the Debian torch (the `python3` on PATH has no torch):

    /usr/bin/python3 tools/torch_reference.py --out tests/fixtures/torch
    /usr/bin/python3 tools/torch_reference.py --verify tests/fixtures/torch
    /usr/bin/python3 tools/torch_reference.py --eval-fixture --out tests/fixtures/torch
    /usr/bin/python3 tools/torch_reference.py --verify-eval tests/fixtures/torch

--eval-fixture writes only tests/fixtures/torch/eval/ (a text, a byte-level tokenizer and
the sliding-window loss of the tiny_qkvbias model; see tests/fixtures/README.md).

Two model variants share one parameter naming / HF conversion layer:
  * "book"  : MultiHeadAttention with separate W_query/W_key/W_value, hand-written
              LayerNorm and tanh-GELU, exactly as in the book.
  * "fused" : same math with a fused qkv Linear, F.layer_norm and
              F.gelu(approximate="tanh"); used for benchmarking
              (bench/torch_train_step.py) and as a cross-check.

Both variants also have forward_with_cache (a KV cache for generation, next to the unchanged
forward); generate_greedy_cached / generate_greedy_nocache use it (bench/torch_generate.py).

Safetensors files are written and read by hand (no safetensors package here).
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# --------------------------------------------------------------------------
# Book model
# --------------------------------------------------------------------------
# The named configs of the benchmarks (bench/torch_train_step.py, bench/torch_generate.py), the
# same shapes as ScratchLM's gpt2-124M / gpt2-mini / gpt2-tiny; dropout 0, untied head.
BENCH_CONFIGS = {
    "gpt2-124M": {"vocab_size": 50257, "context_length": 1024, "emb_dim": 768,
                  "n_heads": 12, "n_layers": 12},
    "gpt2-mini": {"vocab_size": 50257, "context_length": 256, "emb_dim": 384,
                  "n_heads": 6, "n_layers": 6},
    "gpt2-tiny": {"vocab_size": 50257, "context_length": 128, "emb_dim": 128,
                  "n_heads": 4, "n_layers": 2},
}
BENCH_COMMON = {"drop_rate": 0.0, "qkv_bias": True, "tie_word_embeddings": False}


class MultiHeadAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        assert d_out % num_heads == 0, "d_out must be divisible by num_heads"
        self.d_out = d_out
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer(
            "mask", torch.triu(torch.ones(context_length, context_length), diagonal=1),
            persistent=False)

    def forward(self, x):
        b, num_tokens, _ = x.shape
        keys = self.W_key(x)
        queries = self.W_query(x)
        values = self.W_value(x)
        # (b, T, d_out) -> (b, T, H, hd) -> (b, H, T, hd)
        keys = keys.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        queries = queries.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        values = values.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        attn_scores = queries @ keys.transpose(2, 3)
        mask_bool = self.mask.bool()[:num_tokens, :num_tokens]
        attn_scores = attn_scores.masked_fill(mask_bool, -torch.inf)
        attn_weights = torch.softmax(attn_scores / self.head_dim ** 0.5, dim=-1)
        attn_weights = self.dropout(attn_weights)
        context = (attn_weights @ values).transpose(1, 2)
        context = context.contiguous().view(b, num_tokens, self.d_out)
        return self.out_proj(context)

    def forward_with_cache(self, x, cache=None):
        """Incremental attention for generation with a KV cache.
        x: (b, t, d_in), the new tokens, at positions p0..p0+t-1 where p0 is the number of
        cached positions; cache: None or (keys, values), each (b, H, p0, hd).
        Returns (output (b, t, d_out), (keys, values) covering positions 0..p0+t-1).
        Same arithmetic as forward() (which stays the reference)."""
        b, t, _ = x.shape
        keys = self.W_key(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        queries = self.W_query(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        values = self.W_value(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
        if cache is not None:
            keys = torch.cat([cache[0], keys], dim=2)
            values = torch.cat([cache[1], values], dim=2)
        p0 = keys.shape[2] - t
        attn_scores = queries @ keys.transpose(2, 3)
        # query i (absolute position p0+i) sees keys 0..p0+i
        mask_bool = self.mask.bool()[p0:p0 + t, :p0 + t]
        attn_scores = attn_scores.masked_fill(mask_bool, -torch.inf)
        attn_weights = torch.softmax(attn_scores / self.head_dim ** 0.5, dim=-1)
        attn_weights = self.dropout(attn_weights)
        context = (attn_weights @ values).transpose(1, 2)
        context = context.contiguous().view(b, t, self.d_out)
        return self.out_proj(context), (keys, values)


class LayerNorm(nn.Module):
    def __init__(self, emb_dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(emb_dim))
        self.shift = nn.Parameter(torch.zeros(emb_dim))

    def forward(self, x):
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)
        norm_x = (x - mean) / torch.sqrt(var + self.eps)
        return self.scale * norm_x + self.shift


class GELU(nn.Module):
    def forward(self, x):
        return 0.5 * x * (1 + torch.tanh(
            torch.sqrt(torch.tensor(2.0 / torch.pi, dtype=x.dtype)) *
            (x + 0.044715 * torch.pow(x, 3))))


class FeedForward(nn.Module):
    def __init__(self, emb_dim):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(emb_dim, 4 * emb_dim), GELU(), nn.Linear(4 * emb_dim, emb_dim))

    def forward(self, x):
        return self.layers(x)


# --------------------------------------------------------------------------
# Fused variant (same math, fewer kernels)
# --------------------------------------------------------------------------
class FusedMultiHeadAttention(nn.Module):
    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        assert d_out % num_heads == 0
        self.d_out = d_out
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        # weight rows: [0,C) query, [C,2C) key, [2C,3C) value  (== HF c_attn.weight.T)
        self.qkv = nn.Linear(d_in, 3 * d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer(
            "mask", torch.triu(torch.ones(context_length, context_length, dtype=torch.bool),
                               diagonal=1), persistent=False)

    def forward(self, x):
        b, t, _ = x.shape
        qkv = self.qkv(x).view(b, t, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
        scores = scores.masked_fill(self.mask[:t, :t], float("-inf"))
        w = self.dropout(torch.softmax(scores, dim=-1))
        ctx = (w @ v).transpose(1, 2).reshape(b, t, self.d_out)
        return self.out_proj(ctx)

    def forward_with_cache(self, x, cache=None):
        """KV-cache version of forward(); see MultiHeadAttention.forward_with_cache."""
        b, t, _ = x.shape
        qkv = self.qkv(x).view(b, t, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if cache is not None:
            k = torch.cat([cache[0], k], dim=2)
            v = torch.cat([cache[1], v], dim=2)
        p0 = k.shape[2] - t
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
        scores = scores.masked_fill(self.mask[p0:p0 + t, :p0 + t], float("-inf"))
        w = self.dropout(torch.softmax(scores, dim=-1))
        ctx = (w @ v).transpose(1, 2).reshape(b, t, self.d_out)
        return self.out_proj(ctx), (k, v)


class FusedLayerNorm(nn.Module):
    def __init__(self, emb_dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(emb_dim))
        self.shift = nn.Parameter(torch.zeros(emb_dim))

    def forward(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.scale, self.shift, self.eps)


class FusedGELU(nn.Module):
    def forward(self, x):
        return F.gelu(x, approximate="tanh")


class FusedFeedForward(nn.Module):
    def __init__(self, emb_dim):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(emb_dim, 4 * emb_dim), FusedGELU(), nn.Linear(4 * emb_dim, emb_dim))

    def forward(self, x):
        return self.layers(x)


# --------------------------------------------------------------------------
# Transformer block / GPT model
# --------------------------------------------------------------------------
class TransformerBlock(nn.Module):
    def __init__(self, cfg, fused=False):
        super().__init__()
        Att = FusedMultiHeadAttention if fused else MultiHeadAttention
        FF = FusedFeedForward if fused else FeedForward
        LN = FusedLayerNorm if fused else LayerNorm
        self.att = Att(d_in=cfg["emb_dim"], d_out=cfg["emb_dim"],
                       context_length=cfg["context_length"], num_heads=cfg["n_heads"],
                       dropout=cfg["drop_rate"], qkv_bias=cfg["qkv_bias"])
        self.ff = FF(cfg["emb_dim"])
        self.norm1 = LN(cfg["emb_dim"])
        self.norm2 = LN(cfg["emb_dim"])
        self.drop_shortcut = nn.Dropout(cfg["drop_rate"])

    def forward(self, x):
        shortcut = x
        x = self.att(self.norm1(x))
        x = self.drop_shortcut(x) + shortcut
        shortcut = x
        x = self.ff(self.norm2(x))
        x = self.drop_shortcut(x) + shortcut
        return x

    def forward_with_cache(self, x, cache=None):
        """forward() with the attention's KV cache; returns (x, new cache)."""
        shortcut = x
        x, cache = self.att.forward_with_cache(self.norm1(x), cache)
        x = self.drop_shortcut(x) + shortcut
        shortcut = x
        x = self.ff(self.norm2(x))
        x = self.drop_shortcut(x) + shortcut
        return x, cache


class GPTModel(nn.Module):
    """cfg keys (book style): vocab_size, context_length, emb_dim, n_heads,
    n_layers, drop_rate, qkv_bias; optional tie_word_embeddings (default False)."""

    def __init__(self, cfg, fused=False):
        super().__init__()
        self.cfg = dict(cfg)
        self.fused = fused
        self.tok_emb = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])
        self.pos_emb = nn.Embedding(cfg["context_length"], cfg["emb_dim"])
        self.drop_emb = nn.Dropout(cfg["drop_rate"])
        self.trf_blocks = nn.Sequential(
            *[TransformerBlock(cfg, fused=fused) for _ in range(cfg["n_layers"])])
        self.final_norm = (FusedLayerNorm if fused else LayerNorm)(cfg["emb_dim"])
        self.out_head = nn.Linear(cfg["emb_dim"], cfg["vocab_size"], bias=False)
        self.tied = bool(cfg.get("tie_word_embeddings", False))
        if self.tied:
            self.out_head.weight = self.tok_emb.weight

    def forward(self, in_idx):
        b, seq_len = in_idx.shape
        tok_embeds = self.tok_emb(in_idx)
        pos_embeds = self.pos_emb(torch.arange(seq_len, device=in_idx.device))
        x = self.drop_emb(tok_embeds + pos_embeds)
        x = self.trf_blocks(x)
        x = self.final_norm(x)
        return self.out_head(x)

    def forward_with_cache(self, in_idx, cache=None, last_only=False):
        """Incremental forward for generation. in_idx: (b, t) new tokens that continue the
        cached positions (cache: None, or the list of per-layer (keys, values) returned by
        the previous call). Positions are p0..p0+t-1 with p0 the cached length, and
        p0 + t must not exceed the context length (absolute position embeddings: a full
        cache cannot slide, see generate_greedy_cached). last_only: the output head on the
        last position only. Returns (logits (b, t or 1, V), new cache)."""
        b, t = in_idx.shape
        p0 = cache[0][0].shape[2] if cache else 0
        assert p0 + t <= self.cfg["context_length"], (
            f"{p0} cached + {t} new positions exceed the context length "
            f"{self.cfg['context_length']}")
        tok_embeds = self.tok_emb(in_idx)
        pos_embeds = self.pos_emb(torch.arange(p0, p0 + t, device=in_idx.device))
        x = self.drop_emb(tok_embeds + pos_embeds)
        new_cache = []
        for i, blk in enumerate(self.trf_blocks):
            x, c = blk.forward_with_cache(x, cache[i] if cache else None)
            new_cache.append(c)
        if last_only:
            x = x[:, -1:]
        x = self.final_norm(x)
        return self.out_head(x), new_cache

    def forward_last(self, in_idx):
        """Logits of the last position only, (b, 1, V), through the unchanged block forward()
        (the no-cache generation step, like ScratchLM's logits(..., last_only=true))."""
        b, seq_len = in_idx.shape
        tok_embeds = self.tok_emb(in_idx)
        pos_embeds = self.pos_emb(torch.arange(seq_len, device=in_idx.device))
        x = self.drop_emb(tok_embeds + pos_embeds)
        x = self.trf_blocks(x)
        x = self.final_norm(x[:, -1:])
        return self.out_head(x)


# --------------------------------------------------------------------------
# Greedy generation, with and without a KV cache (book chapter 4.7 semantics)
# --------------------------------------------------------------------------
@torch.no_grad()
def generate_greedy_nocache(model, prompt, max_new_tokens, keep_logits=False):
    """The book's generate_text_simple with argmax: every step runs the whole context
    (cut from the left to the context length) through the model, head on the last position.
    prompt: list of ids. Returns {"tokens", "prompt_s" (the first step, which sees the
    prompt), "decode_s" (the other max_new_tokens - 1 steps), "logits" (per step, if kept)}."""
    ctx = model.cfg["context_length"]
    seq = list(prompt)
    out, logits_kept, t_first, t0 = [], [], 0.0, time.perf_counter()
    for n in range(max_new_tokens):
        idx = torch.tensor([seq[-ctx:]], dtype=torch.long)
        logits = model.forward_last(idx)[:, -1, :]
        nxt = int(torch.argmax(logits, dim=-1))
        if keep_logits:
            logits_kept.append(logits[0].clone())
        seq.append(nxt)
        out.append(nxt)
        if n == 0:
            t_first = time.perf_counter()
    t_end = time.perf_counter()
    return {"tokens": out, "prompt_s": t_first - t0, "decode_s": t_end - t_first,
            "logits": logits_kept}


@torch.no_grad()
def generate_greedy_cached(model, prompt, max_new_tokens, keep_logits=False):
    """Greedy generation with a KV cache: one forward_with_cache over the prompt (its last
    context_length tokens), then one token per step against the cached keys/values.
    Gives the same tokens as generate_greedy_nocache. Once the sequence is longer than the
    context, the book cuts it from the left, which moves every token to a new position; with
    absolute position embeddings no cached key stays valid, so each such step rebuilds the
    cache from the last context_length tokens (counted in "rebuilds", their forward passes
    timed in "rebuild_s")."""
    ctx = model.cfg["context_length"]
    seq = list(prompt)
    out, logits_kept, rebuilds, rebuild_s = [], [], 0, 0.0
    t0 = time.perf_counter()
    logits, cache = model.forward_with_cache(
        torch.tensor([seq[-ctx:]], dtype=torch.long), None, last_only=True)
    t_first = None
    for n in range(max_new_tokens):
        last = logits[:, -1, :]
        nxt = int(torch.argmax(last, dim=-1))
        if keep_logits:
            logits_kept.append(last[0].clone())
        seq.append(nxt)
        out.append(nxt)
        if n == 0:
            t_first = time.perf_counter()
        if n + 1 == max_new_tokens:
            break
        if len(seq) <= ctx:
            logits, cache = model.forward_with_cache(
                torch.tensor([[nxt]], dtype=torch.long), cache, last_only=True)
        else:
            rebuilds += 1
            t_r = time.perf_counter()
            logits, cache = model.forward_with_cache(
                torch.tensor([seq[-ctx:]], dtype=torch.long), None, last_only=True)
            rebuild_s += time.perf_counter() - t_r
    t_end = time.perf_counter()
    return {"tokens": out, "prompt_s": t_first - t0, "decode_s": t_end - t_first,
            "rebuilds": rebuilds, "rebuild_s": rebuild_s, "logits": logits_kept}


# --------------------------------------------------------------------------
# Hugging Face GPT-2 naming / Conv1D layout  (weight [in, out])
# --------------------------------------------------------------------------
def hf_names(cfg):
    names = ["wte.weight", "wpe.weight"]
    for i in range(cfg["n_layers"]):
        p = f"h.{i}."
        names += [p + "ln_1.weight", p + "ln_1.bias", p + "attn.c_attn.weight"]
        if cfg["qkv_bias"]:
            names.append(p + "attn.c_attn.bias")
        names += [p + "attn.c_proj.weight", p + "attn.c_proj.bias",
                  p + "ln_2.weight", p + "ln_2.bias",
                  p + "mlp.c_fc.weight", p + "mlp.c_fc.bias",
                  p + "mlp.c_proj.weight", p + "mlp.c_proj.bias"]
    names += ["ln_f.weight", "ln_f.bias"]
    if not cfg.get("tie_word_embeddings", False):
        names.append("lm_head.weight")
    return names


def hf_shapes(cfg):
    V, T, C = cfg["vocab_size"], cfg["context_length"], cfg["emb_dim"]
    shapes = {}
    for n in hf_names(cfg):
        if n in ("wte.weight", "lm_head.weight"):
            s = (V, C)
        elif n == "wpe.weight":
            s = (T, C)
        elif n.endswith("c_attn.weight"):
            s = (C, 3 * C)
        elif n.endswith("c_attn.bias"):
            s = (3 * C,)
        elif n.endswith("mlp.c_fc.weight"):
            s = (C, 4 * C)
        elif n.endswith("mlp.c_fc.bias"):
            s = (4 * C,)
        elif n.endswith("mlp.c_proj.weight"):
            s = (4 * C, C)
        elif n.endswith("attn.c_proj.weight"):
            s = (C, C)
        else:  # ln_*, c_proj.bias
            s = (C,)
        shapes[n] = s
    return shapes


def _hf_map(model):
    """HF name -> list of (torch tensor-owning Parameter, transpose) parts.
    Multiple parts are concatenated along the last HF axis (c_attn of book model)."""
    cfg = model.cfg
    m = {"wte.weight": [(model.tok_emb.weight, False)],
         "wpe.weight": [(model.pos_emb.weight, False)]}
    for i, blk in enumerate(model.trf_blocks):
        p = f"h.{i}."
        m[p + "ln_1.weight"] = [(blk.norm1.scale, False)]
        m[p + "ln_1.bias"] = [(blk.norm1.shift, False)]
        if model.fused:
            m[p + "attn.c_attn.weight"] = [(blk.att.qkv.weight, True)]
            if cfg["qkv_bias"]:
                m[p + "attn.c_attn.bias"] = [(blk.att.qkv.bias, False)]
        else:
            a = blk.att
            m[p + "attn.c_attn.weight"] = [(a.W_query.weight, True), (a.W_key.weight, True),
                                           (a.W_value.weight, True)]
            if cfg["qkv_bias"]:
                m[p + "attn.c_attn.bias"] = [(a.W_query.bias, False), (a.W_key.bias, False),
                                             (a.W_value.bias, False)]
        m[p + "attn.c_proj.weight"] = [(blk.att.out_proj.weight, True)]
        m[p + "attn.c_proj.bias"] = [(blk.att.out_proj.bias, False)]
        m[p + "ln_2.weight"] = [(blk.norm2.scale, False)]
        m[p + "ln_2.bias"] = [(blk.norm2.shift, False)]
        m[p + "mlp.c_fc.weight"] = [(blk.ff.layers[0].weight, True)]
        m[p + "mlp.c_fc.bias"] = [(blk.ff.layers[0].bias, False)]
        m[p + "mlp.c_proj.weight"] = [(blk.ff.layers[2].weight, True)]
        m[p + "mlp.c_proj.bias"] = [(blk.ff.layers[2].bias, False)]
    m["ln_f.weight"] = [(model.final_norm.scale, False)]
    m["ln_f.bias"] = [(model.final_norm.shift, False)]
    if not model.tied:
        m["lm_head.weight"] = [(model.out_head.weight, False)]
    assert list(m) == hf_names(cfg)
    return m


def to_hf(model, what="param"):
    """Return {hf_name: float32 numpy array in HF layout} of the parameters
    (what="param") or of their .grad (what="grad"; missing grads are zeros)."""
    out = {}
    for name, parts in _hf_map(model).items():
        ts = []
        for p, tr in parts:
            t = p.detach() if what == "param" else (
                p.grad.detach() if p.grad is not None else torch.zeros_like(p))
            ts.append(t.t() if tr else t)
        t = ts[0] if len(ts) == 1 else torch.cat(ts, dim=-1)
        out[name] = t.to(torch.float32).contiguous().numpy().copy()
    return out


@torch.no_grad()
def load_hf(model, sd, strict=True):
    """Copy HF-layout tensors (numpy or torch) into the model."""
    m = _hf_map(model)
    if strict:
        missing = set(m) - set(sd)
        extra = {k for k in sd if k not in m}
        assert not missing and not extra, f"missing={sorted(missing)} extra={sorted(extra)}"
    for name, parts in m.items():
        src = torch.as_tensor(np.asarray(sd[name]))
        chunks = src.split(parts[0][0].shape[0], dim=-1) if len(parts) > 1 else [src]
        for (p, tr), c in zip(parts, chunks):
            c = c.t() if tr else c
            assert tuple(c.shape) == tuple(p.shape), (name, c.shape, p.shape)
            p.copy_(c.to(p.dtype))


# --------------------------------------------------------------------------
# Hand-written safetensors I/O
# --------------------------------------------------------------------------
_DT = {np.dtype("float32"): "F32", np.dtype("int32"): "I32"}
_NP = {"F32": "<f4", "I32": "<i4"}


def write_safetensors(path, tensors, metadata=None):
    names = sorted(tensors)
    header = {"__metadata__": dict(metadata or {"format": "pt"})}
    blobs, off = [], 0
    for n in names:
        a = np.ascontiguousarray(tensors[n])
        dt = _DT[a.dtype]
        b = a.astype(_NP[dt]).tobytes()
        header[n] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    js = json.dumps(header, separators=(",", ":")).encode("utf-8")
    js += b" " * ((-len(js)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0, "header length not a multiple of 8"
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    out, expect = {}, 0
    for name in sorted(header):
        h = header[name]
        b, e = h["data_offsets"]
        assert b == expect, f"{path}: gap/overlap before {name}"
        dt = np.dtype(_NP[h["dtype"]])
        count = int(np.prod(h["shape"])) if h["shape"] else 1
        assert e - b == count * dt.itemsize, f"{path}: bad size for {name}"
        out[name] = np.frombuffer(data[b:e], dtype=dt).reshape(h["shape"]).copy()
        expect = e
    assert expect == len(data), f"{path}: trailing bytes"
    return out, meta


# --------------------------------------------------------------------------
# Fixture generation
# --------------------------------------------------------------------------
TINY_FIXTURE_CFG = {"vocab_size": 256, "context_length": 64, "emb_dim": 64,
                    "n_heads": 4, "n_layers": 2, "drop_rate": 0.0}

HP = {"B": 3, "T": 37, "n_ignore": 5, "ignore_index": -100,
      "lr": 1e-3, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1,
      "clip_max_norm": 1.0, "steps": 5}


def random_hf_weights(cfg, gen):
    """Non-trivial random weights for every tensor, in HF layout."""
    w = {}
    for n, s in hf_shapes(cfg).items():
        if n.endswith("ln_1.weight") or n.endswith("ln_2.weight") or n == "ln_f.weight":
            t = 1.0 + 0.4 * (torch.rand(s, generator=gen) - 0.5)        # 1 +- 0.2
        elif n.endswith("ln_1.bias") or n.endswith("ln_2.bias") or n == "ln_f.bias":
            t = 0.2 * (torch.rand(s, generator=gen) - 0.5)              # +- 0.1
        elif n.endswith(".bias"):
            t = 0.1 * torch.randn(s, generator=gen)
        elif n in ("wte.weight", "wpe.weight", "lm_head.weight"):
            t = 0.3 * torch.randn(s, generator=gen)
        elif n.endswith("mlp.c_proj.weight"):
            t = 0.1 * torch.randn(s, generator=gen)
        else:
            t = 0.2 * torch.randn(s, generator=gen)
        w[n] = t.to(torch.float32).numpy()
    return w


def hf_config_json(cfg):
    return {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
            "vocab_size": cfg["vocab_size"], "n_positions": cfg["context_length"],
            "n_ctx": cfg["context_length"], "n_embd": cfg["emb_dim"],
            "n_head": cfg["n_heads"], "n_layer": cfg["n_layers"],
            "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new",
            "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
            "tie_word_embeddings": bool(cfg["tie_word_embeddings"]),
            "qkv_bias": bool(cfg["qkv_bias"])}


def cfg_from_hf_config(j):
    return {"vocab_size": j["vocab_size"], "context_length": j["n_positions"],
            "emb_dim": j["n_embd"], "n_heads": j["n_head"], "n_layers": j["n_layer"],
            "drop_rate": 0.0, "qkv_bias": j["qkv_bias"],
            "tie_word_embeddings": j["tie_word_embeddings"]}


def make_batch(cfg, gen):
    B, T, V = HP["B"], HP["T"], cfg["vocab_size"]
    tokens = torch.randint(0, V, (B, T), generator=gen, dtype=torch.int64)
    targets = torch.randint(0, V, (B, T), generator=gen, dtype=torch.int64)
    flat = targets.view(-1)
    idx = torch.randperm(B * T, generator=gen)[:HP["n_ignore"]]
    flat[idx] = HP["ignore_index"]
    return tokens, targets


def loss_fn(logits, targets):
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                           ignore_index=HP["ignore_index"])


def run_reference(cfg, weights, tokens, targets, fused=False, dtype=torch.float32):
    """Forward/backward + AdamW trajectory. Returns dict of numpy results."""
    model = GPTModel(cfg, fused=fused).to(dtype)
    load_hf(model, weights)
    model.train()  # dropout 0, so identical to eval
    params = list(model.parameters())  # tied weight appears once
    res = {}
    logits = model(tokens)
    loss = loss_fn(logits, targets)
    loss.backward()
    res["logits"] = logits.detach().float().numpy()
    res["loss"] = np.array([loss.item()], dtype=np.float32)
    res["grads"] = to_hf(model, "grad")

    model.zero_grad(set_to_none=True)
    opt = torch.optim.AdamW(params, lr=HP["lr"], betas=tuple(HP["betas"]), eps=HP["eps"],
                            weight_decay=HP["weight_decay"])
    losses, norms = [], []
    for _ in range(HP["steps"]):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(tokens), targets)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(params, HP["clip_max_norm"])
        opt.step()
        losses.append(loss.item())
        norms.append(float(gn))
    res["adamw_losses"] = np.array(losses, dtype=np.float32)
    res["adamw_grad_norms"] = np.array(norms, dtype=np.float32)
    res["adamw_final"] = to_hf(model, "param")
    return res


def max_abs(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def fixture(outdir, name, cfg, seed, variant, include_final=True):
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    weights = random_hf_weights(cfg, gen)
    tokens, targets = make_batch(cfg, gen)
    res = run_reference(cfg, weights, tokens, targets, fused=(variant == "fused"))

    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(hf_config_json(cfg), f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(d, "model.safetensors"), weights)

    ref = {"tokens": tokens.numpy().astype(np.int32),
           "targets": targets.numpy().astype(np.int32),
           "logits": res["logits"], "loss": res["loss"],
           "adamw_losses": res["adamw_losses"],
           "adamw_grad_norms": res["adamw_grad_norms"]}
    for n, g in res["grads"].items():
        ref["grad." + n] = g
    if include_final:
        for n, w in res["adamw_final"].items():
            ref["adamw_final." + n] = w
    write_safetensors(os.path.join(d, "reference.safetensors"), ref)

    # --- accuracy study: the same computation in float64 and with the other variant
    r64 = run_reference(cfg, weights, tokens, targets, fused=(variant == "fused"),
                        dtype=torch.float64)
    other = run_reference(cfg, weights, tokens, targets, fused=(variant != "fused"))
    gmax = max(float(np.max(np.abs(g))) for g in res["grads"].values())

    kb = key_bias_slices(cfg)

    def study(r):
        return {
            "logits_max_abs": max_abs(res["logits"], r["logits"]),
            "loss_abs": max_abs(res["loss"], r["loss"]),
            "grad_max_abs": max(max_abs(res["grads"][n], r["grads"][n]) for n in res["grads"]),
            "adamw_losses_max_abs": max_abs(res["adamw_losses"], r["adamw_losses"]),
            "adamw_grad_norms_max_rel": float(np.max(
                np.abs(res["adamw_grad_norms"] - r["adamw_grad_norms"]) /
                np.abs(r["adamw_grad_norms"]))),
            "adamw_final_max_abs": max(max_abs(res["adamw_final"][n], r["adamw_final"][n])
                                       for n in res["adamw_final"]),
            "adamw_final_max_abs_excl_key_bias": max(
                max_abs(np.delete(res["adamw_final"][n], np.arange(
                    res["adamw_final"][n].shape[0])[kb[n]], axis=0) if n in kb
                        else res["adamw_final"][n],
                        np.delete(r["adamw_final"][n], np.arange(
                            r["adamw_final"][n].shape[0])[kb[n]], axis=0) if n in kb
                        else r["adamw_final"][n])
                for n in res["adamw_final"]),
        }

    info = {
        "generator": "/usr/bin/python3 tools/torch_reference.py --out tests/fixtures/torch",
        "fixture": name,
        "seed": seed,
        "variant": variant,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "dtype": "float32",
        "model": {k: cfg[k] for k in ("vocab_size", "context_length", "emb_dim", "n_heads",
                                      "n_layers", "qkv_bias", "tie_word_embeddings")},
        "dropout": 0.0,
        "mode": "train (dropout 0, so identical to eval)",
        "B": HP["B"], "T": HP["T"],
        "n_ignored_targets": int((targets == HP["ignore_index"]).sum()),
        "ignore_index": HP["ignore_index"],
        "loss": "F.cross_entropy(logits.flatten(0,1), targets.flatten(), ignore_index=-100), "
                "mean over non-ignored targets",
        "optimizer": {
            "name": "torch.optim.AdamW", "lr": HP["lr"], "betas": HP["betas"],
            "eps": HP["eps"], "weight_decay": HP["weight_decay"],
            "applies_to": "all parameters (biases, LayerNorm, embeddings included; "
                          "tied matrix counted once)",
            "update": "p *= 1 - lr*wd; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g; "
                      "p -= (lr/(1-b1^t)) * m / (sqrt(v)/sqrt(1-b2^t) + eps)",
        },
        "clip": {"max_norm": HP["clip_max_norm"],
                 "rule": "norm = sqrt(sum g^2 over all params); "
                         "g *= min(1, max_norm/(norm + 1e-6)); "
                         "adamw_grad_norms holds the pre-clip norm"},
        "steps": HP["steps"],
        "adamw_losses": "loss computed (forward on current weights) before each step",
        "grad_layout": "grad.<hf name> has the HF layout of the weight "
                       "(Conv1D weights [in,out]); tied: grad.wte.weight is the total "
                       "gradient of the shared matrix",
        "tolerances": {
            "logits_max_abs": 1e-4,
            "loss_max_abs": 1e-4,
            "grad_max_abs": "1e-4 * max(1, max|grad|) over all grad.* tensors",
            "grad_max_abs_value_here": 1e-4 * max(1.0, gmax),
            "adamw_losses_max_abs": 1e-4,
            "adamw_grad_norms_max_rel": 1e-4,
            "adamw_final_max_abs": 1e-4,
            "adamw_final_outlier_fraction_max": 1e-4,
            "adamw_final_outlier_max_abs": 1e-3,
            "adamw_final_key_bias_max_abs": 2 * HP["lr"] * HP["steps"],
            "adamw_final_rule": (
                "Exclude the key slice [C:2C] of every h.N.attn.c_attn.bias (its gradient "
                "is 0 in exact arithmetic, ~1e-8 rounding noise in fp32, and Adam "
                "normalises noise into steps of ~lr, so its final value is arbitrary "
                "within a few lr); check those only with adamw_final_key_bias_max_abs. "
                "Over all other elements: |diff| <= adamw_final_max_abs except for at "
                "most adamw_final_outlier_fraction_max of them (elements whose gradient "
                "is ~1e-8, comparable to eps), and every |diff| <= "
                "adamw_final_outlier_max_abs."),
        },
        "max_abs_grad": gmax,
        "measured_float32_vs_float64": study(r64),
        "measured_book_vs_fused_float32": study(other),
    }
    info["tensors"] = {k: list(v.shape) for k, v in sorted(ref.items())}
    info["key_bias_grad_max_abs"] = max(
        [float(np.max(np.abs(res["grads"][n][sl]))) for n, sl in key_bias_slices(cfg).items()]
        or [0.0])
    # the tolerance rule must accept the float64 and the other-variant computations
    for label, r in (("float64", r64), ("other variant", other)):
        good, e = compare(ref, r, cfg, info["tolerances"])
        assert good, f"{name}: tolerance rule rejects the {label} computation: {e}"
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    return info


def key_bias_slices(cfg):
    """{hf name: slice} of elements whose gradient is identically zero in exact
    arithmetic: the key part [C:2C] of every c_attn.bias.  q.(k_j + b_k) adds the
    same q.b_k to every score of a softmax row, so b_k never changes the output."""
    if not cfg["qkv_bias"]:
        return {}
    C = cfg["emb_dim"]
    return {f"h.{i}.attn.c_attn.bias": slice(C, 2 * C) for i in range(cfg["n_layers"])}


def compare(ref, res, cfg, tol):
    """Apply the tolerances of reference.json to a recomputed result `res`
    (as returned by run_reference) against the stored `ref` tensors.
    This is the rule the C++ tests are meant to implement."""
    e = {}
    e["logits"] = max_abs(res["logits"], ref["logits"])
    e["loss"] = max_abs(res["loss"], ref["loss"])
    e["grad"] = max(max_abs(res["grads"][n], ref["grad." + n]) for n in res["grads"])
    e["adamw_losses"] = max_abs(res["adamw_losses"], ref["adamw_losses"])
    e["adamw_grad_norms_rel"] = float(np.max(
        np.abs(res["adamw_grad_norms"].astype(np.float64) - ref["adamw_grad_norms"]) /
        ref["adamw_grad_norms"]))
    ok = (e["logits"] <= tol["logits_max_abs"] and e["loss"] <= tol["loss_max_abs"]
          and e["grad"] <= tol["grad_max_abs_value_here"]
          and e["adamw_losses"] <= tol["adamw_losses_max_abs"]
          and e["adamw_grad_norms_rel"] <= tol["adamw_grad_norms_max_rel"])
    if any(k.startswith("adamw_final.") for k in ref):
        kb = key_bias_slices(cfg)
        diffs, kb_max = [], 0.0
        for n, w in res["adamw_final"].items():
            d = np.abs(w.astype(np.float64) - ref["adamw_final." + n])
            if n in kb:
                kb_max = max(kb_max, float(d[kb[n]].max()))
                d = np.delete(d, np.arange(d.shape[0])[kb[n]])
            diffs.append(d.ravel())
        d = np.concatenate(diffs)
        e["adamw_final_max_abs"] = float(d.max())
        e["adamw_final_n_over"] = int((d > tol["adamw_final_max_abs"]).sum())
        e["adamw_final_n_checked"] = int(d.size)
        e["adamw_final_key_bias_max_abs"] = kb_max
        ok = ok and (e["adamw_final_n_over"] <=
                     tol["adamw_final_outlier_fraction_max"] * d.size
                     and e["adamw_final_max_abs"] <= tol["adamw_final_outlier_max_abs"]
                     and kb_max <= tol["adamw_final_key_bias_max_abs"])
    return ok, e


def numpy_forward_hf(w, cfg, tokens):
    """Independent float64 numpy forward pass that consumes the HF-layout tensors
    directly (Conv1D: y = x @ W[in,out] + b, c_attn columns = [q | k | v]), the way
    HF GPT2LMHeadModel does.  Used by --verify to check the layout conversion."""
    C, H = cfg["emb_dim"], cfg["n_heads"]
    hd = C // H
    g = {k: v.astype(np.float64) for k, v in w.items()}
    B, T = tokens.shape

    def ln(x, p):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-5) * g[p + ".weight"] + g[p + ".bias"]

    def gelu(x):
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))

    x = g["wte.weight"][tokens] + g["wpe.weight"][:T][None]
    mask = np.triu(np.ones((T, T), dtype=bool), 1)
    for i in range(cfg["n_layers"]):
        p = f"h.{i}."
        a = ln(x, p + "ln_1") @ g[p + "attn.c_attn.weight"]
        if cfg["qkv_bias"]:
            a = a + g[p + "attn.c_attn.bias"]
        q, k, v = (a[..., j * C:(j + 1) * C].reshape(B, T, H, hd).transpose(0, 2, 1, 3)
                   for j in range(3))
        sc = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd)
        sc = np.where(mask, -np.inf, sc)
        sc = np.exp(sc - sc.max(-1, keepdims=True))
        sc = sc / sc.sum(-1, keepdims=True)
        ctx = (sc @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
        x = x + ctx @ g[p + "attn.c_proj.weight"] + g[p + "attn.c_proj.bias"]
        hmid = gelu(ln(x, p + "ln_2") @ g[p + "mlp.c_fc.weight"] + g[p + "mlp.c_fc.bias"])
        x = x + hmid @ g[p + "mlp.c_proj.weight"] + g[p + "mlp.c_proj.bias"]
    x = ln(x, "ln_f")
    head = g["wte.weight"] if cfg["tie_word_embeddings"] else g["lm_head.weight"]
    return x @ head.T


def verify(outdir):
    """Reload every fixture with our own safetensors reader, rebuild both model
    variants from the HF-layout weights, rerun forward/backward/AdamW and check
    everything against reference.safetensors with the tolerances of reference.json."""
    ok, found = True, False
    for name in sorted(os.listdir(outdir)):
        d = os.path.join(outdir, name)
        if not os.path.isfile(os.path.join(d, "model.safetensors")):
            continue
        found = True
        with open(os.path.join(d, "config.json")) as f:
            cfg = cfg_from_hf_config(json.load(f))
        with open(os.path.join(d, "reference.json")) as f:
            info = json.load(f)
        w, meta = read_safetensors(os.path.join(d, "model.safetensors"))
        assert meta == {"format": "pt"}, meta
        shapes = hf_shapes(cfg)
        assert set(w) == set(shapes), sorted(set(w) ^ set(shapes))
        for n, s in shapes.items():
            assert w[n].shape == s and w[n].dtype == np.float32, (n, w[n].shape)
        ref, _ = read_safetensors(os.path.join(d, "reference.safetensors"))
        assert set(k[5:] for k in ref if k.startswith("grad.")) == set(shapes)
        assert int((ref["targets"] == HP["ignore_index"]).sum()) == HP["n_ignore"]
        e_np = max_abs(numpy_forward_hf(w, cfg, ref["tokens"].astype(np.int64)), ref["logits"])
        print(f"verify {name} [numpy HF-layout forward, float64]: logits {e_np:.2e}")
        ok &= e_np <= info["tolerances"]["logits_max_abs"]
        tok = torch.from_numpy(ref["tokens"].astype(np.int64))
        tgt = torch.from_numpy(ref["targets"].astype(np.int64))
        for fused in (False, True):
            model = GPTModel(cfg, fused=fused)
            load_hf(model, w)
            back = to_hf(model, "param")  # HF -> model -> HF must be bit exact
            assert all(np.array_equal(back[n], w[n]) for n in w), "HF round trip not exact"
            res = run_reference(cfg, w, tok, tgt, fused=fused)
            good, e = compare(ref, res, cfg, info["tolerances"])
            ok &= good
            print(f"verify {name} [{'fused' if fused else 'book'}]: "
                  + " ".join(f"{k} {v:.2e}" if isinstance(v, float) else f"{k} {v}"
                             for k, v in e.items())
                  + (" -> OK" if good else " -> FAIL"))
    return ok and found


# --------------------------------------------------------------------------
# Evaluation fixture: byte-level tokenizer + sliding-window cross-entropy
# --------------------------------------------------------------------------
EVAL_TEXT = (
    "The lighthouse keeper's log, Tuesday 14 March 1893.\n"
    "Wind from the north-east, force 6; sea rough. At 4:15 a.m. the lamp was trimmed\n"
    "and the clockwork wound (twice, as the weights had stuck). Visibility: about 3 miles.\n"
    "\n"
    "\"Nothing passes here that the sea does not want to pass,\" my father used to say.\n"
    "He was wrong about that, of course -- a steamer out of Leith went by at noon,\n"
    "riding low, her funnel painted red & black, and she did not care what the sea wanted.\n"
    "\n"
    "Notes on bread. Mix 500 g of flour with 350 ml of water, 10 g of salt and 7 g of\n"
    "yeast. Knead for 10-12 minutes; rest it for 1.5 hours at about 24 C (75 F). Shape,\n"
    "prove again for 45 min, then bake at 230 C for 35 to 40 minutes. If the crust is\n"
    "pale, bake it 5 minutes longer; if it is dark, lower the oven by 10%. Yield: 1 loaf.\n"
    "\n"
    "Q: Why does a kettle sing before it boils?\n"
    "A: Small bubbles of steam form at the bottom, rise into cooler water and collapse.\n"
    "   Each collapse is a tiny click; thousands per second make the hiss. When the\n"
    "   whole pot is hot, the bubbles survive, reach the top, and the noise drops.\n"
    "\n"
    "Inventory, shelf B/7:\n"
    "\t* 12 candles (beeswax)      @ $0.25 each = $3.00\n"
    "\t* 3 tins of lamp oil        @ $1.10 each = $3.30\n"
    "\t* 1 brass key, unlabeled    [ask Mrs. O'Neill?]\n"
    "\t* 2 ledgers {1891, 1892}    -- see also shelf C/2\n"
    "Total: $6.30 (+ the key, value unknown).\n"
    "\n"
    "In the evening the children asked for a story, so I told them the one about the\n"
    "fox who wanted to count the stars. Every night he counted; every morning he had\n"
    "forgotten the number. \"Write it down!\" said the owl. \"With what?\" said the fox.\n"
    "\"I have no pencil, and if I had one, I have no paper, and if I had paper, the\n"
    "rain would find it.\" So the owl taught him to remember by rhymes: one for the\n"
    "pole star, two for the twins, three for the belt, and so on up to ninety-nine.\n"
    "The children laughed at the fox; the youngest, who is six, said she could do it\n"
    "better. She got as far as 41 before she fell asleep.\n"
    "\n"
    "A short program the schoolmaster left on the slate:\n"
    "    total = 0  # sum_of_squares\n"
    "    for i in range(1, 11):\n"
    "        total += i * i    # squares: 1, 4, 9, ...\n"
    "    print(\"sum =\", total)  # -> 385\n"
    "He says machines will one day do such sums faster than any clerk; I say the clerk\n"
    "will still have to check them. We agreed that 2 + 2 = 4, and that x^2 >= 0 for\n"
    "any real x, and 0 < 1, and left it there.\n"
    "\n"
    "Weather table (week 11):\n"
    "  Mon | 7.2 | rain    | 1012 hPa\n"
    "  Tue | 6.8 | gale    |  998 hPa\n"
    "  Wed | 9.1 | fog     | 1005 hPa\n"
    "  Thu | 11.4| clear   | 1021 hPa\n"
    "\n"
    "Letters to answer: (a) the harbour board, about the bell; (b) my sister in York,\n"
    "who wants to know (C:\\letters\\york.txt) whether the gulls are really as loud\n"
    "as I claim (they are);\n"
    "(c) a Mr. J. Whitcombe, who writes that he has invented a lamp \"brighter than\n"
    "the sun, cheaper than a candle, and safe for children\" -- and would we try one?\n"
    "I shall ask him for the price first, and for the weight second.\n"
    "\n"
    "Last entry for today: the barometer is rising. Tomorrow, God willing, the boat\n"
    "comes with the post, the flour, and 20 gallons of oil. ~ E. M.\n"
)

# (seq L, stride S): windows inputs = ids[i:i+L], targets = ids[i+1:i+L+1],
# for i in range(0, len(ids) - L, S)  (the book's GPTDatasetV1)
EVAL_WINDOWS = [(64, 64), (37, 20), (16, 50)]
EVAL_MODEL = "tiny_qkvbias"
EVAL_LOSS_TOL = 1e-5


def gpt2_byte_order():
    """Bytes in GPT-2's bytes_to_unicode() order: the printable bytes '!'..'~',
    0xA1..0xAC, 0xAE..0xFF, then the other 68 bytes in increasing order. The byte-level
    tokenizer gives byte bytes_order[i] the id i."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1))
          + list(range(0xAE, 0xFF + 1)))
    bs += [b for b in range(256) if b not in bs]
    assert sorted(bs) == list(range(256))
    return bs


def gpt2_bytes_to_unicode():
    """GPT-2's bytes_to_unicode(): byte -> the character that stands for it in
    encoder.json / vocab.bpe (printable bytes map to themselves, the other 68 bytes to
    U+0100.. in increasing byte order)."""
    bs = gpt2_byte_order()
    return {b: chr(b) if i < 188 else chr(256 + i - 188) for i, b in enumerate(bs)}


def byte_level_ids(data):
    """Token ids of `data` (bytes) under the byte-level tokenizer, straight from the byte
    order (no files involved)."""
    pos = {b: i for i, b in enumerate(gpt2_byte_order())}
    return [pos[b] for b in data]


def write_bytes_tokenizer(d):
    """encoder.json (256 entries, GPT-2 printable form -> id) + vocab.bpe without merges.
    No <|endoftext|>."""
    os.makedirs(d, exist_ok=True)
    b2u = gpt2_bytes_to_unicode()
    enc = {b2u[b]: i for i, b in enumerate(gpt2_byte_order())}
    with open(os.path.join(d, "encoder.json"), "w", encoding="ascii", newline="\n") as f:
        json.dump(enc, f, ensure_ascii=True)  # GPT-2's own encoder.json style (\uXXXX escapes)
        f.write("\n")
    with open(os.path.join(d, "vocab.bpe"), "w", encoding="ascii", newline="\n") as f:
        f.write("#version: 0.2\n")


def encode_with_tokenizer_dir(d, data):
    """Encode `data` (bytes) with the files of a GPT-2 style tokenizer directory whose
    vocab.bpe has no merges: byte -> bytes_to_unicode character -> encoder.json id."""
    with open(os.path.join(d, "encoder.json"), encoding="utf-8") as f:
        enc = json.load(f)
    with open(os.path.join(d, "vocab.bpe"), encoding="utf-8") as f:
        merges = [ln for ln in f.read().split("\n") if ln and not ln.startswith("#version")]
    assert merges == [], "the byte-level tokenizer must have no merges"
    assert len(enc) == 256 and sorted(enc.values()) == list(range(256)), "not a 256-id vocab"
    assert "<|endoftext|>" not in enc
    b2u = gpt2_bytes_to_unicode()
    assert set(enc) == set(b2u.values())
    return [enc[b2u[b]] for b in data]


def eval_windows(ids, L, S):
    starts = list(range(0, len(ids) - L, S))
    x = torch.tensor([ids[i:i + L] for i in starts], dtype=torch.long)
    y = torch.tensor([ids[i + 1:i + L + 1] for i in starts], dtype=torch.long)
    return x, y


def eval_loss(cfg, weights, ids, L, S, fused=False, dtype=torch.float32, batch=None):
    """(sum of per-token cross-entropies, number of target tokens) over the sliding
    windows. Logits in `dtype` (eval mode), log-softmax and sums in float64. batch: windows
    per forward pass (None: all at once)."""
    model = GPTModel(cfg, fused=fused).to(dtype)
    load_hf(model, weights)
    model.eval()
    x, y = eval_windows(ids, L, S)
    total, count = 0.0, 0
    bs = batch or max(1, x.shape[0])
    with torch.no_grad():
        for j in range(0, x.shape[0], bs):
            logits = model(x[j:j + bs])
            lp = torch.log_softmax(logits.to(torch.float64), dim=-1)
            nll = -lp.gather(-1, y[j:j + bs].unsqueeze(-1)).squeeze(-1)
            total += float(nll.sum())
            count += int(nll.numel())
    return total, count


def eval_loss_numpy(cfg, weights, ids, L, S):
    """The same loss from the float64 numpy forward on the HF-layout tensors."""
    x, y = eval_windows(ids, L, S)
    logits = numpy_forward_hf(weights, cfg, x.numpy())
    m = logits.max(-1, keepdims=True)
    lse = (m + np.log(np.exp(logits - m).sum(-1, keepdims=True)))[..., 0]
    tgt = np.take_along_axis(logits, y.numpy()[..., None], -1)[..., 0]
    return float((lse - tgt).sum()), int(y.numel())


def compute_eval(model_dir, ids):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = cfg_from_hf_config(json.load(f))
    w, _ = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    rows, measured = [], {}
    for L, S in EVAL_WINDOWS:
        total, count = eval_loss(cfg, w, ids, L, S)
        loss = total / count
        nw = len(range(0, len(ids) - L, S))
        assert count == nw * L
        rows.append({"seq": L, "stride": S, "windows": nw, "tokens": count,
                     "loss": loss, "perplexity": math.exp(loss)})
        alt = {
            "float64_model": eval_loss(cfg, w, ids, L, S, dtype=torch.float64),
            "numpy_float64_hf_layout": eval_loss_numpy(cfg, w, ids, L, S),
            "fused_float32": eval_loss(cfg, w, ids, L, S, fused=True),
            "batch1_float32": eval_loss(cfg, w, ids, L, S, batch=1),
            "batch3_float32": eval_loss(cfg, w, ids, L, S, batch=3),
        }
        measured[f"{L}/{S}"] = {k: abs(t / c - loss) for k, (t, c) in alt.items()}
    return cfg, rows, measured


def eval_fixture(outdir):
    """Write <outdir>/eval/ for the model in <outdir>/tiny_qkvbias."""
    d = os.path.join(outdir, "eval")
    tdir = os.path.join(d, "bytes_tokenizer")
    os.makedirs(d, exist_ok=True)
    data = EVAL_TEXT.encode("ascii")
    with open(os.path.join(d, "text.txt"), "wb") as f:
        f.write(data)
    write_bytes_tokenizer(tdir)
    ids = byte_level_ids(data)
    assert encode_with_tokenizer_dir(tdir, data) == ids
    cfg, rows, measured = compute_eval(os.path.join(outdir, EVAL_MODEL), ids)
    worst = max(v for m in measured.values() for v in m.values())
    assert worst <= EVAL_LOSS_TOL / 10, f"alternative computations differ by {worst}"
    info = {
        "generator": "/usr/bin/python3 tools/torch_reference.py --eval-fixture "
                     "--out tests/fixtures/torch",
        "model": "../" + EVAL_MODEL,
        "text": "text.txt",
        "text_bytes": len(data),
        "tokenizer": "bytes_tokenizer",
        "tokenizer_rule": "byte-level: 256 single-byte tokens, no merges, no <|endoftext|>; "
                          "the id of byte b is its index in GPT-2's bytes_to_unicode order "
                          "('!'..'~', 0xA1..0xAC, 0xAE..0xFF get 0..187, the other 68 "
                          "bytes in increasing order 188..255)",
        "n_ids": len(ids),
        "ids": ids,
        "loss_rule": "for each (seq L, stride S): windows inputs = ids[i:i+L], targets = "
                     "ids[i+1:i+L+1] for i in range(0, len(ids) - L, S); float32 logits "
                     "(book model, eval mode, all windows in one batch), log_softmax and sums "
                     "in float64; loss = sum of per-token cross-entropies / tokens; "
                     "perplexity = exp(loss); tokens = windows * L",
        "windows": rows,
        "tolerances": {"loss_max_abs": EVAL_LOSS_TOL, "tokens": "exact"},
        "measured_abs_loss_diff": measured,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
    }
    js = json.dumps(dict(info, ids="@IDS@"), indent=1)  # the ids on one line
    with open(os.path.join(d, "eval.json"), "w") as f:
        f.write(js.replace('"@IDS@"', json.dumps(ids)) + "\n")
    return info


def verify_eval(outdir):
    """Re-read <outdir>/eval/, re-encode the text with its tokenizer files and recompute
    every loss from <outdir>/tiny_qkvbias with the book model."""
    d = os.path.join(outdir, "eval")
    with open(os.path.join(d, "eval.json")) as f:
        info = json.load(f)
    with open(os.path.join(d, info["text"]), "rb") as f:
        data = f.read()
    ids = encode_with_tokenizer_dir(os.path.join(d, info["tokenizer"]), data)
    ok = ids == info["ids"] == byte_level_ids(data) and len(ids) == info["n_ids"]
    print(f"verify eval: {len(data)} bytes, ids {'OK' if ok else 'DIFFER'}")
    _, rows, _ = compute_eval(os.path.join(d, info["model"]), ids)
    for want, got in zip(info["windows"], rows):
        e = abs(want["loss"] - got["loss"])
        good = e <= info["tolerances"]["loss_max_abs"] and want["tokens"] == got["tokens"]
        ok &= good
        print(f"verify eval L={want['seq']} S={want['stride']}: tokens {got['tokens']} "
              f"loss {got['loss']:.9f} (stored {want['loss']:.9f}, diff {e:.1e}) "
              + ("-> OK" if good else "-> FAIL"))
    return ok and len(rows) == len(info["windows"])


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/fixtures/torch",
                    help="output folder for the fixtures")
    ap.add_argument("--verify", metavar="DIR",
                    help="only verify existing fixtures in DIR")
    ap.add_argument("--variant", choices=["book", "fused"], default="book",
                    help="model variant used to compute the references (default book)")
    ap.add_argument("--fused", action="store_true", help="same as --variant fused")
    ap.add_argument("--eval-fixture", action="store_true",
                    help="only write (then verify) the evaluation fixture OUT/eval/ for the "
                         "model in OUT/tiny_qkvbias")
    ap.add_argument("--verify-eval", metavar="DIR",
                    help="only verify the evaluation fixture DIR/eval/")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    if args.verify_eval:
        sys.exit(0 if verify_eval(args.verify_eval) else 1)
    if args.eval_fixture:
        info = eval_fixture(args.out)
        for r in info["windows"]:
            print(f"eval L={r['seq']} S={r['stride']}: {r['windows']} windows, "
                  f"{r['tokens']} tokens, loss {r['loss']:.9f}, perplexity {r['perplexity']:.6f}")
        print("  |loss diff| of other computations:", json.dumps(info["measured_abs_loss_diff"]))
        if not verify_eval(args.out):
            sys.exit("verification FAILED")
        return
    if args.verify:
        sys.exit(0 if verify(args.verify) else 1)
    variant = "fused" if args.fused else args.variant

    cfg_a = dict(TINY_FIXTURE_CFG, qkv_bias=True, tie_word_embeddings=False)
    cfg_b = dict(TINY_FIXTURE_CFG, qkv_bias=False, tie_word_embeddings=True)
    for name, cfg, seed in (("tiny_qkvbias", cfg_a, 1234), ("tiny_noqkvbias_tied", cfg_b, 5678)):
        info = fixture(args.out, name, cfg, seed, variant)
        print(f"{name}: max|grad| {info['max_abs_grad']:.3g}")
        print("  fp32 vs fp64:", json.dumps(info["measured_float32_vs_float64"]))
        print("  book vs fused:", json.dumps(info["measured_book_vs_fused_float32"]))
    if not verify(args.out):
        sys.exit("verification FAILED")


if __name__ == "__main__":
    main()
