#!/usr/bin/env python3
"""tools/gguf_q8_0_report.py — how far llama.cpp's Q8_0 inference of an exported model follows
ScratchLM's fp32 (the measurement in docs/experiments.md; tests/test_gguf_llama.cpp does the same on
a tiny model).

    tools/gguf_q8_0_report.py MODEL_DIR "PROMPT" [N=200] [SLM=build/slm]

Exports MODEL_DIR as F32 and Q8_0 GGUF files, lets llama.cpp (node-llama-cpp, tools/gguf_check.mjs)
continue PROMPT greedily for N tokens from each, and prints: the first position where llama.cpp's
F32 and Q8_0 continuations leave `slm generate --temperature 0`'s, and the teacher-forced top-1
agreement: at each of the N positions of llama.cpp's Q8_0 continuation, whether ScratchLM's fp32
argmax (slm logits --all) is the token llama.cpp chose.
"""
import json
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
model, prompt = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 200
slm = sys.argv[4] if len(sys.argv) > 4 else os.path.join(here, "..", "build", "slm")


def run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


with tempfile.TemporaryDirectory() as tmp:
    ids = json.loads(run(slm, "tokenize", "--json", "--tokenizer", model, prompt))
    ctx = json.loads(run(slm, "info", "--json", "--model", model))["config"]["n_positions"]
    if len(ids) + n > ctx:
        sys.exit(f"the prompt ({len(ids)} tokens) and {n} new tokens exceed the context length {ctx}")
    ours = json.loads(run(slm, "generate", "--model", model, "--prompt", prompt, "--temperature", "0",
                          "--no-stop-at-eos", "--json", "--max-new-tokens", str(n)))["ids"]
    with open(os.path.join(tmp, "req.json"), "w") as f:
        json.dump({"prompt": ids, "n": n, "threads": 1}, f)
    cont = {}
    for t in ("f32", "q8_0"):
        path = os.path.join(tmp, t + ".gguf")
        run(slm, "export", "--model", model, "--type", t, "--out", path)
        out = json.loads(run("node", os.path.join(here, "gguf_check.mjs"), path, os.path.join(tmp, "req.json")))
        cont[t] = out["continuation"]

    def first_divergence(a, b):
        return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))

    seq = ids + cont["q8_0"]
    rows = run(slm, "logits", "--all", "--model", model, "--tokens", " ".join(map(str, seq))).splitlines()
    agree = 0
    for pos in range(len(ids) - 1, len(seq) - 1):
        row = [float(v) for v in rows[pos].split()]
        agree += max(range(len(row)), key=row.__getitem__) == seq[pos + 1]
    print(f"{model}: {len(ids)} prompt tokens, {n} generated")
    print(f"  llama.cpp f32  vs slm fp32: first divergence at {first_divergence(cont['f32'], ours)}")
    print(f"  llama.cpp q8_0 vs slm fp32: first divergence at {first_divergence(cont['q8_0'], ours)}")
    print(f"  top-1 agreement (slm fp32 argmax vs llama.cpp q8_0's token): {agree}/{n}")
