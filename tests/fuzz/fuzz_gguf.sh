#!/usr/bin/env bash
# fuzz_gguf.sh — build the GGUF libFuzzer harness with clang++-14 (ASan + UBSan) and fuzz for SECONDS
# (default 120) from a seed written by `slm export` of a tiny model (built in build-fuzz/ on first use;
# needs build/slm). Crashes go to build-fuzz/crashes-gguf/.
#   tests/fuzz/fuzz_gguf.sh [SECONDS] [extra libFuzzer args...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/build-fuzz"
mkdir -p "$out/corpus-gguf" "$out/crashes-gguf"
bin="$out/fuzz_gguf"
srcs=("$here/fuzz_gguf.cpp" "$root/src/scratchlm/io/gguf_reader.cpp" "$root/src/scratchlm/io/gguf_access.cpp"
      "$root/src/scratchlm/tensor/q8_0.cpp"
      "$root/src/scratchlm/tokenizer/printable.cpp" "$root/src/scratchlm/tokenizer/utf8.cpp")
stale=0
[[ -x "$bin" ]] || stale=1
for f in "${srcs[@]}" "$root/src/scratchlm/io/gguf.h" "$0"; do [[ "$f" -nt "$bin" ]] && stale=1; done
if [[ $stale == 1 ]]; then
  echo "building $bin" >&2
  clang++-14 -std=c++20 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -I "$root/src" "${srcs[@]}" $(pkg-config --cflags --libs libutf8proc) -lfmt -o "$bin"
fi
if [[ ! -f "$out/corpus-gguf/seed.gguf" ]]; then  # a 2-layer, 8-wide model with a 300-token vocabulary
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  printf 'the cat sat on the mat. the dog sat on the log.\n%.0s' {1..20} > "$tmp/t.txt"
  "$root/build/slm" train-tokenizer --input "$tmp/t.txt" --vocab-size 300 --out "$tmp/tok" >/dev/null
  "$root/build/slm" pretrain --config gpt2-tiny --emb-dim 8 --n-heads 2 --n-layers 1 --context-length 8 \
    --vocab-size 300 --tokenizer "$tmp/tok" --data "$tmp/t.txt" --steps 1 --quiet --out "$tmp/m" >/dev/null
  "$root/build/slm" export --model "$tmp/m" --type q8_0 --out "$out/corpus-gguf/seed.gguf" 2>/dev/null
fi
secs="${1:-120}"
shift || true
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$out/crashes-gguf/" \
  -print_final_stats=1 "$@" "$out/corpus-gguf"
