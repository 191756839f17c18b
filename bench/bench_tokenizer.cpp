// bench_tokenizer.cpp — encoding throughput of ScratchLM's GPT-2 tokenizer on whole files.
//
//   build/bench/bench_tokenizer [--threads N] [--repeat R] [--tokenizer DIR] FILE...
//
// Each file is one document, encoded like tiktoken's encode_ordinary. One warm-up pass, then R
// timed passes (default 3); prints one JSON line with the median, MB/s and the FNV-1a hash of
// all ids (same definition as bench/tiktoken_bench.js, so the two can be compared).
// Every pass starts with empty piece caches (reset_caches), so no pass profits from an earlier one.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "scratchlm/tokenizer/bpe.h"
#include "scratchlm/util/error.h"
#include "scratchlm/util/file.h"
#include "scratchlm/util/paths.h"

int main(int argc, char** argv) {
  int threads = 1, repeat = 3;
  std::string tok_dir = slm::default_tokenizer_dir();
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc)
      threads = std::stoi(argv[++i]);
    else if (a == "--repeat" && i + 1 < argc)
      repeat = std::stoi(argv[++i]);
    else if (a == "--tokenizer" && i + 1 < argc)
      tok_dir = argv[++i];
    else
      files.push_back(a);
  }
  try {
    slm::Tokenizer tok = slm::Tokenizer::load_dir(tok_dir);
    std::vector<std::string> docs;
    size_t bytes = 0;
    for (const auto& f : files) {
      docs.push_back(slm::read_file(f));
      bytes += docs.back().size();
    }
    std::vector<double> times;
    uint64_t hash = 0;
    size_t tokens = 0;
    for (int r = 0; r <= repeat; ++r) {
      tok.reset_caches();
      auto t0 = std::chrono::steady_clock::now();
      hash = 0xcbf29ce484222325ULL;
      tokens = 0;
      for (const auto& d : docs) {
        auto ids = threads > 1 ? tok.encode_parallel(d, slm::SpecialMode::Text, threads) : tok.encode_ordinary(d);
        tokens += ids.size();
        for (uint32_t id : ids)
          for (int k = 0; k < 4; ++k) hash = (hash ^ ((id >> (8 * k)) & 0xFF)) * 0x100000001b3ULL;
      }
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (r > 0) times.push_back(s);
    }
    std::sort(times.begin(), times.end());
    double med = times[times.size() / 2];
    std::printf(
        "{\"encoder\": \"scratchlm\", \"threads\": %d, \"bytes\": %zu, \"tokens\": %zu, \"seconds\": %.4f, "
        "\"mb_per_s\": %.2f, \"ids_fnv1a64\": \"%016llx\"}\n",
        threads, bytes, tokens, med, bytes / 1e6 / med, static_cast<unsigned long long>(hash));
  } catch (const slm::Error& e) {
    std::fprintf(stderr, "bench_tokenizer: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
