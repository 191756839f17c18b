#!/usr/bin/env bash
# bench/serve_bench.sh — `slm serve` under load (not a test): for each model directory and each
# --parallel in 1 4 8, start the server on a free loopback port and run bench/serve_load.mjs
# (32 concurrent clients x 10 streamed requests, max_tokens 64, greedy): aggregate generated tokens/s,
# p50/p99 time to first token and latency. Prints a Markdown table.
#   bench/serve_bench.sh MODEL_DIR [MODEL_DIR ...]
# Environment: SLM (default build/slm), CLIENTS (32), REQUESTS (10 per client), MAX_TOKENS (64),
# PARALLEL ("1 4 8"), THREADS (--threads; default all cores).
# The figures depend on the machine being quiet: run it on an otherwise idle machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SLM="${SLM:-$ROOT/build/slm}"
CLIENTS="${CLIENTS:-32}" REQUESTS="${REQUESTS:-10}" MAX_TOKENS="${MAX_TOKENS:-64}" PARALLEL="${PARALLEL:-1 4 8}"
[ $# -ge 1 ] || { echo "usage: bench/serve_bench.sh MODEL_DIR [MODEL_DIR ...]" >&2; exit 2; }
log=$(mktemp); trap 'rm -f "$log"' EXIT
echo "| model | --parallel | requests | tokens/s | TTFT p50 / p99 ms | latency p50 / p99 ms |"
echo "|---|---|---|---|---|---|"
for model in "$@"; do
  for p in $PARALLEL; do
    args=(serve --model "$model" --port 0 --parallel "$p" --max-queue 1024 --quiet)
    [ -n "${THREADS:-}" ] && args+=(--threads "$THREADS")
    "$SLM" "${args[@]}" 2>"$log" &
    pid=$!
    port=""
    for _ in $(seq 600); do
      port=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -n1 | sed 's/.*://') || true
      [ -n "$port" ] && break
      sleep 0.1
    done
    [ -n "$port" ] || { cat "$log" >&2; kill "$pid"; exit 1; }
    out=$(node "$ROOT/bench/serve_load.mjs" "http://127.0.0.1:$port" "$CLIENTS" "$REQUESTS" "$MAX_TOKENS")
    kill -TERM "$pid"; wait "$pid" || true
    node -e '
      const r = JSON.parse(process.argv[1]);
      console.log(`| ${process.argv[2]} | ${process.argv[3]} | ${r.requests} | ${r.tokens_per_s} | ${r.ttft_p50_ms} / ${r.ttft_p99_ms} | ${r.latency_p50_ms} / ${r.latency_p99_ms} |`);
    ' "$out" "$(basename "$model")" "$p"
  done
done
