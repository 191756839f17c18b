// bench_tokenize_corpus.cpp — corpus tokenization as `slm pretrain --data` does it (the token cache
// path: chunked reading, streamed encoding, the shard written as ids come), timing and peak memory.
//
//   build/bench/bench_tokenize_corpus [--threads N] [--tokenizer DIR] [--cache DIR] FILE...
//
// Every file is one document. The cache directory (default: a fresh one under /tmp, removed
// afterwards) starts empty, so this is always a miss: hashing, encoding and writing the shard.
// Prints one JSON line: bytes, tokens, seconds, MB/s and the process' peak RSS (VmHWM).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "scratchlm/data/shards.h"
#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/paths.h"

namespace {

double peak_rss_mb() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  std::string tok_dir = slm::default_tokenizer_dir(), cache;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc)
      threads = std::stoi(argv[++i]);
    else if (a == "--tokenizer" && i + 1 < argc)
      tok_dir = argv[++i];
    else if (a == "--cache" && i + 1 < argc)
      cache = argv[++i];
    else
      files.push_back(a);
  }
  const bool own_cache = cache.empty();
  if (own_cache)
    cache = (std::filesystem::temp_directory_path() / ("slm-bench-cache-" + std::to_string(::getpid()))).string();
  try {
    slm::Tokenizer tok = slm::Tokenizer::load_dir(tok_dir);
    uint64_t bytes = 0;
    for (const auto& f : files) bytes += std::filesystem::file_size(f);
    const double rss_before = peak_rss_mb();
    auto t0 = std::chrono::steady_clock::now();
    bool hit = false;
    slm::TokenArray ids =
        slm::tokenize_documents_cached(files, tok, slm::tokenizer_dir_id(tok_dir), cache, false, threads, &hit);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf(
        "{\"bench\": \"tokenize_corpus\", \"files\": %zu, \"threads\": %d, \"bytes\": %llu, \"tokens\": %zu, "
        "\"seconds\": %.3f, \"mb_per_s\": %.2f, \"peak_rss_mb\": %.1f, \"rss_before_mb\": %.1f, \"cache_hit\": %s}\n",
        files.size(), threads, static_cast<unsigned long long>(bytes), ids.size(), s, bytes / 1e6 / s, peak_rss_mb(),
        rss_before, hit ? "true" : "false");
  } catch (const slm::Error& e) {
    std::fprintf(stderr, "bench_tokenize_corpus: error: %s\n", e.what());
    if (own_cache) std::filesystem::remove_all(cache);
    return 2;
  }
  if (own_cache) std::filesystem::remove_all(cache);
  return 0;
}
