#!/usr/bin/env bash
# build_and_run.sh — build the safetensors libFuzzer harness with clang++-14 (ASan + UBSan) and
# run it over tests/fuzz/corpus_safetensors.
#
#   tests/fuzz/build_and_run.sh [SECONDS] [extra libFuzzer args...]   fuzz for SECONDS (default 120)
#   tests/fuzz/build_and_run.sh --coverage                            line coverage of safetensors.cpp
#                                                                     over the corpus (llvm-cov-14)
#
# The binary goes to build-fuzz/fuzz_safetensors. New interesting inputs go to build-fuzz/corpus
# (a scratch corpus, so the committed seed corpus stays small); crashes go to build-fuzz/crashes/.
# Environment: CXX (default clang++-14), JOBS (parallel fuzzing jobs, default 1).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cxx="${CXX:-clang++-14}"
jobs="${JOBS:-1}"
out="$root/build-fuzz"
mkdir -p "$out/corpus" "$out/crashes"

srcs=(
  "$here/fuzz_safetensors.cpp"
  "$root/src/scratchlm/io/safetensors.cpp"
  "$root/src/scratchlm/tensor/tensor.cpp"
  "$root/src/scratchlm/util/file.cpp"
)
deps=("${srcs[@]}" "$root/src/scratchlm/io/safetensors.h" "$root/src/scratchlm/util/error.h" "$0")

# build BIN FLAGS...: (re)build BIN when a source is newer than it.
build() {
  local bin="$1"
  shift
  local stale=0
  [[ -x "$bin" ]] || stale=1
  for f in "${deps[@]}"; do [[ "$f" -nt "$bin" ]] && stale=1; done
  if [[ $stale == 1 ]]; then
    echo "building $bin" >&2
    "$cxx" -std=c++20 -g -fno-omit-frame-pointer "$@" -I "$root/src" "${srcs[@]}" -lfmt -o "$bin"
  fi
}

if [[ "${1:-}" == "--coverage" ]]; then
  bin="$out/fuzz_safetensors_cov"
  build "$bin" -O0 -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping
  rm -f "$out"/cov-*.profraw
  LLVM_PROFILE_FILE="$out/cov-%p.profraw" "$bin" -runs=0 "$out/corpus" "$here/corpus_safetensors" >/dev/null 2>&1
  llvm-profdata-14 merge -sparse "$out"/cov-*.profraw -o "$out/cov.profdata"
  llvm-cov-14 report "$bin" -instr-profile="$out/cov.profdata" "$root/src/scratchlm/io/safetensors.cpp"
  echo "uncovered lines: llvm-cov-14 show $bin -instr-profile=$out/cov.profdata $root/src/scratchlm/io/safetensors.cpp | grep -E '^ +[0-9]+\\| +0\\|'"
  exit 0
fi

secs="${1:-120}"
shift || true
bin="$out/fuzz_safetensors"
build "$bin" -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
args=(-max_total_time="$secs" -max_len=4096 -dict="$here/safetensors.dict" -timeout=10 -rss_limit_mb=2048
      -artifact_prefix="$out/crashes/" -print_final_stats=1)
if [[ "$jobs" -gt 1 ]]; then args+=(-jobs="$jobs" -workers="$jobs"); fi
# libFuzzer reads every corpus directory given but writes new inputs only to the first.
exec "$bin" "${args[@]}" "$@" "$out/corpus" "$here/corpus_safetensors"
